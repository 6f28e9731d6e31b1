"""Wang, Min & Ruan (2024): co-correlation between layers, Dirichlet energy and robustness.

The front that this paper's notebooks import, e.g.::

    from cocorr_core.papers import cocorrelation as cc
    prof = cc.get_profile(PROFILE)
    df = cc.load_figure("fig3", prof.name)
    cc.plot_figure("fig3", df, prof.name)
    cc.verdicts(page="fig3_init_width", profile=prof.name)

Modules: `settings` (sizes per profile), `theory` (definitions, Theorems 4.1/4.5, Lemma B.2,
Properties 1–2), `dynamics` (Theorems 5.3/5.5), `experiments` (the figures' runs), `tables`
(views of their tidy tables), `plots` (one function per figure) and the claims of the ledger.
"""
from __future__ import annotations

from typing import Any

from ...data import load_mnist, load_mnist_binary, to_code_inputs
from ...ground.devices import device_name, resolve_device
from ...linalg.stats import loglog_fit, spearman
from ...measures import authors_power_iteration, summarize, two_layer_norms
from ...models import TwoLayerEnsemble
from ...runs.config import RunConfig
from ...runs.ledger import VERDICTS, Claim, Verdicts, check_unique, find_claim, page_verdicts
from ...runs.store import ResultStore
from ...runs.sweep import SweepSummary, run_sweep
from ...training import train_ensemble
from . import claims_dynamics, claims_figures, claims_theory, dynamics, experiments, plots, tables, theory
from .experiments import (
    AUTOATTACK_SUITE,
    FIG1_Q,
    FIGURES,
    THEORY_LR,
    beyond_seed_grid,
    estimator_table,
    figure_configs,
    group_key,
    load_figure,
    resnet_data_name,
    run_group,
    theory_grid,
)
from .plots import plot_figure
from .settings import (
    BIBKEY,
    D_MNIST,
    LEMMA_DELTA,
    PAPER,
    RISE_WINDOW,
    THEORY_STEP_SIZES,
    Profile,
    describe,
    get_profile,
    result_store,
    store_table,
)
from .tables import accumulated_change, accuracy_reached, final, mean_over_seeds, select

CLAIMS: list[Claim] = check_unique(claims_theory.CLAIMS + claims_dynamics.CLAIMS + claims_figures.CLAIMS)


def claim(claim_id: str) -> Claim:
    """The claim of this paper with `claim_id`."""
    return find_claim(CLAIMS, claim_id)


def verdicts(page: str | None = None, ids: list[str] | None = None, profile: str | None = None) -> Verdicts:
    """Evaluate this paper's claims shown on `page` (or those in `ids`, or all) at the profile;
    the result displays as verdict cards in a notebook."""
    return page_verdicts(CLAIMS, page, ids, profile)


def sweep(configs: list[RunConfig], store: Any = None, **options: Any) -> SweepSummary:
    """`runs.sweep.run_sweep` with this paper's runner and grouping, into its store namespace."""
    if not isinstance(store, ResultStore):
        store = result_store(store)
    return run_sweep(configs, runner=run_group, group_key=group_key, store=store, **options)


__all__ = [
    "AUTOATTACK_SUITE", "BIBKEY", "CLAIMS", "D_MNIST", "FIG1_Q", "FIGURES", "LEMMA_DELTA", "PAPER",
    "RISE_WINDOW", "THEORY_LR", "THEORY_STEP_SIZES", "VERDICTS", "Profile", "describe",
    "TwoLayerEnsemble", "accumulated_change", "accuracy_reached", "authors_power_iteration",
    "beyond_seed_grid", "claim",
    "device_name", "dynamics", "estimator_table", "experiments", "figure_configs", "final", "get_profile",
    "load_figure", "loglog_fit", "load_mnist", "load_mnist_binary", "mean_over_seeds", "plot_figure", "plots",
    "resnet_data_name", "resolve_device", "result_store", "select", "spearman", "store_table", "summarize",
    "sweep",
    "tables", "theory", "theory_grid", "to_code_inputs", "train_ensemble", "two_layer_norms", "verdicts",
]
