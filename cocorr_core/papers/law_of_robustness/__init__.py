"""Bubeck, Li & Nagaraj (2021) and Bubeck & Sellke (2021): the law of robustness.

The front that this chapter's notebooks import::

    from cocorr_core.papers import law_of_robustness as lor
    prof = lor.get_profile(PROFILE)
    df = lor.sweep_table(prof.name)
    lor.verdicts(page="lor_conjecture", profile=prof.name)

Modules: `settings` (sizes per profile), `experiments` (fitting random labels and measuring the
networks), `theory` (the proved cases), `plots`, `claims` (the ledger).
"""
from __future__ import annotations

from ...lipschitz import lipschitz_bracket, path_norm_bound, spectral_bound
from ...runs.ledger import Claim, Verdicts, check_unique, find_claim, page_verdicts
from . import claims, experiments, plots, theory
from .experiments import fit_to_margin, margin_normalised, sweep_table
from .plots import plot_bracket, plot_cocorrelation, plot_nd, plot_universal, slope_table
from .settings import BIBKEY, BIBKEY_UNIVERSAL, INIT_Q, LR, PAPER, Profile, get_profile, widths
from .theory import nd_table, projection_bound_symbolic, quadratic_table

CLAIMS: list[Claim] = check_unique(claims.CLAIMS)
FIGURES: tuple[str, ...] = ()


def claim(claim_id: str) -> Claim:
    """The claim of this paper with `claim_id`."""
    return find_claim(CLAIMS, claim_id)


def verdicts(page: str | None = None, ids: list[str] | None = None, profile: str | None = None) -> Verdicts:
    """Evaluate this paper's claims shown on `page` (or those in `ids`, or all) at the profile."""
    return page_verdicts(CLAIMS, page, ids, profile)


__all__ = [
    "BIBKEY", "BIBKEY_UNIVERSAL", "CLAIMS", "FIGURES", "INIT_Q", "LR", "PAPER", "Profile", "claim", "claims",
    "experiments", "fit_to_margin", "get_profile", "lipschitz_bracket", "margin_normalised", "nd_table",
    "path_norm_bound", "plot_bracket", "plot_cocorrelation", "plot_nd", "plot_universal", "plots",
    "projection_bound_symbolic", "quadratic_table", "slope_table", "spectral_bound", "sweep_table", "theory",
    "verdicts", "widths",
]
