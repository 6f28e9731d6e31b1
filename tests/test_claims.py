"""The ledger's machinery: registration, kinds, wrapping and cards. The figure criteria
themselves are tested on synthetic grids in tests/test_figure_claims.py."""
from __future__ import annotations

import pytest
from figure_tables import grid_table, paper_like, robust_finals

from cocorr_core import catalog
from cocorr_core.papers.cocorrelation import claims_figures as cf
from cocorr_core.runs.ledger import evaluate


def test_claims_are_registered_with_pages_and_pure_checks():
    ids = {c.id for c in catalog.all_claims()}
    for c in cf.CLAIMS:
        assert c.id in ids and c.paper == "wang2024implicit"
        assert c.page in {"fig1_robustness_energy", "fig2_resnets", "fig3_init_width", "fig4_heatmaps",
                          "fig5_decomposition", "fig6_accumulation", "beyond_paper"}
        assert c.check.pure is cf.PURE_CHECKS[c.id]
    assert "wang24.fig3.negative_q_flat" in ids


def test_wrapped_check_uses_the_figure_table(monkeypatch):
    from cocorr_core.papers.cocorrelation import experiments

    df = grid_table(paper_like, finals=robust_finals)
    seen = []
    monkeypatch.setattr(experiments, "load_figure", lambda fig, prof: seen.append((fig, prof)) or df)
    entry = evaluate(catalog.PAPERS["cocorrelation"].claim("wang24.fig3.negative_q_flat"), "quick")
    assert entry["verdict"] == "reproduced" and entry["profile"] == "quick"
    assert seen == [("fig3", "quick")]


def test_checks_are_counted_apart_from_claims():
    from cocorr_core.runs.ledger import count_line, headline, render_verdicts, tally

    entries = [
        {"id": "a", "kind": "claim", "verdict": "reproduced"},
        {"id": "b", "kind": "claim", "verdict": "not reproduced"},
        {"id": "c", "kind": "check", "verdict": "reproduced"},
    ]
    counts = tally(entries)
    assert counts["claim"]["reproduced"] == 1 and counts["claim"]["not reproduced"] == 1
    assert counts["check"]["reproduced"] == 1 and sum(counts["check"].values()) == 1
    assert headline(entries) == "2 claims: 1 reproduced, 1 not reproduced"
    assert count_line(entries, "check") == "1 checks: 1 reproduced"
    card = render_verdicts([dict(entries[2], statement="s", criterion="x < 1", numbers={"x": 0.5},
                                 profile="quick", page="p")])
    assert ">check<" in card and ">reproduced<" in card


def test_a_claim_kind_must_be_known():
    from cocorr_core.runs.ledger import Claim

    with pytest.raises(ValueError, match="kind"):
        Claim(id="x", paper="p", statement="s", check=lambda profile: None, kind="identity")


def test_identities_of_the_cocorrelation_paper_are_checks():
    kinds = {c.id: c.kind for c in catalog.all_claims()}
    assert kinds["wang24.thm45.identity"] == "check"
    assert kinds["wang24.fig3.speed_grows_with_width"] == "claim"
    assert set(kinds.values()) == {"claim", "check"}


def test_cards_flatten_nested_numbers_instead_of_printing_json():
    from cocorr_core.runs.ledger import render_verdicts

    entry = {"id": "x", "kind": "claim", "verdict": "partly", "statement": "s", "criterion": "c",
             "profile": "quick", "page": "p",
             "numbers": {"q+0.25": {"spearman": 0.4, "speed": {"16": -0.012, "64": 0.0025}}, "n": 3}}
    card = render_verdicts([entry])
    assert "q+0.25.speed.64</code>: 0.0025" in card and "q+0.25.spearman</code>: 0.4" in card
    assert "{" not in card.split("<ul>")[1]


def test_deciding_numbers_show_on_the_card_unfolded():
    from cocorr_core.runs.ledger import CheckResult, render_verdicts

    result = CheckResult("reproduced", {"spearman": "0.8 [0.6, 0.9]", "more": {"x": 1}}, "c",
                         deciding=("spearman",), sizes="4 seeds")
    entry = {"id": "x", "kind": "claim", "verdict": result.verdict, "statement": "s", "criterion": "c",
             "profile": "quick", "page": "p", "numbers": result.numbers, "deciding": list(result.deciding),
             "sizes": result.sizes}
    card = render_verdicts([entry])
    before_fold = card.split("<details")[0]
    assert "0.8 [0.6, 0.9]" in before_fold and "4 seeds" in before_fold
    assert "more.x" not in before_fold
    with pytest.raises(ValueError, match="deciding"):
        CheckResult("reproduced", {"a": 1}, "c", deciding=("b",))
