"""The figure claims' checks on synthetic tables whose verdicts are known by construction."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from cocorr_core import catalog
from cocorr_core.papers.cocorrelation import claims_figures as cf
from cocorr_core.runs.ledger import evaluate

ACTS = ("linear", "relu")


def table(curve, widths=(16, 64, 256, 1024), qs=(-0.15, 0.0, 0.25), epochs=8, finals=None, seeds=(0,)):
    """A tidy table like `load_or_run`'s: curve(act, w, q, e) -> ϱ; finals(act, w, q) -> {metric: value}
    recorded at the last epoch (test_accuracy etc.)."""
    rows = []
    for act in ACTS:
        for w in widths:
            for q in qs:
                for s in seeds:
                    run = f"{act}-{w}-{q}-{s}"
                    base = dict(run=run, status="ok", activation=act, width=w, q=q, seed=s, head="code",
                                model="two_layer", cut="")
                    for e in range(epochs + 1):
                        rows.append(dict(base, epoch=e, metric="cocorrelation", value=curve(act, w, q, e)))
                        rows.append(dict(base, epoch=e, metric="norm_correlation", value=0.99))
                        rows.append(dict(base, epoch=e, metric="rel_spread", value=0.1))
                    for metric, value in (finals(act, w, q) if finals else {}).items():
                        rows.append(dict(base, epoch=epochs, metric=metric, value=value))
    return pd.DataFrame(rows)


def paper_like(act, w, q, e):
    """ϱ rises and saturates for w > 32 and q > 0, faster for wider nets, less for ReLU; flat otherwise."""
    if q <= 0 or w <= 32:
        return 0.5
    amp = 0.3 * q / 0.25 * (0.5 if act == "relu" else 1.0) * math.log2(w) / 10
    return 0.5 + amp * (1 - math.exp(-e * math.log2(w) / 6))


def robust_finals(act, w, q):
    energy = 10.0 / w ** 0.5 * (1 + q)
    return {"dirichlet_full": energy, "autoattack_accuracy": 1 / (1 + energy),
            "pgd_accuracy": 1 / (1 + energy) - 0.3 * q, "test_accuracy": 0.9 - 0.1 * q}


def test_spearman_known_values():
    assert cf.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert cf.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(cf.spearman([1, 2, 3], [5, 5, 5]))


def test_paper_like_table_reproduces_every_dynamics_claim():
    df = table(paper_like, finals=robust_finals)
    for check in (cf.check_rise_then_saturate, cf.check_relu_rises_less, cf.check_negative_q_flat,
                  cf.check_speed_grows_with_width, cf.check_energy_vs_robustness, cf.check_wider_more_robust,
                  cf.check_decomposition_factors, cf.check_rho_predicts_robustness):
        res = check(df)
        assert res.verdict == "reproduced", (check.__name__, res)


def test_flat_table_does_not_reproduce_rise_claims():
    df = table(lambda a, w, q, e: 0.5, finals=robust_finals)
    assert cf.check_rise_then_saturate(df).verdict == "partly"  # narrow widths are flat, as claimed
    assert cf.check_negative_q_flat(df).verdict == "reproduced"
    assert cf.check_accumulation_with_width(df).verdict == "not reproduced"
    assert cf.check_accumulation_with_q(df).verdict == "not reproduced"


def test_negative_q_moving_is_detected():
    df = table(lambda a, w, q, e: 0.5 + (0.01 * e if (q < 0 and w == 16) else 0.0))
    res = cf.check_negative_q_flat(df)
    assert res.verdict == "partly"
    assert res.numbers["conditions_held"] == "6/8"


def test_relu_rising_more_is_not_reproduced():
    df = table(lambda a, w, q, e: 0.5 + 0.01 * e * (2 if a == "relu" else 1))
    assert cf.check_relu_rises_less(df).verdict == "not reproduced"


def test_accumulation_grows_with_width_and_q():
    df = table(lambda a, w, q, e: 0.5 + e * 1e-3 * math.log2(w) * (q + 0.1))
    assert cf.check_accumulation_with_width(df).verdict == "partly"  # falls with width at q = -0.15 here
    assert cf.check_accumulation_with_q(df).verdict == "reproduced"


def test_opposite_robustness_relation_is_not_reproduced():
    df = table(paper_like, finals=lambda a, w, q: {"dirichlet_full": 1.0 / w, "autoattack_accuracy": 1.0 / w})
    assert cf.check_energy_vs_robustness(df).verdict == "not reproduced"
    assert cf.check_wider_more_robust(df).verdict == "not reproduced"


def test_missing_cells_give_not_run():
    df = table(paper_like, finals=robust_finals)
    for check in (cf.check_best_cell, cf.check_wide_accuracy_against_rho):
        assert check(df).verdict == "not run"  # no width 8192
    no_attack = table(paper_like)
    assert cf.check_energy_vs_robustness(no_attack).verdict == "not run"
    assert cf.check_resnet_rise(no_attack[no_attack["metric"] == "none"]).verdict == "not run"


def test_best_cell_and_width_accuracy_relations():
    def finals(act, w, q):
        acc = 0.95 if (w, q) == (8192, -0.15) else 0.8 + 0.1 * q * (1 if w == 16 else -1)
        return {"test_accuracy": acc, "pgd_accuracy": acc - 0.3}

    def curve(act, w, q, e):
        return 0.5 + 0.1 * q * e / 8

    df = table(curve, widths=(16, 8192), qs=(-0.15, 0.0, 0.25), finals=finals)
    assert cf.check_best_cell(df).verdict == "reproduced"
    # at width 16 accuracy rises with q (so with ϱ); at 8192 it falls with q, the best cell aside
    assert cf.check_narrow_accuracy_with_rho(df).verdict == "reproduced"
    assert cf.check_wide_accuracy_against_rho(df).verdict == "reproduced"
    worse = df.copy()
    worse.loc[(worse["metric"] == "pgd_accuracy") & (worse["width"] == 16) & (worse["q"] == 0.25),
              "value"] = 0.99
    assert cf.check_best_cell(worse).verdict == "partly"


def test_fig5_thresholds():
    df = table(paper_like)
    assert cf.check_decomposition_factors(df).verdict == "reproduced"
    df.loc[df["metric"] == "rel_spread", "value"] = 0.5
    assert cf.check_decomposition_factors(df).verdict == "partly"
    df.loc[df["metric"] == "norm_correlation", "value"] = 0.5
    assert cf.check_decomposition_factors(df).verdict == "not reproduced"


def test_resnet_rise():
    rows = []
    for model in ("resnet50", "wide_resnet50_2"):
        for cut, gain in (("stem", 0.0), ("pool", 0.2)):
            for e in range(3):
                rows.append(dict(run=f"{model}{cut}", status="ok", model=model, cut=cut, epoch=e * 25,
                                 metric="cocorrelation", value=0.4 + gain * e / 2, dataset="cifar10",
                                 n_train=50_000))
    df = pd.DataFrame(rows)
    res = cf.check_resnet_rise(df)
    assert res.verdict == "partly"
    assert res.numbers["resnet50_pool"]["last"] == pytest.approx(0.6)
    assert cf.check_resnet_rise(df[df["cut"] == "pool"]).verdict == "reproduced"


@pytest.mark.parametrize("change", [{"dataset": "mnist32"}, {"n_train": 256}])
def test_resnet_rise_on_a_stand_in_or_small_run_is_not_run(change):
    rows = [dict(run="r", status="ok", model="resnet50", cut="pool", epoch=e * 25, metric="cocorrelation",
                 value=0.4 + 0.2 * e, dataset="cifar10", n_train=50_000) for e in range(3)]
    df = pd.DataFrame(rows).assign(**change)
    res = cf.check_resnet_rise(df)
    assert res.verdict == "not run" and "illustration" in res.numbers["missing"]
    short = pd.DataFrame(rows).assign(epoch=lambda t: t["epoch"] // 25 * 10)     # 20 epochs, not 25
    assert cf.check_resnet_rise(short).verdict == "not run"


def test_failed_runs_are_ignored():
    df = table(paper_like, finals=robust_finals)
    bad = df["q"] < 0
    df.loc[bad & (df["metric"] == "cocorrelation"), "value"] = df.loc[bad, "epoch"] * 0.1
    assert cf.check_negative_q_flat(df).verdict == "not reproduced"
    df.loc[bad, "status"] = "failed"
    assert cf.check_negative_q_flat(df).verdict == "not run"


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

    df = table(paper_like, finals=robust_finals)
    seen = []
    monkeypatch.setattr(experiments, "load_figure", lambda fig, prof: seen.append((fig, prof)) or df)
    entry = evaluate(catalog.PAPERS["cocorrelation"].claim("wang24.fig3.negative_q_flat"), "quick")
    assert entry["verdict"] == "reproduced" and entry["profile"] == "quick"
    assert seen == [("fig3", "quick")]


def test_checks_are_counted_apart_from_claims():
    from cocorr_core.runs.ledger import headline, render_verdicts, tally

    entries = [
        {"id": "a", "kind": "claim", "verdict": "reproduced"},
        {"id": "b", "kind": "claim", "verdict": "not reproduced"},
        {"id": "c", "kind": "check", "verdict": "reproduced"},
    ]
    counts = tally(entries)
    assert counts["claim"]["reproduced"] == 1 and counts["claim"]["not reproduced"] == 1
    assert counts["check"]["reproduced"] == 1 and sum(counts["check"].values()) == 1
    assert headline(entries) == "2 claims: 1 reproduced, 1 not reproduced | 1 checks: 1 reproduced"
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
