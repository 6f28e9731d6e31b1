"""Ledger entries of the NTK chapter (Tsilivis & Kempe 2022).

Each claim has a pure check `check_*(table) -> CheckResult` on a tidy table, tested on
synthetic tables (null tables included), and is evaluated on the stored (or freshly computed)
table of its profile. Claims are judged by seed-bootstrap 95% intervals over independent seeds
(disjoint training subsets), with a minimum effect size where the power test asks for one.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from ...kernels import eigen_feature_coefficients, flow_coefficients, kernel_regression_coefficients, relu_ntk
from ...linalg.stats import interval_above, interval_below, interval_text, rank_correlation, seed_bootstrap
from ...runs.ledger import CheckResult, Claim, verdict_from
from . import experiments, theory
from .settings import BIBKEY, get_profile

CLEAN_MIN = 0.8  # "accurate": clean accuracy interval above this
NONROBUST_DROP = 0.3  # "non-robust": clean − PGD accuracy interval above this
TRANSFER_DROP = 0.2  # transfer succeeds: clean − transferred accuracy interval above this
LAZY_MAX_DISTANCE = 0.2  # the widest networks are lazy: ‖f_net − f_t‖/‖f_t‖ below this
RANK_EFFECT = -0.3  # robustness falls with the eigen-index: mean Spearman interval below this
NONROBUST_ACC = 0.05  # a feature is non-robust when its FGSM accuracy is at most this
USEFUL_MARGIN = 0.02  # non-robust features useful: clean − majority interval above this
EARLY_GAP = 0.05  # early stopping more robust: PGD(t_e) − PGD(∞) interval above this
EARLY_CLEAN_SLACK = 0.05  # t_e: first time with clean accuracy ≥ final − this
IDENTITY_TOL = 1e-8
MC_SE = 4.5  # Monte Carlo agreement in standard errors


def _seeds_text(df: pd.DataFrame) -> str:
    return f"{df['seed'].nunique()} seeds"


def not_run(criterion: str, why: str, **numbers) -> CheckResult:
    """CheckResult "not run" with the reason under numbers["missing"]."""
    return CheckResult("not run", {"missing": why, **numbers}, criterion)


def mean_interval(values: np.ndarray) -> dict:
    """Seed-bootstrap 95% interval of the mean of one value per seed."""
    return seed_bootstrap(values, lambda v: v.mean(axis=-1))


def rank_trend_interval(values: np.ndarray, x: np.ndarray) -> dict:
    """Seed-bootstrap interval of the mean over seeds of Spearman(x, values[s]): values (seeds, cells)."""
    return seed_bootstrap(values, lambda v: rank_correlation(np.broadcast_to(x, v.shape), v).mean(-1))


# ---------------------------------------------------------------- §3: the kernel predictor is not robust
def check_kernel_nonrobust(flow: pd.DataFrame) -> CheckResult:
    """The NTK regressor (t = ∞) is accurate yet loses most accuracy to PGD aimed through Θ."""
    crit = (
        f"at t = ∞: clean accuracy interval above {CLEAN_MIN} and (clean − PGD accuracy) interval "
        f"above {NONROBUST_DROP} (seed bootstrap, 95%)"
    )
    final = flow[np.isinf(flow["time_lmax"])].sort_values("seed")
    if final["seed"].nunique() < 2:
        return not_run(crit, "fewer than two seeds at t = ∞")
    clean = mean_interval(final["clean_acc_attacked_set"].to_numpy())
    drop = mean_interval((final["clean_acc_attacked_set"] - final["pgd_acc"]).to_numpy())
    numbers = {
        "clean_acc": interval_text(clean),
        "pgd_drop": interval_text(drop),
        "pgd_acc_mean": float(final["pgd_acc"].mean()),
        "fgsm_acc_mean": float(final["fgsm_acc"].mean()),
    }
    cond = {"accurate": interval_above(clean, CLEAN_MIN), "non-robust": interval_above(drop, NONROBUST_DROP)}
    return CheckResult(
        verdict_from(cond), numbers, crit, deciding=("clean_acc", "pgd_drop"), sizes=_seeds_text(final)
    )


# ---------------------------------------------------------------- §3: transfer to finite networks
def check_transfer(transfer: pd.DataFrame) -> CheckResult:
    """PGD examples of the kernel counterpart f_t fool the widest (lazy) finite networks."""
    crit = (
        f"widest networks: (clean − accuracy on NTK-made PGD examples) interval above {TRANSFER_DROP}; "
        f"judged only when they are lazy (‖f_net − f_t‖/‖f_t‖ < {LAZY_MAX_DISTANCE}); the width trend "
        "(Spearman of width and transfer drop) is reported"
    )
    if transfer["seed"].nunique() < 2:
        return not_run(crit, "fewer than two seeds")
    widest = transfer[transfer["width"] == transfer["width"].max()].sort_values("seed")
    drop = mean_interval((widest["net_clean_acc_attacked_set"] - widest["net_on_ntk_adv_acc"]).to_numpy())
    white = mean_interval((widest["net_clean_acc_attacked_set"] - widest["net_whitebox_acc"]).to_numpy())
    distance = float(widest["rel_distance"].mean())
    grid = transfer.pivot_table(index="seed", columns="width", values="net_on_ntk_adv_acc")
    clean = transfer.pivot_table(index="seed", columns="width", values="net_clean_acc_attacked_set")
    widths = grid.columns.to_numpy(float)
    trend = rank_trend_interval((clean - grid).to_numpy(), widths)
    numbers = {
        "width": int(widest["width"].iloc[0]),
        "transfer_drop": interval_text(drop),
        "whitebox_drop": interval_text(white),
        "rel_distance_to_ntk": distance,
        "width_trend_spearman": interval_text(trend),
    }
    if distance >= LAZY_MAX_DISTANCE:
        return not_run(crit, "the widest networks are not in the lazy regime", **numbers)
    cond = {"transfer": interval_above(drop, TRANSFER_DROP)}
    return CheckResult(
        verdict_from(cond),
        numbers,
        crit,
        deciding=("transfer_drop", "rel_distance_to_ntk"),
        sizes=f"{_seeds_text(widest)}, widths {sorted(transfer['width'].unique().tolist())}",
    )


# ---------------------------------------------------------------- §4: eigen-features
def check_robust_top(features: pd.DataFrame) -> CheckResult:
    """Feature robustness (FGSM accuracy against the feature itself) falls with the eigen-index."""
    crit = (
        f"mean over seeds of Spearman(eigen-index, FGSM accuracy of the feature) has its seed-bootstrap "
        f"95% interval below {RANK_EFFECT}"
    )
    grid = features.pivot_table(index="seed", columns="feature", values="fgsm_acc")
    if grid.shape[0] < 2 or grid.shape[1] < 4:
        return not_run(crit, "fewer than two seeds or four features")
    iv = rank_trend_interval(grid.to_numpy(), grid.columns.to_numpy(float))
    top = grid[grid.columns[:5]].to_numpy().mean()
    tail = grid[grid.columns[-5:]].to_numpy().mean()
    numbers = {
        "spearman_index_robustness": interval_text(iv),
        "fgsm_acc_top5": float(top),
        "fgsm_acc_tail5": float(tail),
    }
    return CheckResult(
        verdict_from({"robustness falls with index": interval_below(iv, RANK_EFFECT)}),
        numbers,
        crit,
        deciding=("spearman_index_robustness",),
        sizes=f"{grid.shape[0]} seeds × {grid.shape[1]} features",
    )


def check_useful_nonrobust(features: pd.DataFrame) -> CheckResult:
    """Features with (almost) no robustness still beat the majority rate."""
    crit = (
        f"over the features with FGSM accuracy ≤ {NONROBUST_ACC} (in seeds that have any), the mean of "
        f"(clean accuracy − majority rate) has its seed-bootstrap interval above {USEFUL_MARGIN}"
    )
    nonrobust = features[features["fgsm_acc"] <= NONROBUST_ACC]
    per_seed = (nonrobust["clean_acc"] - nonrobust["majority"]).groupby(nonrobust["seed"]).mean()
    if len(per_seed) < 2:
        return not_run(crit, "fewer than two seeds with non-robust features")
    iv = mean_interval(per_seed.to_numpy())
    best = float((nonrobust["clean_acc"] - nonrobust["majority"]).max())
    numbers = {
        "usefulness_margin": interval_text(iv),
        "best_single_margin": best,
        "nonrobust_features_per_seed": float(nonrobust.groupby("seed").size().mean()),
    }
    return CheckResult(
        verdict_from({"non-robust features useful": interval_above(iv, USEFUL_MARGIN)}),
        numbers,
        crit,
        deciding=("usefulness_margin",),
        sizes=_seeds_text(features),
    )


def check_early_robust(flow: pd.DataFrame) -> CheckResult:
    """Robust features are learned first, so f_t stopped early is more robust than the regressor."""
    crit = (
        f"t_e = the first time at which the clean accuracy is ≥ its final value − {EARLY_CLEAN_SLACK}; "
        f"(PGD accuracy at t_e − PGD accuracy at t = ∞) has its seed-bootstrap interval above {EARLY_GAP}"
    )
    gaps, clean_cost = [], []
    for _, g in flow.sort_values("time_lmax").groupby("seed"):
        final = g.iloc[-1]
        early = g[g["clean_acc_attacked_set"] >= final["clean_acc_attacked_set"] - EARLY_CLEAN_SLACK].iloc[0]
        gaps.append(early["pgd_acc"] - final["pgd_acc"])
        clean_cost.append(final["clean_acc_attacked_set"] - early["clean_acc_attacked_set"])
    if len(gaps) < 2:
        return not_run(crit, "fewer than two seeds")
    iv = mean_interval(np.array(gaps))
    numbers = {"pgd_gain_early_vs_final": interval_text(iv), "clean_cost_mean": float(np.mean(clean_cost))}
    return CheckResult(
        verdict_from({"early stopping more robust": interval_above(iv, EARLY_GAP)}),
        numbers,
        crit,
        deciding=("pgd_gain_early_vs_final", "clean_cost_mean"),
        sizes=_seeds_text(flow),
    )


# ---------------------------------------------------------------- §5: kernel dynamics
def dynamics_contrasts(dyn: pd.DataFrame, probe: str = "clean") -> dict[str, np.ndarray]:
    """Per seed (PGD training minus clean training): the kernel distance between epoch 1 and the last
    epoch, and the tail mass 1 − (top share) at the last epoch."""
    last = int(dyn["epoch"].max())
    dist = dyn[(dyn["metric"] == f"distance_{probe}") & (dyn["epoch"] == 1) & (dyn["epoch2"] == last)]
    mass = dyn[(dyn["metric"] == f"top_mass_{probe}") & (dyn["epoch"] == last)]
    d = dist.pivot_table(index="seed", columns="regime", values="value")
    m = mass.pivot_table(index="seed", columns="regime", values="value")
    return {
        "late_move": (d["pgd"] - d["clean"]).to_numpy(),
        "tail_mass": ((1 - m["pgd"]) - (1 - m["clean"])).to_numpy(),
    }


def check_dynamics(dyn: pd.DataFrame, dataset: str) -> CheckResult:
    """Adversarial training: the kernel settles earlier and concentrates on its top eigenvalues."""
    crit = (
        "CIFAR-10 (the paper's data): per seed, PGD training minus clean training of (i) the kernel distance "
        "between epoch 1 and the last epoch and (ii) the tail mass 1 − Σ_top λ²/Σλ² at the last epoch; both "
        "seed-bootstrap intervals below 0"
    )
    c = dynamics_contrasts(dyn)
    if len(c["late_move"]) < 2:
        return not_run(crit, "fewer than two seeds", dataset=dataset)
    late, tail = mean_interval(c["late_move"]), mean_interval(c["tail_mass"])
    cond = {"settles earlier": interval_below(late), "top-heavy": interval_below(tail)}
    numbers = {
        "late_move_pgd_minus_clean": interval_text(late),
        "tail_mass_pgd_minus_clean": interval_text(tail),
        "dataset": dataset,
    }
    sizes = f"{len(c['late_move'])} seeds, {int(dyn['epoch'].max())} epochs, {dataset}"
    if dataset != "cifar10":
        numbers["stand_in_outcome"] = verdict_from(cond)
        return CheckResult(
            "not run",
            {"missing": "CIFAR-10 is not present; the MNIST run is an illustration", **numbers},
            crit,
            deciding=("late_move_pgd_minus_clean", "tail_mass_pgd_minus_clean"),
            sizes=sizes,
        )
    return CheckResult(
        verdict_from(cond),
        numbers,
        crit,
        deciding=("late_move_pgd_minus_clean", "tail_mass_pgd_minus_clean"),
        sizes=sizes,
    )


# ---------------------------------------------------------------- checks of our own mathematics
def _check_arccos(profile: str) -> CheckResult:
    der = theory.arc_cosine_derivation()
    sym = theory.symbolic_vs_torch()
    mc = theory.monte_carlo_kappas()
    z1 = float(((mc["kappa1_mc"] - mc["kappa1"]).abs() / mc["kappa1_se"]).max())
    z0 = float(((mc["kappa0_mc"] - mc["kappa0"]).abs() / mc["kappa0_se"]).max())
    numbers = {
        "sympy_kappa_differences_zero": bool(der["kappa1_difference"] == 0 and der["kappa0_difference"] == 0),
        "d_kappa1_dcos_equals_kappa0": bool(der["derivative_identity"] == 0),
        "max_value_err": float(sym["value_err"].max()),
        "max_grad_err_autograd": float(sym["grad_err_autograd"].max()),
        "max_grad_err_finite_diff": float(sym["grad_err_fd"].max()),
        "max_mc_z": max(z1, z0),
    }
    cond = {
        "sympy integrals give the closed forms": numbers["sympy_kappa_differences_zero"],
        "dκ₁/dcos = κ₀": numbers["d_kappa1_dcos_equals_kappa0"],
        "torch kernel = sympy kernel": numbers["max_value_err"] < 1e-12,
        "autograd gradient = sympy gradient": numbers["max_grad_err_autograd"] < 1e-10,
        "finite differences agree": numbers["max_grad_err_finite_diff"] < 1e-6,
        "Monte Carlo agrees": numbers["max_mc_z"] < MC_SE,
    }
    return CheckResult(
        verdict_from(cond),
        numbers,
        "sympy differences 0; relative errors < 1e-12 (values), 1e-10 (autograd), 1e-6 (finite "
        f"differences); Monte Carlo κ within {MC_SE} standard errors",
        deciding=("max_grad_err_autograd", "max_mc_z"),
        sizes="5 random pairs, 400 000 Gaussian pairs",
    )


def check_wide_limit(df: pd.DataFrame) -> CheckResult:
    """The empirical NTK of NTK-parameterised nets approaches the analytic one like 1/√width."""
    s = theory.width_scaling(df)
    cond = {f"depth {d}: slope in [-0.8, -0.3]": -0.8 <= s[f"depth{d}_slope"] <= -0.3 for d in (1, 2)}
    cond.update({f"depth {d}: error·√width < 6": s[f"depth{d}_max_err_sqrt_width"] < 6 for d in (1, 2)})
    return CheckResult(
        verdict_from(cond),
        s,
        "log–log slope of the mean relative error against width in "
        "[−0.8, −0.3] (O(1/√width) fluctuations) and error·√width < 6, for 1 and 2 hidden layers",
        deciding=("depth1_slope", "depth2_slope"),
        sizes=f"widths {sorted(df['width'].unique().tolist())}, {df['seed'].nunique()} seeds",
    )


def flow_identities(n: int = 64, seed: int = 0) -> dict[str, float]:
    """Relative errors (float64, MNIST) of: f_0 = 0, f_∞ = kernel regression, f_t = Σ_i (1 − e^{−λ_i t}) f_i,
    Σ_i f_i = f, and f_i(X) = v_i v_iᵀY summing to Y on the training inputs."""
    prof = get_profile("quick")
    data = experiments.binary_task(prof)
    X, Y, Xt = data["X"][seed][:n], data["Y"][seed][:n], data["X_test"][:64]
    K, Kt = relu_ntk(X, X), relu_ntk(Xt, X)
    f = Kt @ kernel_regression_coefficients(K, Y)
    coef = flow_coefficients(K, Y, [0.0, 0.5, math.inf])
    lam, C = eigen_feature_coefficients(K, Y)
    feats = Kt @ C
    weighted = feats @ -torch.expm1(-lam * 0.5)
    rel = lambda a, b: float((a - b).norm() / b.norm())  # noqa: E731
    return {
        "f0_norm": float((Kt @ coef[:, 0]).norm()),
        "f_inf_vs_regression": rel(Kt @ coef[:, 2], f),
        "f_t_vs_weighted_features": rel(Kt @ coef[:, 1], weighted),
        "features_sum_vs_f": rel(feats.sum(1), f),
        "train_features_sum_vs_Y": rel((K @ C).sum(1), Y),
    }


def _check_flow(profile: str) -> CheckResult:
    numbers = flow_identities()
    cond = {k: v < IDENTITY_TOL for k, v in numbers.items()}
    return CheckResult(
        verdict_from(cond),
        numbers,
        f"every relative error (and ‖f_0‖) < {IDENTITY_TOL:g}",
        deciding=("f_inf_vs_regression", "features_sum_vs_f"),
        sizes="64 MNIST training images, 64 test images, float64",
    )


# ---------------------------------------------------------------- the ledger
def _from(table, check):
    return lambda profile: check(table(profile))


CLAIMS: list[Claim] = [
    Claim(
        "tk22.check.arccos_recursion",
        BIBKEY,
        "The arc-cosine expectations κ₁ = E[relu(u)relu(v)] and κ₀ = E[relu′(u)relu′(v)] follow by symbolic "
        "integration, dκ₁/dcos ϑ = κ₀, and the torch kernel and its input gradient match sympy, finite "
        "differences and Monte Carlo.",
        _check_arccos,
        page="ntk_kernels",
        kind="check",
    ),
    Claim(
        "tk22.check.wide_limit",
        BIBKEY,
        "The empirical NTK of NTK-parameterised ReLU networks converges to the analytic kernel at rate "
        "O(1/√width).",
        _from(theory.width_table, check_wide_limit),
        page="ntk_kernels",
        kind="check",
    ),
    Claim(
        "tk22.check.flow_identities",
        BIBKEY,
        "Gradient flow under the fixed kernel starts at 0, ends at kernel regression, and is the sum of the "
        "eigen-features weighted by 1 − e^{−ηλt}; the eigen-features sum to the regressor.",
        _check_flow,
        page="ntk_kernels",
        kind="check",
    ),
    Claim(
        "tk22.attack.kernel_nonrobust",
        BIBKEY,
        "The NTK predictor is accurate on clean inputs but a small ℓ∞ attack computed through the kernel, "
        "with no training, drives its accuracy far down.",
        _from(experiments.flow_table, check_kernel_nonrobust),
        page="ntk_attacks_features",
    ),
    Claim(
        "tk22.attack.transfer_lazy",
        BIBKEY,
        "Adversarial examples generated from the NTK transfer to finite-width networks trained in the lazy "
        "regime.",
        _from(experiments.transfer_table, check_transfer),
        page="ntk_attacks_features",
    ),
    Claim(
        "tk22.features.robust_top",
        BIBKEY,
        "Robust eigen-features of the NTK correspond to its largest eigenvalues: robustness falls with the "
        "eigen-index.",
        _from(experiments.features_table, check_robust_top),
        page="ntk_attacks_features",
    ),
    Claim(
        "tk22.features.useful_nonrobust",
        BIBKEY,
        "The NTK has useful yet non-robust features: eigen-features with no robustness still classify better "
        "than the majority rate.",
        _from(experiments.features_table, check_useful_nonrobust),
        page="ntk_attacks_features",
    ),
    Claim(
        "tk22.features.learned_first",
        BIBKEY,
        "Robust features are learned first during training, so the predictor stopped early along "
        "gradient flow is more robust than the converged one at almost the same accuracy.",
        _from(experiments.flow_table, check_early_robust),
        page="ntk_attacks_features",
    ),
    Claim(
        "tk22.dynamics.adversarial_lazy_top",
        BIBKEY,
        "Under adversarial training the empirical NTK settles much earlier (falls into the lazy regime) and "
        "concentrates on its top eigenvalues more than under standard training (CIFAR-10).",
        lambda profile: check_dynamics(
            experiments.dynamics_table(profile), experiments.dynamics_dataset(profile)
        ),
        page="ntk_dynamics",
    ),
]
