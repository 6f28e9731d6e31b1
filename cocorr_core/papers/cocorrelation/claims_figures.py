"""Ledger entries for the claims behind the co-correlation paper's figures (Figs 1–6) and for
the checks this book adds beyond them.

Each claim has a pure check `check_*(df) -> CheckResult` on a tidy table (run, epoch, metric,
value, status and the config columns), tested on synthetic tables, and a wrapper that loads the
figure's stored (or freshly trained) results at a profile. A claim whose cells are missing
from the profile's grid (e.g. width 8192 in the quick profile) gets "not run".
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from ...linalg.stats import spearman
from ...runs.ledger import CheckResult, Claim, verdict_from
from . import experiments
from .experiments import FIG1_Q
from .settings import BIBKEY as PAPER
from .tables import accumulated_change, final, mean_over_seeds, select

NARROW_WIDTHS = (16, 32)       # the paper's exceptions in Fig. 1c/1d
RISE_TOL = 0.02                # ϱ must gain more than this to count as "rising"
FLAT_TOL = 0.02                # |ϱ(e) − ϱ(1)| below this at every epoch counts as "flat"
SATURATION_FRACTION = 0.5      # "saturates": the last third of training adds < half of the first third's gain
FIG5_RHO_MIN = 0.95            # ρ ≥ 0.95 and spread ≤ 0.32 keep ρ·√(1+spread²) within 5 % of 1
FIG5_SPREAD_MAX = 0.32
BEST_CELL = (8192, -0.15)      # Fig. 4's best cell (width, q)
PAPER_RESNET_POOL = (0.36, 0.66)  # the authors' notebook: ϱ at epoch 2 → epoch 50, cut before pooling
# Fig. 2 is a CIFAR-10 claim (50,000 images, 50 epochs). A verdict needs CIFAR-10 at half that scale
# or more; a smaller run, or one on the MNIST-32 stand-in, is an illustration and gets "not run".
RESNET_ADEQUATE = {"dataset": "cifar10", "n_train": 25_000, "epochs": 25}


def not_run(criterion: str, why: str, **numbers: Any) -> CheckResult:
    """CheckResult "not run": `criterion` in words, `why` under numbers["missing"], plus `numbers`."""
    return CheckResult("not run", {"missing": why, **numbers}, criterion)


def _r(x: float, nd: int = 4) -> float:
    return float(round(float(x), nd)) if x == x else float("nan")


# ---------------------------------------------------------------------------- Fig. 1
def check_energy_vs_robustness(df: pd.DataFrame) -> CheckResult:
    """Fig. 1: lower 𝔖(f) goes with higher AutoAttack robust accuracy across widths.

    df: the figure's tidy table (run, epoch, metric, value, status + config columns).
    Returns a CheckResult (verdict, numbers, criterion); "not run" when its cells are missing."""
    crit = ("per activation, Spearman(𝔖(f) at the last epoch, AutoAttack robust accuracy at ε=0.5 pixels) "
            f"< 0 over widths at q={FIG1_Q} (≥ 3 widths)")
    numbers, cond = {}, {}
    for act in ("linear", "relu"):
        e = mean_over_seeds(final(df, "dirichlet_full", activation=act, q=FIG1_Q))
        r = mean_over_seeds(final(df, "autoattack_accuracy", activation=act, q=FIG1_Q))
        m = e.merge(r, on=["activation", "width", "q"], suffixes=("_e", "_r"))
        if len(m) < 3:
            continue
        s = spearman(m["value_e"], m["value_r"])
        numbers[f"spearman_{act}"] = _r(s)
        numbers[f"robust_acc_{act}"] = {int(w): _r(v, 3) for w, v in zip(m["width"], m["value_r"])}
        cond[act] = s < 0
    if not cond:
        return not_run(crit, "no width sweep with AutoAttack results at q=0.25")
    return CheckResult(verdict_from(cond), numbers, crit)


def check_wider_more_robust(df: pd.DataFrame) -> CheckResult:
    """Fig. 1: AutoAttack robust accuracy grows with width at q = 0.25.

    df: the figure's tidy table (run, epoch, metric, value, status + config columns).
    Returns a CheckResult (verdict, numbers, criterion); "not run" when its cells are missing."""
    crit = f"per activation, Spearman(width, AutoAttack robust accuracy) > 0 at q={FIG1_Q} (≥ 3 widths)"
    numbers, cond = {}, {}
    for act in ("linear", "relu"):
        r = mean_over_seeds(final(df, "autoattack_accuracy", activation=act, q=FIG1_Q))
        if len(r) < 3:
            continue
        s = spearman(r["width"], r["value"])
        numbers[f"spearman_{act}"] = _r(s)
        cond[act] = s > 0
    if not cond:
        return not_run(crit, "no width sweep with AutoAttack results at q=0.25")
    return CheckResult(verdict_from(cond), numbers, crit)


def _deltas(df: pd.DataFrame, **where) -> pd.DataFrame:
    return mean_over_seeds(accumulated_change(df, start=1, **where), value="delta")


def check_rise_then_saturate(df: pd.DataFrame) -> CheckResult:
    """Fig. 1c/1d: ϱ rises then saturates (flat at widths 16 and 32).

    df: the figure's tidy table (run, epoch, metric, value, status + config columns).
    Returns a CheckResult (verdict, numbers, criterion); "not run" when its cells are missing."""
    crit = (f"q={FIG1_Q}, both activations: for widths > 32, ϱ(last) − ϱ(1) > {RISE_TOL} (rises) and "
            f"the gain of the last third of the epochs < {SATURATION_FRACTION} × the gain of the first third "
            f"(saturates); for widths 16 and 32, |ϱ(last) − ϱ(1)| ≤ {RISE_TOL} (no rise)")
    rows = select(df, "cocorrelation", q=FIG1_Q)
    rows = rows[rows["epoch"] >= 1]
    if rows.empty or rows["epoch"].nunique() < 4:
        return not_run(crit, "fewer than 4 measured epochs at q=0.25")
    curves = rows.groupby(["activation", "width", "epoch"])["value"].mean()
    numbers, cond = {}, {}
    for (act, w), c in curves.groupby(level=[0, 1]):
        c = c.droplevel([0, 1]).sort_index()
        e = c.index.to_numpy()
        third = max(1, (len(e) - 1) // 3)
        first_gain = c.iloc[third] - c.iloc[0]
        last_gain = c.iloc[-1] - c.iloc[-1 - third]
        total = c.iloc[-1] - c.iloc[0]
        numbers[f"{act}_m{w}"] = {"delta": _r(total), "first_third_gain": _r(first_gain),
                                  "last_third_gain": _r(last_gain)}
        if w in NARROW_WIDTHS:
            cond[f"{act} m={w} flat"] = abs(total) <= RISE_TOL
        else:
            cond[f"{act} m={w} rises"] = total > RISE_TOL
            cond[f"{act} m={w} saturates"] = first_gain > 0 and last_gain < SATURATION_FRACTION * first_gain
    numbers["conditions_held"] = f"{sum(cond.values())}/{len(cond)}"
    return CheckResult(verdict_from(cond), numbers, crit)


def check_relu_rises_less(df: pd.DataFrame) -> CheckResult:
    """Fig. 1c/1d: ϱ gains less in the ReLU network than in the linear one.

    df: the figure's tidy table (run, epoch, metric, value, status + config columns).
    Returns a CheckResult (verdict, numbers, criterion); "not run" when its cells are missing."""
    crit = (f"at q={FIG1_Q}, for every width where either network's ϱ(last) − ϱ(1) exceeds {RISE_TOL}: "
            "the ReLU network's gain < the linear network's gain")
    d = _deltas(df, q=FIG1_Q)
    lin = d[d["activation"] == "linear"].set_index("width")["delta"]
    relu = d[d["activation"] == "relu"].set_index("width")["delta"]
    widths = sorted(set(lin.index) & set(relu.index))
    if not widths:
        return not_run(crit, "no width with both a linear and a ReLU run at q=0.25")
    numbers = {f"m{w}": {"linear": _r(lin[w]), "relu": _r(relu[w])} for w in widths}
    rising = [w for w in widths if max(lin[w], relu[w]) > RISE_TOL]
    if not rising:
        numbers["note"] = "ϱ rises at no width, so there is no rise to compare"
        return CheckResult("not reproduced", numbers, crit)
    cond = {f"m={w}": bool(relu[w] < lin[w]) for w in rising}
    return CheckResult(verdict_from(cond), numbers, crit)


# ---------------------------------------------------------------------------- Fig. 3
def check_negative_q_flat(df: pd.DataFrame) -> CheckResult:
    """Fig. 3: every ϱ trajectory with q < 0 stays flat.

    df: the figure's tidy table (run, epoch, metric, value, status + config columns).
    Returns a CheckResult (verdict, numbers, criterion); "not run" when its cells are missing."""
    crit = ("for every run with q < 0 (both activations, every width): "
            f"max over epochs ≥ 1 of |ϱ(e) − ϱ(1)| < {FLAT_TOL}")
    rows = select(df, "cocorrelation")
    rows = rows[(rows["q"].astype(float) < 0) & (rows["epoch"] >= 1)]
    if rows.empty or rows["epoch"].nunique() < 2:
        return not_run(crit, "no run with q < 0 measured at two epochs")
    curves = rows.groupby(["activation", "width", "q", "epoch"])["value"].mean()
    numbers, cond = {}, {}
    for (act, w, q), c in curves.groupby(level=[0, 1, 2]):
        c = c.sort_index()
        dev = float((c - c.iloc[0]).abs().max())
        numbers[f"{act}_m{w}_q{q:+.2f}"] = _r(dev)
        cond[f"{act} m={w} q={q}"] = dev < FLAT_TOL
    numbers["conditions_held"] = f"{sum(cond.values())}/{len(cond)}"
    return CheckResult(verdict_from(cond), numbers, crit)


def check_speed_grows_with_width(df: pd.DataFrame) -> CheckResult:
    """Fig. 3: for q > 0 the early rise speed of ϱ grows with width (ReLU).

    df: the figure's tidy table (run, epoch, metric, value, status + config columns).
    Returns a CheckResult (verdict, numbers, criterion); "not run" when its cells are missing."""
    crit = ("ReLU, for every q > 0: Spearman(width, early rise speed) > 0, with speed = "
            "(ϱ(e*) − ϱ(1)) / (e* − 1) and e* the epoch a third of the way through training (≥ 3 widths)")
    rows = select(df, "cocorrelation", activation="relu")
    rows = rows[(rows["q"].astype(float) > 0) & (rows["epoch"] >= 1)]
    if rows.empty or rows["epoch"].nunique() < 3:
        return not_run(crit, "no ReLU run with q > 0 measured at three epochs")
    last = int(rows["epoch"].max())
    e_star = max(2, 1 + (last - 1) // 3)
    curves = rows.groupby(["q", "width", "epoch"])["value"].mean()
    numbers, cond = {"e_star": e_star}, {}
    for q, c in curves.groupby(level=0):
        c = c.droplevel(0)
        widths = sorted(c.index.get_level_values(0).unique())
        if len(widths) < 3:
            continue
        speed = [(c[(w, e_star)] - c[(w, 1)]) / (e_star - 1) for w in widths]
        s = spearman(widths, speed)
        numbers[f"q{q:+.2f}"] = {"spearman": _r(s),
                                 "speed": {int(w): _r(v, 5) for w, v in zip(widths, speed)}}
        cond[f"q={q}"] = s > 0
    if not cond:
        return not_run(crit, "fewer than 3 widths at any q > 0")
    return CheckResult(verdict_from(cond), numbers, crit)


# ---------------------------------------------------------------------------- Fig. 4
def _best_cell(t: pd.DataFrame) -> tuple[int, float]:
    row = t.loc[t["value"].idxmax()]
    return int(row["width"]), round(float(row["q"]), 6)


def check_best_cell(df: pd.DataFrame) -> CheckResult:
    """Fig. 4: best clean and PGD robust accuracy both at BEST_CELL, width 8192 and q = −0.15 (ReLU).

    df: the figure's tidy table (run, epoch, metric, value, status + config columns).
    Returns a CheckResult (verdict, numbers, criterion); "not run" when its cells are missing."""
    crit = ("ReLU: the cell with the highest clean test accuracy and the cell with the highest PGD robust "
            f"accuracy are both (width, q) = {BEST_CELL}")
    acc = mean_over_seeds(final(df, "test_accuracy", activation="relu"))
    rob = mean_over_seeds(final(df, "pgd_accuracy", activation="relu"))
    have = set(zip(acc["width"], acc["q"].round(6)))
    if (BEST_CELL[0], round(BEST_CELL[1], 6)) not in have:
        return not_run(crit, f"cell width={BEST_CELL[0]}, q={BEST_CELL[1]} is not in this profile's grid",
                       widths=sorted(int(w) for w in acc["width"].unique()))
    numbers = {"best_accuracy_cell": _best_cell(acc), "best_accuracy": _r(acc["value"].max())}
    cond = {"accuracy": _best_cell(acc) == BEST_CELL}
    if not rob.empty:
        numbers.update(best_robust_cell=_best_cell(rob), best_robust_accuracy=_r(rob["value"].max()))
        cond["robustness"] = _best_cell(rob) == BEST_CELL
    return CheckResult(verdict_from(cond), numbers, crit)


def _rho_acc_spearman(df: pd.DataFrame, width: int) -> tuple[float, pd.DataFrame]:
    rho = mean_over_seeds(final(df, "cocorrelation", activation="relu", width=width))
    acc = mean_over_seeds(final(df, "test_accuracy", activation="relu", width=width))
    m = rho.merge(acc, on=["activation", "width", "q"], suffixes=("_rho", "_acc"))
    return (spearman(m["value_rho"], m["value_acc"]) if len(m) >= 3 else float("nan")), m


def check_narrow_accuracy_with_rho(df: pd.DataFrame) -> CheckResult:
    """Fig. 4: at width 16, across q, accuracy rises with final ϱ (ReLU).

    df: the figure's tidy table (run, epoch, metric, value, status + config columns).
    Returns a CheckResult (verdict, numbers, criterion); "not run" when its cells are missing."""
    crit = "ReLU, width 16, across q: Spearman(final ϱ, clean test accuracy) > 0 (≥ 3 values of q)"
    s, m = _rho_acc_spearman(df, 16)
    if len(m) < 3:
        return not_run(crit, "fewer than 3 values of q at width 16")
    numbers = {"spearman": _r(s), "cells": {f"q{q:+.2f}": {"cocorrelation": _r(r), "acc": _r(a)}
                                            for q, r, a in zip(m["q"], m["value_rho"], m["value_acc"])}}
    return CheckResult(verdict_from({"positive": s > 0}), numbers, crit)


def check_wide_accuracy_against_rho(df: pd.DataFrame) -> CheckResult:
    """Fig. 4: at width 8192, across q, accuracy falls as final ϱ rises (ReLU).

    df: the figure's tidy table (run, epoch, metric, value, status + config columns).
    Returns a CheckResult (verdict, numbers, criterion); "not run" when its cells are missing."""
    crit = ("ReLU, width 8192, across q: Spearman(final ϱ, clean test accuracy) < 0 "
            "(the paper: ϱ 0.25 → 0.83 goes with accuracy 0.93 → 0.68)")
    s, m = _rho_acc_spearman(df, 8192)
    if len(m) < 3:
        return not_run(crit, "width 8192 is not in this profile's grid (or has fewer than 3 values of q)")
    numbers = {"spearman": _r(s), "cocorrelation_range": [_r(m["value_rho"].min()), _r(m["value_rho"].max())],
               "acc_range": [_r(m["value_acc"].min()), _r(m["value_acc"].max())]}
    return CheckResult(verdict_from({"negative": s < 0}), numbers, crit)


# ---------------------------------------------------------------------------- Fig. 5
def check_decomposition_factors(df: pd.DataFrame) -> CheckResult:
    """Fig. 5: ρ close to 1 and the relative spread small at q = 0.25.

    df: the figure's tidy table (run, epoch, metric, value, status + config columns).
    Returns a CheckResult (verdict, numbers, criterion); "not run" when its cells are missing."""
    crit = (f"q={FIG1_Q}, every width, activation and epoch: ρ ≥ {FIG5_RHO_MIN} and relative spread ≤ "
            f"{FIG5_SPREAD_MAX} (together ρ·√(1+spread²) stays within ~5 % of 1)")
    rho = select(df, "norm_correlation", q=FIG1_Q)
    spread = select(df, "rel_spread", q=FIG1_Q)
    if rho.empty or spread.empty:
        return not_run(crit, "no ρ / spread measurements at q=0.25")
    numbers = {"min_norm_correlation": _r(rho["value"].min()), "max_rel_spread": _r(spread["value"].max())}
    cond = {"norm_correlation": rho["value"].min() >= FIG5_RHO_MIN,
            "spread": spread["value"].max() <= FIG5_SPREAD_MAX}
    return CheckResult(verdict_from(cond), numbers, crit)


# ---------------------------------------------------------------------------- Fig. 6
def check_accumulation_with_width(df: pd.DataFrame) -> CheckResult:
    """Fig. 6: ϱ(last) − ϱ(1) grows with width for every activation and q.

    df: the figure's tidy table (run, epoch, metric, value, status + config columns).
    Returns a CheckResult (verdict, numbers, criterion); "not run" when its cells are missing."""
    crit = "for every activation and q: Spearman(width, ϱ(last) − ϱ(1)) > 0 (≥ 3 widths)"
    return _accumulation_grows(df, crit, along="width", within="q", name=lambda q: f"q{q:+.2f}",
                               label=lambda q: f"q={q}", missing="fewer than 3 widths per (activation, q)")


def check_accumulation_with_q(df: pd.DataFrame) -> CheckResult:
    """Fig. 6: ϱ(last) − ϱ(1) grows with q for every activation and width.

    df: the figure's tidy table (run, epoch, metric, value, status + config columns).
    Returns a CheckResult (verdict, numbers, criterion); "not run" when its cells are missing."""
    crit = "for every activation and width: Spearman(q, ϱ(last) − ϱ(1)) > 0 (≥ 3 values of q)"
    return _accumulation_grows(df, crit, along="q", within="width", name=lambda w: f"m{w}",
                               label=lambda w: f"m={w}",
                               missing="fewer than 3 values of q per (activation, width)")


def _accumulation_grows(df: pd.DataFrame, crit: str, *, along: str, within: str, name, label,
                        missing: str) -> CheckResult:
    """Per (activation, `within`) cell group: Spearman(`along`, ϱ(last) − ϱ(1)) > 0 with ≥ 3 points."""
    numbers, cond = {}, {}
    for (act, key), t in _deltas(df).groupby(["activation", within]):
        if len(t) < 3:
            continue
        s = spearman(t[along], t["delta"])
        numbers[f"{act}_{name(key)}"] = _r(s)
        cond[f"{act} {label(key)}"] = s > 0
    if not cond:
        return not_run(crit, missing)
    numbers["conditions_held"] = f"{sum(cond.values())}/{len(cond)}"
    return CheckResult(verdict_from(cond), numbers, crit)


# ---------------------------------------------------------------------------- Fig. 2
def check_resnet_rise(df: pd.DataFrame) -> CheckResult:
    """Fig. 2: ϱ rises during training for each ResNet and cut.

    df: Fig. 2's tidy table (run, epoch, metric, value, status + config columns incl. model, cut).
    Returns a CheckResult (verdict, numbers, criterion); "not run" when its cells are missing."""
    crit = (f"for each ResNet and cut: ϱ(last epoch) − ϱ(initialisation) > {RISE_TOL}; the authors' notebook "
            f"(cut before pooling, CIFAR-10, 50 epochs) went {PAPER_RESNET_POOL[0]} → {PAPER_RESNET_POOL[1]}")
    rows = select(df, "cocorrelation")
    if rows.empty or rows["epoch"].nunique() < 2:
        return not_run(crit, "no ResNet run measured at two epochs")
    numbers: dict[str, Any] = {"authors_pool_reference": list(PAPER_RESNET_POOL)}
    dataset = ",".join(sorted(rows["dataset"].astype(str).unique())) if "dataset" in rows else "unknown"
    n_train = int(rows["n_train"].min()) if "n_train" in rows else 0
    epochs = int(rows["epoch"].max())
    if (dataset != RESNET_ADEQUATE["dataset"] or n_train < RESNET_ADEQUATE["n_train"]
            or epochs < RESNET_ADEQUATE["epochs"]):
        return not_run(crit, f"a CIFAR-10 claim: needs CIFAR-10 with >= {RESNET_ADEQUATE['n_train']} "
                       f"training images and >= {RESNET_ADEQUATE['epochs']} epochs; these runs used "
                       f"{dataset}, {n_train} images, {epochs} epochs (an illustration, not a verdict)",
                       dataset=dataset, n_train=n_train, epochs=epochs)
    cond = {}
    for (model, cut), t in rows.groupby(["model", "cut"]):
        t = t.sort_values("epoch")
        first, last = float(t["value"].iloc[0]), float(t["value"].iloc[-1])
        numbers[f"{model}_{cut}"] = {"first": _r(first), "last": _r(last), "epochs": int(t["epoch"].iloc[-1])}
        cond[f"{model} {cut}"] = last - first > RISE_TOL
    return CheckResult(verdict_from(cond), numbers, crit)


# ---------------------------------------------------------------------------- beyond the paper
def check_rho_predicts_robustness(df: pd.DataFrame) -> CheckResult:
    """Beyond the paper: higher final ϱ goes with lower PGD robust accuracy.

    df: the figure's tidy table (run, epoch, metric, value, status + config columns).
    Returns a CheckResult (verdict, numbers, criterion); "not run" when its cells are missing."""
    crit = ("code setting, per activation, across the width × q grid: Spearman(final ϱ, PGD robust "
            "accuracy at ε=0.5 pixels) < 0 (≥ 4 cells)")
    numbers, cond = {}, {}
    for act in ("linear", "relu"):
        rho = mean_over_seeds(final(df, "cocorrelation", activation=act))
        pgd = mean_over_seeds(final(df, "pgd_accuracy", activation=act))
        m = rho.merge(pgd, on=["activation", "width", "q"], suffixes=("_rho", "_pgd"))
        if len(m) < 4:
            continue
        s = spearman(m["value_rho"], m["value_pgd"])
        numbers[f"spearman_{act}"] = _r(s)
        numbers[f"cells_{act}"] = len(m)
        cond[act] = s < 0
    if not cond:
        return not_run(crit, "fewer than 4 cells with PGD results")
    return CheckResult(verdict_from(cond), numbers, crit)


# ---------------------------------------------------------------------------- registration
def _loader(figure: str) -> Callable[[str], pd.DataFrame]:
    def load(profile: str) -> pd.DataFrame:

        df = experiments.load_figure(figure, profile)
        if figure == "beyond" and "head" in df.columns:
            df = df[df["head"] == "code"]
        return df
    return load


def _wrap(figure: str, pure: Callable[[pd.DataFrame], CheckResult]) -> Callable[[str], CheckResult]:
    load = _loader(figure)

    def check(profile: str) -> CheckResult:
        return pure(load(profile))
    check.pure = pure  # the DataFrame function, for tests and notebooks
    return check


_CLAIMS = [
    ("wang24.fig1.energy_vs_robustness", "fig1", "fig1_robustness_energy", check_energy_vs_robustness,
     "Across the trained MLPs (q = 0.25), a lower Dirichlet energy 𝔖(f) goes with a higher robust "
     "accuracy under L2 AutoAttack at ε = 0.5."),
    ("wang24.fig1.wider_more_robust", "fig1", "fig1_robustness_energy", check_wider_more_robust,
     "At the same q, wider networks are more robust."),
    ("wang24.fig1.rise_then_saturate", "fig1", "fig1_robustness_energy", check_rise_then_saturate,
     "During training ϱ rises and then saturates, for every width except the narrow 16 and 32."),
    ("wang24.fig1.relu_rises_less", "fig1", "fig1_robustness_energy", check_relu_rises_less,
     "ϱ rises less in the ReLU network than in the linear one."),
    ("wang24.fig2.resnet_rise", "fig2", "fig2_resnets", check_resnet_rise,
     "ResNet-50 and Wide-ResNet-50-2 trained with Adam (no special initialisation) show a clear rise of ϱ "
     "between two blocks."),
    ("wang24.fig3.negative_q_flat", "fig3", "fig3_init_width", check_negative_q_flat,
     "Every trajectory of ϱ with q < 0 stays flat."),
    ("wang24.fig3.speed_grows_with_width", "fig3", "fig3_init_width", check_speed_grows_with_width,
     "For q > 0, ϱ accumulates markedly faster in wider networks."),
    ("wang24.fig4.best_cell", "fig4", "fig4_heatmaps", check_best_cell,
     "The best accuracy and robustness come from width 8192 with q = −0.15."),
    ("wang24.fig4.narrow_accuracy_with_rho", "fig4", "fig4_heatmaps", check_narrow_accuracy_with_rho,
     "At width 16, a higher accuracy goes with a higher ϱ."),
    ("wang24.fig4.wide_accuracy_against_rho", "fig4", "fig4_heatmaps", check_wide_accuracy_against_rho,
     "At width 8192, raising ϱ through q (0.25 → 0.83) lowers accuracy (0.93 → 0.68)."),
    ("wang24.fig5.rho_and_spread_negligible", "fig5", "fig5_decomposition", check_decomposition_factors,
     "The norm correlation ρ stays close to 1 and the relative spread small, so ϱ dominates Theorem 4.5."),
    ("wang24.fig6.accumulation_grows_with_width", "fig6", "fig6_accumulation", check_accumulation_with_width,
     "The accumulated change of ϱ grows with width at fixed q."),
    ("wang24.fig6.accumulation_grows_with_q", "fig6", "fig6_accumulation", check_accumulation_with_q,
     "The accumulated change of ϱ grows as q goes from −0.15 to 0.25."),
    ("wang24.beyond.rho_predicts_robustness", "fig4", "beyond_paper", check_rho_predicts_robustness,
     "(Our test of the paper's reading) a higher ϱ goes with a lower robust accuracy across the "
     "width × q grid."),
]

# With a constant head, ρ = (1 + spread²)^(-1/2) exactly: Fig. 5's reading is an identity of ours.
CHECK_IDS = {"wang24.fig5.rho_and_spread_negligible"}

CLAIMS: list[Claim] = [
    Claim(id=cid, paper=PAPER, statement=statement, check=_wrap(figure, pure), page=page,
          kind="check" if cid in CHECK_IDS else "claim")
    for cid, figure, page, pure, statement in _CLAIMS
]
PURE_CHECKS: dict[str, Callable[[pd.DataFrame], CheckResult]] = {cid: pure for cid, _, _, pure, _ in _CLAIMS}
