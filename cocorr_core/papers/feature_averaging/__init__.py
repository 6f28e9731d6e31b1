"""Li, Pan, Lyu & Li (2025): feature averaging, an implicit bias of gradient descent that makes
two-layer ReLU networks non-robust on multi-cluster data.

The front that this chapter's notebooks import::

    from cocorr_core.papers import feature_averaging as fa
    prof = fa.get_profile(PROFILE)
    fa.cosine_table(prof.name)
    fa.verdicts(page="fa_fig2_averaging", profile=prof.name)

Modules: `settings` (sizes per profile), `geometry` (exact results, sympy), `networks` (the
binary and k-class networks, readouts, training, the ResNet-18 ensemble), `experiments` (the runs:
synthetic, ResNet-18 on MNIST parity and CIFAR-10, the peers' set-up), `plots`, `claims`.
"""

from __future__ import annotations

from ...runs.ledger import Claim, Verdicts, check_unique, find_claim, page_verdicts
from . import claims, experiments, geometry, networks, plots
from .claims import averaging_effects, crossing_radius, decoupling_effects, image_decision, image_gaps
from .experiments import (
    DATASET_NAMES,
    accuracy_table,
    cosine_table,
    idealised_fa_curve,
    peer_table,
    resnet_table,
    robustness_table,
    weights_table,
)
from .settings import BIBKEY, LEVEL, PAPER, Profile, get_profile

CLAIMS: list[Claim] = check_unique(claims.CLAIMS)
FIGURES: tuple[str, ...] = ()


def claim(claim_id: str) -> Claim:
    """The claim of this paper with `claim_id`."""
    return find_claim(CLAIMS, claim_id)


def verdicts(page: str | None = None, ids: list[str] | None = None, profile: str | None = None) -> Verdicts:
    """Evaluate this paper's claims shown on `page` (or those in `ids`, or all) at the profile."""
    return page_verdicts(CLAIMS, page, ids, profile)


def sizes_text(profile: str | None = None, what: str = "synthetic") -> str:
    """The sizes of a set-up in one line: "synthetic", or a ResNet-18 run's dataset ("mnist",
    "cifar10", "cifar_stand_in")."""
    return claims._sizes(get_profile(profile), what)


__all__ = [
    "BIBKEY",
    "CLAIMS",
    "DATASET_NAMES",
    "FIGURES",
    "LEVEL",
    "PAPER",
    "Profile",
    "accuracy_table",
    "averaging_effects",
    "claim",
    "claims",
    "cosine_table",
    "crossing_radius",
    "decoupling_effects",
    "experiments",
    "geometry",
    "get_profile",
    "idealised_fa_curve",
    "image_decision",
    "image_gaps",
    "networks",
    "peer_table",
    "plots",
    "resnet_table",
    "robustness_table",
    "sizes_text",
    "verdicts",
    "weights_table",
]
