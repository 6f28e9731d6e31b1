"""Tsilivis & Kempe (2022): what the neural tangent kernel says about adversarial robustness.

The front that this chapter's notebooks import::

    from cocorr_core.papers import ntk
    prof = ntk.get_profile(PROFILE)
    ntk.features_table(prof.name)
    ntk.verdicts(page="ntk_attacks_features", profile=prof.name)

Modules: `settings` (sizes per profile), `theory` (the arc-cosine recursions in sympy and the
checks of the analytic kernel), `experiments` (attacks through the kernel, eigen-features,
gradient-flow trade-off, transfer, kernel dynamics of a small CNN), `plots`, `claims` (the
ledger). The kernels themselves live in the shared `cocorr_core.kernels`.
"""

from __future__ import annotations

from ... import kernels
from ...runs.ledger import Claim, Verdicts, check_unique, find_claim, page_verdicts
from . import claims, experiments, plots, theory
from .claims import flow_identities
from .experiments import (
    REGIMES,
    SmallCNN,
    binary_task,
    dynamics_dataset,
    dynamics_table,
    features_table,
    flow_table,
    kernel_logits,
    sign_attack,
    transfer_table,
)
from .plots import (
    plot_distance_heatmaps,
    plot_dynamics_curves,
    plot_features,
    plot_flow,
    plot_transfer,
    plot_width_check,
)
from .settings import BIBKEY, PAPER, Profile, get_profile
from .theory import (
    arc_cosine_derivation,
    monte_carlo_kappas,
    one_layer_ntk_symbolic,
    symbolic_vs_torch,
    width_table,
)

CLAIMS: list[Claim] = check_unique(claims.CLAIMS)
FIGURES: tuple[str, ...] = ()


def claim(claim_id: str) -> Claim:
    """The claim of this paper with `claim_id`."""
    return find_claim(CLAIMS, claim_id)


def verdicts(page: str | None = None, ids: list[str] | None = None, profile: str | None = None) -> Verdicts:
    """Evaluate this paper's claims shown on `page` (or those in `ids`, or all) at the profile."""
    return page_verdicts(CLAIMS, page, ids, profile)


__all__ = [
    "BIBKEY",
    "CLAIMS",
    "FIGURES",
    "PAPER",
    "REGIMES",
    "Profile",
    "SmallCNN",
    "arc_cosine_derivation",
    "binary_task",
    "claim",
    "claims",
    "dynamics_dataset",
    "dynamics_table",
    "experiments",
    "features_table",
    "flow_identities",
    "flow_table",
    "get_profile",
    "kernel_logits",
    "kernels",
    "monte_carlo_kappas",
    "one_layer_ntk_symbolic",
    "plot_distance_heatmaps",
    "plot_dynamics_curves",
    "plot_features",
    "plot_flow",
    "plot_transfer",
    "plot_width_check",
    "plots",
    "sign_attack",
    "symbolic_vs_torch",
    "theory",
    "transfer_table",
    "verdicts",
    "width_table",
]
