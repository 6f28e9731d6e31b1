"""Every paper of the book, for the CLI and the reproduction report (the one place that knows them all)."""
from __future__ import annotations

from types import ModuleType

from .ground.errors import ConfigError
from .papers import cocorrelation, feature_averaging, law_of_robustness, ntk
from .runs.ledger import Claim, check_unique, find_claim
from .runs.ledger import ledger as evaluate_all

PAPERS: dict[str, ModuleType] = {cocorrelation.PAPER: cocorrelation, ntk.PAPER: ntk,
                                  feature_averaging.PAPER: feature_averaging,
                                  law_of_robustness.PAPER: law_of_robustness}


def all_claims() -> list[Claim]:
    """Every paper's claims, sorted by id (ids are unique across papers)."""
    return check_unique([c for paper in PAPERS.values() for c in paper.CLAIMS])


def ledger(profile: str | None = None, ids: list[str] | None = None) -> list[dict]:
    """Evaluate every claim of the book (or those in `ids`) at the profile."""
    claims = all_claims()
    if ids is not None:
        claims = [find_claim(claims, i) for i in ids]
    return evaluate_all(claims, profile)


def figure_paper(figure: str) -> ModuleType:
    """The paper that owns a figure name such as 'fig3'."""
    owners = [p for p in PAPERS.values() if figure in p.FIGURES]
    if not owners:
        known = sorted(f for p in PAPERS.values() for f in p.FIGURES)
        raise ConfigError(f"FIGURE={figure!r} is unknown; choose one of {tuple(known)}.")
    return owners[0]
