"""Ledger entries for the claims behind the co-correlation paper's figures (Figs 1–6) and for
the checks this book adds beyond them.

Each claim has a pure check `check_*(df) -> CheckResult` on a tidy table (run, epoch, metric,
value, status and the config columns), tested on synthetic tables, and a wrapper that loads the
figure's stored (or freshly trained) results at a profile. A claim whose cells are missing
from the profile's grid (e.g. width 8192 in the quick profile) gets "not run".

Every criterion is an effect size with a 95% bootstrap interval over seeds (`seed_bootstrap`:
whole seeds are resampled, so the interval reflects the variation between independent runs; the
interval is Hesterberg's expanded percentile interval, whose coverage stays near 95% for a handful
of seeds). Rank effects pool the runs of every seed and cell; a trend counts only when its interval
excludes 0 and its estimate reaches MIN_RANK. With five seeds this holds the false-positive rate of
every criterion under 5% (tests/test_figure_claims.py simulates null grids to show it).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ...linalg.stats import interval_above, interval_below, interval_text, rank_correlation, seed_bootstrap
from ...runs.ledger import CheckResult, Claim, verdict_from
from . import experiments
from .experiments import FIG1_Q
from .settings import BIBKEY as PAPER
from .tables import final, select

NARROW_WIDTHS = (16, 32)       # the paper's exceptions in Fig. 1c/1d
RISE_TOL = 0.02                # ϱ must gain more than this to count as "rising"
FLAT_TOL = 0.02                # |ϱ(e) − ϱ(1)| below this at every epoch counts as "flat"
MIN_RANK = 0.3                 # a rank trend must also be at least moderate in size
MONOTONE_SHARE = 0.9           # "monotone": ϱ rises over at least this share of measured intervals
N_RESAMPLES = 2000
BEST_CELL = (8192, -0.15)      # Fig. 4's best cell (width, q)
# the text, most likely at width 8192: ϱ 0.25 → 0.83 while accuracy 0.93 → 0.68
PAPER_FIG4 = {"cocorrelation": (0.25, 0.83), "accuracy": (0.93, 0.68)}
PAPER_RESNET_POOL = (0.36, 0.66)  # the authors' notebook: ϱ at epoch 2 → epoch 50, cut before pooling
# Fig. 2 is a CIFAR-10 claim (50,000 images, 50 epochs). A verdict needs CIFAR-10 at half that scale
# or more; a smaller run, or one on the MNIST-32 stand-in, is an illustration and gets "not run".
RESNET_ADEQUATE = {"dataset": "cifar10", "n_train": 25_000, "epochs": 25}
READINGS = {"pixel": "", "[-1,1]": "_authors"}   # ε = 0.5 in [0, 1] pixel units, or in the [−1, 1] inputs
CELL_COLUMNS = ("activation", "width", "q")


def not_run(criterion: str, why: str, **numbers: Any) -> CheckResult:
    """CheckResult "not run": `criterion` in words, `why` under numbers["missing"], plus `numbers`."""
    return CheckResult("not run", {"missing": why, **numbers}, criterion)


def _r(x: float, nd: int = 4) -> float:
    return float(round(float(x), nd)) if x == x else float("nan")


# ---------------------------------------------------------------------------- effects over seeds
def per_run(df: pd.DataFrame, metric: str, epoch: int | str = "last", **where: Any) -> pd.DataFrame:
    """One row per successful run: activation, width, q, seed, value of `metric` at `epoch`
    ("last": each run's last measured epoch; an int: that epoch)."""
    if epoch == "last":
        return final(df, metric, **where)[["activation", "width", "q", "seed", "value"]]
    rows = select(df, metric, **where)
    return rows[rows["epoch"] == epoch][["activation", "width", "q", "seed", "value"]].reset_index(drop=True)


def seed_matrix(runs: pd.DataFrame, value: str = "value",
                cells: Sequence[str] = CELL_COLUMNS) -> tuple[np.ndarray, pd.DataFrame]:
    """Per-run values as an array (seeds, cells), seeds with a missing cell dropped.

    runs: one row per run with `cells`, seed and `value`. Returns the array and the cells (a
    DataFrame of the `cells` columns, in the array's column order)."""
    table = runs.assign(q=runs["q"].astype(float).round(6)) if "q" in runs else runs
    cell_index = pd.MultiIndex.from_frame(table[list(cells)])
    cell_codes, cell_labels = pd.factorize(cell_index, sort=True)
    seed_codes, _ = pd.factorize(table["seed"], sort=True)
    values = np.full((seed_codes.max() + 1 if len(table) else 0, len(cell_labels)), np.nan)
    values[seed_codes, cell_codes] = table[value].to_numpy(float)
    values = values[~np.isnan(values).any(axis=1)]
    labels = pd.MultiIndex.from_tuples(list(cell_labels), names=list(cells)).to_frame(index=False)
    return values, labels


def pooled_rank(x: Sequence[float], values: np.ndarray) -> dict[str, float]:
    """Spearman correlation between a per-cell setting x (e.g. width) and per-run values
    (seeds, cells), pooled over every run, with its seed-bootstrap interval."""
    x = np.asarray(x, float)

    def stat(a: np.ndarray) -> np.ndarray:
        flat = a.reshape(a.shape[0], -1)
        return rank_correlation(np.broadcast_to(x, a.shape).reshape(flat.shape), flat)
    return seed_bootstrap(values, stat, n_resamples=N_RESAMPLES, expanded=True)


def paired_rank(xs: np.ndarray, ys: np.ndarray) -> dict[str, float]:
    """Spearman correlation between two measurements of the same runs (both (seeds, cells)),
    pooled over every run, with its seed-bootstrap interval."""
    both = np.stack([xs, ys], axis=-1)

    def stat(a: np.ndarray) -> np.ndarray:
        return rank_correlation(a[..., 0].reshape(a.shape[0], -1), a[..., 1].reshape(a.shape[0], -1))
    return seed_bootstrap(both, stat, n_resamples=N_RESAMPLES, expanded=True)


def mean_effect(values: np.ndarray) -> dict[str, float]:
    """Mean over seeds and cells of per-run values (seeds, cells), with its seed-bootstrap interval."""
    values = np.asarray(values, float).reshape(len(values), -1)
    return seed_bootstrap(values, lambda a: a.mean(axis=(1, 2)), n_resamples=N_RESAMPLES, expanded=True)


def increases(interval: dict[str, float]) -> bool:
    """A rank trend upwards: the interval lies above 0 and the estimate reaches MIN_RANK."""
    return interval_above(interval, 0.0) and interval["estimate"] >= MIN_RANK


def decreases(interval: dict[str, float]) -> bool:
    """A rank trend downwards: the interval lies below 0 and the estimate reaches −MIN_RANK."""
    return interval_below(interval, 0.0) and interval["estimate"] <= -MIN_RANK


def _interval_numbers(intervals: dict[str, dict[str, float]]) -> dict[str, Any]:
    """Each interval as 'estimate [low, high]' (the card) and, folded, its raw numbers."""
    return {**{k: interval_text(v) for k, v in intervals.items()},
            "intervals": {k: {"estimate": _r(v["estimate"]), "low": _r(v["low"]), "high": _r(v["high"]),
                              "seeds": int(v["seeds"])} for k, v in intervals.items()}}


def _cell_name(activation: str, width: Any, q: Any) -> str:
    return f"{activation} m={int(width)} q={float(q):+.2f}"


def clean_accuracy(df: pd.DataFrame, **where: Any) -> dict[str, float]:
    """Mean final clean test accuracy over seeds of the cells `where` selects: {cell name: accuracy}."""
    acc = final(df, "test_accuracy", **where)
    if acc.empty:
        return {}
    cells = acc.groupby(list(CELL_COLUMNS))["value"].mean()
    return {_cell_name(a, w, q): _r(v, 3) for (a, w, q), v in cells.items()}


def _sizes(df: pd.DataFrame, **where: Any) -> str:
    rows = select(df, "cocorrelation", **where)
    if rows.empty:
        return ""
    seeds = rows["seed"].nunique()
    widths = sorted(int(w) for w in rows["width"].unique())
    qs = sorted(float(q) for q in rows["q"].unique())
    epochs = int(rows["epoch"].max())
    steps = ""
    if {"n_train", "batch_size"} <= set(rows.columns):
        n, b = int(rows["n_train"].iloc[0]), int(rows["batch_size"].iloc[0])
        steps = f" ({-(-n // b) * epochs} SGD steps on {n} images)"
    n_test = f", measures on {int(rows['n_test'].iloc[0])} test images" if "n_test" in rows else ""
    return (f"{seeds} seeds per cell; widths {widths}; q {qs}; {epochs} epochs{steps}{n_test}; "
            f"95% seed-bootstrap intervals ({N_RESAMPLES} resamples)")


def _result(conditions: dict[str, bool], intervals: dict[str, dict[str, float]], crit: str,
            df: pd.DataFrame, where: dict[str, Any], **extra: Any) -> CheckResult:
    numbers = {**_interval_numbers(intervals), **extra,
               "conditions_held": f"{sum(conditions.values())}/{len(conditions)}",
               "clean_accuracy": clean_accuracy(df, **where)}
    deciding = tuple(intervals)[:4] + ("conditions_held",)
    return CheckResult(verdict_from(conditions), numbers, crit, deciding=deciding, sizes=_sizes(df, **where))


def _delta_runs(df: pd.DataFrame, start: int = 1, end: int | str = "last", **where: Any) -> pd.DataFrame:
    """ϱ(end) − ϱ(start) per run: activation, width, q, seed, value."""
    a = per_run(df, "cocorrelation", end, **where)
    b = per_run(df, "cocorrelation", start, **where)
    m = a.merge(b, on=["activation", "width", "q", "seed"], suffixes=("_end", "_start"))
    return m.assign(value=m["value_end"] - m["value_start"])[["activation", "width", "q", "seed", "value"]]


def _nearest_epoch(epochs: Sequence[int], target: float) -> int:
    epochs = np.asarray(sorted(epochs))
    return int(epochs[np.argmin(np.abs(epochs - target))])


# ---------------------------------------------------------------------------- Fig. 1
def _robust_metric(reading: str, attack: str) -> str:
    return f"{attack}_accuracy{READINGS[reading]}"


def check_energy_vs_robustness(df: pd.DataFrame) -> CheckResult:
    """Fig. 1: lower 𝔖(f) goes with higher AutoAttack robust accuracy across the trained MLPs.

    df: the figure's tidy table. Returns a CheckResult; "not run" when its cells are missing."""
    crit = (f"q={FIG1_Q}, per activation and ε reading (0.5 in pixels or in [−1, 1] inputs): the Spearman "
            "correlation between 𝔖(f) and AutoAttack robust accuracy over all runs (widths × seeds) has "
            f"a 95% seed-bootstrap interval below 0 and an estimate ≤ −{MIN_RANK}")
    intervals, cond = {}, {}
    for act in ("linear", "relu"):
        energy = per_run(df, "dirichlet_full", activation=act, q=FIG1_Q)
        for reading in READINGS:
            robust = per_run(df, _robust_metric(reading, "autoattack"), activation=act, q=FIG1_Q)
            m = energy.merge(robust, on=["activation", "width", "q", "seed"], suffixes=("_e", "_r"))
            if m["width"].nunique() < 3:
                continue
            xs, _ = seed_matrix(m, "value_e")
            ys, _ = seed_matrix(m, "value_r")
            iv = paired_rank(xs, ys)
            intervals[f"spearman_{act}_{reading}"] = iv
            cond[f"{act}, ε in {reading}"] = decreases(iv)
    if not cond:
        return not_run(crit, "no width sweep with AutoAttack results at q=0.25")
    return _result(cond, intervals, crit, df, {"q": FIG1_Q})


def check_wider_more_robust(df: pd.DataFrame) -> CheckResult:
    """Fig. 1: AutoAttack robust accuracy grows with width at q = 0.25.

    df: the figure's tidy table. Returns a CheckResult; "not run" when its cells are missing."""
    crit = (f"q={FIG1_Q}, per activation and ε reading: Spearman(width, AutoAttack robust accuracy) over all "
            f"runs has a 95% seed-bootstrap interval above 0 and an estimate ≥ {MIN_RANK} (≥ 3 widths)")
    intervals, cond = {}, {}
    for act in ("linear", "relu"):
        for reading in READINGS:
            robust = per_run(df, _robust_metric(reading, "autoattack"), activation=act, q=FIG1_Q)
            if robust["width"].nunique() < 3:
                continue
            ys, cells = seed_matrix(robust)
            iv = pooled_rank(cells["width"], ys)
            intervals[f"spearman_{act}_{reading}"] = iv
            cond[f"{act}, ε in {reading}"] = increases(iv)
    if not cond:
        return not_run(crit, "no width sweep with AutoAttack results at q=0.25")
    return _result(cond, intervals, crit, df, {"q": FIG1_Q})


def check_rise_then_saturate(df: pd.DataFrame) -> CheckResult:
    """Fig. 1c/1d: ϱ rises then saturates (no rise at widths 16 and 32).

    df: the figure's tidy table. Returns a CheckResult; "not run" when its cells are missing."""
    crit = (f"q={FIG1_Q}, per activation and width > 32: the mean gain ϱ(last) − ϱ(1) has an interval "
            f"above {RISE_TOL} (rises) and the gain over the first third of the epochs minus the gain over "
            "the last third has an interval above 0 (saturates); for widths 16 and 32 the interval of the "
            f"gain lies within ±{RISE_TOL} (no rise)")
    rows = select(df, "cocorrelation", q=FIG1_Q)
    epochs = sorted(int(e) for e in rows["epoch"].unique() if e >= 1)
    if len(epochs) < 4:
        return not_run(crit, "fewer than 4 measured epochs at q=0.25")
    last = epochs[-1]
    e_a = _nearest_epoch(epochs, 1 + (last - 1) / 3)
    e_b = _nearest_epoch(epochs, 1 + 2 * (last - 1) / 3)
    total = _delta_runs(df, 1, last, q=FIG1_Q)
    first = _delta_runs(df, 1, e_a, q=FIG1_Q)
    late = _delta_runs(df, e_b, last, q=FIG1_Q)
    slowing = first.merge(late, on=["activation", "width", "q", "seed"], suffixes=("_f", "_l"))
    slowing = slowing.assign(value=slowing["value_f"] - slowing["value_l"])
    intervals, cond = {}, {}
    for (act, w), t in total.groupby(["activation", "width"]):
        gain = mean_effect(seed_matrix(t)[0])
        intervals[f"gain_{act}_m{int(w)}"] = gain
        if int(w) in NARROW_WIDTHS:
            cond[f"{act} m={int(w)} no rise"] = bool(gain["low"] > -RISE_TOL and gain["high"] < RISE_TOL)
            continue
        slow = mean_effect(seed_matrix(slowing[(slowing["activation"] == act) & (slowing["width"] == w)])[0])
        intervals[f"slowing_{act}_m{int(w)}"] = slow
        cond[f"{act} m={int(w)} rises"] = interval_above(gain, RISE_TOL)
        cond[f"{act} m={int(w)} saturates"] = interval_above(slow, 0.0)
    return _result(cond, intervals, crit, df, {"q": FIG1_Q},
                   thirds=f"epochs 1 → {e_a} against {e_b} → {last}")


def check_relu_rises_less(df: pd.DataFrame) -> CheckResult:
    """Fig. 1c/1d: ϱ gains less in the ReLU network than in the linear one.

    df: the figure's tidy table. Returns a CheckResult; "not run" when its cells are missing."""
    crit = (f"q={FIG1_Q}, at every width where either network's mean gain ϱ(last) − ϱ(1) exceeds {RISE_TOL}: "
            "the mean over seeds of (ReLU gain − linear gain), runs of the same seed paired, has an interval "
            "below 0")
    d = _delta_runs(df, q=FIG1_Q)
    lin = d[d["activation"] == "linear"].set_index(["width", "seed"])["value"]
    relu = d[d["activation"] == "relu"].set_index(["width", "seed"])["value"]
    both = (relu - lin).dropna().rename("value").reset_index()
    if both.empty:
        return not_run(crit, "no width with both a linear and a ReLU run at q=0.25")
    rising = [w for w in sorted(both["width"].unique())
              if max(lin.xs(w, level="width").mean(), relu.xs(w, level="width").mean()) > RISE_TOL]
    if not rising:
        return CheckResult("not reproduced", {"note": "ϱ rises at no width, so there is no rise to compare"},
                           crit, sizes=_sizes(df, q=FIG1_Q))
    intervals, cond = {}, {}
    for w in rising:
        t = both[both["width"] == w]
        iv = mean_effect(t.pivot_table(index="seed", values="value").to_numpy())
        intervals[f"relu_minus_linear_m{int(w)}"] = iv
        cond[f"m={int(w)}"] = interval_below(iv, 0.0)
    return _result(cond, intervals, crit, df, {"q": FIG1_Q})


# ---------------------------------------------------------------------------- Fig. 3
def check_negative_q_flat(df: pd.DataFrame) -> CheckResult:
    """Fig. 3: every ϱ trajectory with q < 0 stays flat.

    df: the figure's tidy table. Returns a CheckResult; "not run" when its cells are missing."""
    crit = ("for every cell with q < 0 (both activations, every width): the mean over seeds of "
            f"max over epochs ≥ 1 of |ϱ(e) − ϱ(1)| has an interval below {FLAT_TOL}")
    rows = select(df, "cocorrelation")
    rows = rows[(rows["q"].astype(float) < 0) & (rows["epoch"] >= 1)]
    if rows.empty or rows["epoch"].nunique() < 2:
        return not_run(crit, "no run with q < 0 measured at two epochs")
    rows = rows.sort_values("epoch")
    dev = rows.groupby(["activation", "width", "q", "seed"])["value"].agg(
        lambda v: float((v - v.iloc[0]).abs().max())).rename("value").reset_index()
    intervals, cond = {}, {}
    for (act, w, q), t in dev.groupby(["activation", "width", "q"]):
        iv = mean_effect(t.pivot_table(index="seed", values="value").to_numpy())
        intervals[f"max_deviation_{act}_m{int(w)}_q{float(q):+.2f}"] = iv
        cond[_cell_name(act, w, q)] = interval_below(iv, FLAT_TOL)
    return _result(cond, intervals, crit, df, {"q": sorted(dev["q"].unique().tolist())})


def check_speed_grows_with_width(df: pd.DataFrame) -> CheckResult:
    """Fig. 3: for q > 0 the early rise speed of ϱ grows with width (ReLU).

    df: the figure's tidy table. Returns a CheckResult; "not run" when its cells are missing."""
    crit = ("ReLU, for every q > 0: Spearman(width, early speed) over all runs has an interval above 0 "
            f"and an estimate ≥ {MIN_RANK}, with speed = (ϱ(e*) − ϱ(1)) / (e* − 1) and e* the measured epoch "
            "nearest a third of training (≥ 3 widths)")
    rows = select(df, "cocorrelation", activation="relu")
    rows = rows[(rows["q"].astype(float) > 0) & (rows["epoch"] >= 1)]
    epochs = sorted(int(e) for e in rows["epoch"].unique())
    if len(epochs) < 3:
        return not_run(crit, "no ReLU run with q > 0 measured at three epochs")
    e_star = max(epochs[1], _nearest_epoch(epochs, 1 + (epochs[-1] - 1) / 3))
    speed = _delta_runs(df, 1, e_star, activation="relu")
    speed = speed[speed["q"].astype(float) > 0].assign(value=lambda t: t["value"] / (e_star - 1))
    intervals, cond = {}, {}
    for q, t in speed.groupby("q"):
        if t["width"].nunique() < 3:
            continue
        ys, cells = seed_matrix(t)
        iv = pooled_rank(cells["width"], ys)
        intervals[f"spearman_q{float(q):+.2f}"] = iv
        cond[f"q={float(q):+.2f}"] = increases(iv)
    if not cond:
        return not_run(crit, "fewer than 3 widths at any q > 0")
    return _result(cond, intervals, crit, df, {"activation": "relu"}, e_star=e_star)


def check_monotone_rise(df: pd.DataFrame) -> CheckResult:
    """The abstract: gradient descent makes ϱ increase monotonically (q > 0, code setting).

    df: the figure's tidy table. Returns a CheckResult; "not run" when its cells are missing."""
    crit = ("per activation, runs with q > 0: the share of successive measured epochs (from epoch 1) over "
            f"which ϱ increases, averaged over widths, has an interval above {MONOTONE_SHARE}")
    rows = select(df, "cocorrelation")
    rows = rows[(rows["q"].astype(float) > 0) & (rows["epoch"] >= 1)].sort_values("epoch")
    if rows.empty or rows["epoch"].nunique() < 3:
        return not_run(crit, "no run with q > 0 measured at three epochs")
    share = rows.groupby(["activation", "width", "q", "seed"])["value"].agg(
        lambda v: float((np.diff(v.to_numpy()) > 0).mean())).rename("value").reset_index()
    intervals, cond = {}, {}
    for act, t in share.groupby("activation"):
        iv = mean_effect(seed_matrix(t)[0])
        intervals[f"rising_share_{act}"] = iv
        cond[act] = interval_above(iv, MONOTONE_SHARE)
    return _result(cond, intervals, crit, df, {"q": sorted(share["q"].unique().tolist())})


# ---------------------------------------------------------------------------- Fig. 4
def check_best_cell(df: pd.DataFrame) -> CheckResult:
    """Fig. 4: best clean and PGD robust accuracy both at BEST_CELL, width 8192 and q = −0.15 (ReLU).

    df: the figure's tidy table. Returns a CheckResult; "not run" when its cells are missing."""
    crit = (f"ReLU: the cell {BEST_CELL} (width, q) has the highest mean clean accuracy and the highest mean "
            "PGD robust accuracy, in at least 95% of seed-bootstrap resamples")
    acc = per_run(df, "test_accuracy", activation="relu")
    have = {(int(w), round(float(q), 6)) for w, q in zip(acc["width"], acc["q"])}
    if (BEST_CELL[0], round(BEST_CELL[1], 6)) not in have:
        return not_run(crit, f"cell width={BEST_CELL[0]}, q={BEST_CELL[1]} is not in this profile's grid",
                       widths=sorted(int(w) for w in acc["width"].unique()))
    numbers: dict[str, Any] = {}
    cond = {}
    for name, metric in (("accuracy", "test_accuracy"), ("robustness", "pgd_accuracy")):
        runs = per_run(df, metric, activation="relu")
        if runs.empty:
            continue
        values, cells = seed_matrix(runs)
        names = [(int(w), round(float(q), 6)) for w, q in zip(cells["width"], cells["q"])]
        target = names.index((BEST_CELL[0], round(BEST_CELL[1], 6)))
        index = np.random.default_rng(0).integers(0, len(values), size=(N_RESAMPLES, len(values)))
        support = float((values[index].mean(axis=1).argmax(axis=1) == target).mean())
        numbers[f"best_{name}_cell"] = str(names[int(values.mean(axis=0).argmax())])
        numbers[f"{name}_support"] = _r(support, 3)
        cond[name] = support >= 0.95
    numbers["clean_accuracy"] = clean_accuracy(df, activation="relu")
    return CheckResult(verdict_from(cond), numbers, crit,
                       deciding=tuple(k for k in numbers if k.endswith("support")),
                       sizes=_sizes(df, activation="relu"))


def _rank_at_width(df: pd.DataFrame, width: int) -> tuple[dict[str, float] | None, pd.DataFrame]:
    rho = per_run(df, "cocorrelation", activation="relu", width=width)
    acc = per_run(df, "test_accuracy", activation="relu", width=width)
    m = rho.merge(acc, on=["activation", "width", "q", "seed"], suffixes=("_rho", "_acc"))
    if m["q"].nunique() < 3:
        return None, m
    return paired_rank(seed_matrix(m, "value_rho")[0], seed_matrix(m, "value_acc")[0]), m


def check_narrow_accuracy_with_rho(df: pd.DataFrame) -> CheckResult:
    """Fig. 4: at width 16, across q, accuracy rises with final ϱ (ReLU).

    df: the figure's tidy table. Returns a CheckResult; "not run" when its cells are missing."""
    crit = ("ReLU, width 16, runs over q × seeds: Spearman(final ϱ, clean test accuracy) has an interval "
            f"above 0 and an estimate ≥ {MIN_RANK} (≥ 3 values of q)")
    iv, m = _rank_at_width(df, 16)
    if iv is None:
        return not_run(crit, "fewer than 3 values of q at width 16")
    return _result({"positive": increases(iv)}, {"spearman": iv}, crit, df,
                   {"activation": "relu", "width": 16})


def check_wide_accuracy_against_rho(df: pd.DataFrame) -> CheckResult:
    """Fig. 4: at width 8192, across q, accuracy falls as final ϱ rises (ReLU).

    df: the figure's tidy table. Returns a CheckResult; "not run" when its cells are missing."""
    crit = ("ReLU, width 8192, runs over q × seeds: Spearman(final ϱ, clean test accuracy) has an interval "
            f"below 0 and an estimate ≤ −{MIN_RANK}; compared with the paper's ϱ 0.25 → 0.83 and accuracy "
            "0.93 → 0.68")
    iv, m = _rank_at_width(df, 8192)
    if iv is None:
        return not_run(crit, "width 8192 is not in this profile's grid (or has fewer than 3 values of q)",
                       paper_cocorrelation=list(PAPER_FIG4["cocorrelation"]),
                       paper_accuracy=list(PAPER_FIG4["accuracy"]))
    cells = m.groupby("q")[["value_rho", "value_acc"]].mean()
    return _result({"negative": decreases(iv)}, {"spearman": iv}, crit, df,
                   {"activation": "relu", "width": 8192},
                   cocorrelation_range=f"{cells['value_rho'].min():.2f} → {cells['value_rho'].max():.2f}",
                   accuracy_range=f"{cells['value_acc'].max():.2f} → {cells['value_acc'].min():.2f}",
                   paper="ϱ 0.25 → 0.83, accuracy 0.93 → 0.68")


# ---------------------------------------------------------------------------- Fig. 5
def check_decomposition_factors(df: pd.DataFrame) -> CheckResult:
    """Fig. 5 (our check): ρ close to 1 and the relative spread small at q = 0.25. With a constant head
    ρ = (1 + spread²)^(-1/2) exactly, so this is one condition seen twice, an identity of ours.

    df: the figure's tidy table. Returns a CheckResult; "not run" when its cells are missing."""
    crit = ("q=0.25, every width, activation and epoch: ρ ≥ 0.95 and relative spread ≤ 0.32, and "
            "ρ·√(1 + spread²·(n−1)/n) = 1 within 1e-6 (a constant head makes it an identity; the spread uses "
            "the n − 1 variance of n measured images)")
    rho = select(df, "norm_correlation", q=FIG1_Q)
    spread = select(df, "rel_spread", q=FIG1_Q)
    if rho.empty or spread.empty:
        return not_run(crit, "no ρ / spread measurements at q=0.25")
    m = rho.merge(spread, on=["run", "epoch"], suffixes=("_rho", "_spread"))
    n = m["n_test_rho"].astype(float) if "n_test_rho" in m else np.inf
    identity = float((m["value_rho"] * np.sqrt(1 + m["value_spread"] ** 2 * (n - 1) / n) - 1).abs().max())
    numbers = {"min_norm_correlation": _r(rho["value"].min()), "max_rel_spread": _r(spread["value"].max()),
               "max_identity_error": identity}
    cond = {"norm_correlation": rho["value"].min() >= 0.95, "spread": spread["value"].max() <= 0.32,
            "identity": identity < 1e-6}
    return CheckResult(verdict_from(cond), numbers, crit, deciding=tuple(numbers), sizes=_sizes(df, q=FIG1_Q))


def check_cocorrelation_drives_energy(df: pd.DataFrame) -> CheckResult:
    """Fig. 5 / Theorem 4.5: the change of 𝔖(f) during training comes mostly from ϱ, not from the
    inner block's energy (ρ and the spread being negligible).

    df: the figure's tidy table. Returns a CheckResult; "not run" when its cells are missing."""
    crit = (f"q={FIG1_Q}, per activation: with log 𝔖(f) = log ϱ + log(𝔖(f)/ϱ) (Theorem 4.5; the second "
            "term holds the inner energy, the head's and the ρ-spread factor), ϱ's share |Δ log ϱ| / "
            "(|Δ log ϱ| + |Δ log(𝔖(f)/ϱ)|) of the change from epoch 1 to the last, averaged over widths, has "
            "an interval above 0.5")
    energy_end = per_run(df, "dirichlet_full", "last", q=FIG1_Q)
    energy_start = per_run(df, "dirichlet_full", 1, q=FIG1_Q)
    rho_end = per_run(df, "cocorrelation", "last", q=FIG1_Q)
    rho_start = per_run(df, "cocorrelation", 1, q=FIG1_Q)
    key = ["activation", "width", "q", "seed"]
    m = (energy_end.merge(energy_start, on=key, suffixes=("_e1", "_e0"))
         .merge(rho_end.merge(rho_start, on=key, suffixes=("_r1", "_r0")), on=key))
    if m.empty:
        return not_run(crit, "no run at q=0.25 with 𝔖(f) and ϱ at epoch 1 and the last epoch")
    d_rho = np.log(m["value_r1"]) - np.log(m["value_r0"])
    inner_end = np.log(m["value_e1"]) - np.log(m["value_r1"])
    d_inner = inner_end - (np.log(m["value_e0"]) - np.log(m["value_r0"]))
    m = m.assign(value=d_rho.abs() / (d_rho.abs() + d_inner.abs()), d_rho=d_rho, d_inner=d_inner)
    m = m[np.isfinite(m["value"])]           # a run whose 𝔖(f) did not move at all has no share
    if m.empty:
        return not_run(crit, "𝔖(f) did not change in any run at q=0.25")
    intervals, cond, extra = {}, {}, {}
    for act, t in m.groupby("activation"):
        iv = mean_effect(seed_matrix(t)[0])
        intervals[f"cocorrelation_share_{act}"] = iv
        cond[act] = interval_above(iv, 0.5)
        extra[f"mean_dlog_cocorrelation_{act}"] = _r(t["d_rho"].mean())
        extra[f"mean_dlog_inner_{act}"] = _r(t["d_inner"].mean())
    return _result(cond, intervals, crit, df, {"q": FIG1_Q}, **extra)


# ---------------------------------------------------------------------------- Fig. 6
def check_accumulation_with_width(df: pd.DataFrame) -> CheckResult:
    """Fig. 6: ϱ(last) − ϱ(1) grows with width for every activation and q.

    df: the figure's tidy table. Returns a CheckResult; "not run" when its cells are missing."""
    crit = ("for every activation and q: Spearman(width, ϱ(last) − ϱ(1)) over all runs has an interval "
            f"above 0 and an estimate ≥ {MIN_RANK} (≥ 3 widths)")
    return _accumulation_grows(df, crit, along="width", within="q", name=lambda q: f"q{float(q):+.2f}",
                               missing="fewer than 3 widths per (activation, q)")


def check_accumulation_with_q(df: pd.DataFrame) -> CheckResult:
    """Fig. 6: ϱ(last) − ϱ(1) grows with q for every activation and width.

    df: the figure's tidy table. Returns a CheckResult; "not run" when its cells are missing."""
    crit = ("for every activation and width: Spearman(q, ϱ(last) − ϱ(1)) over all runs has an interval "
            f"above 0 and an estimate ≥ {MIN_RANK} (≥ 3 values of q)")
    return _accumulation_grows(df, crit, along="q", within="width", name=lambda w: f"m{int(w)}",
                               missing="fewer than 3 values of q per (activation, width)")


def _accumulation_grows(df: pd.DataFrame, crit: str, *, along: str, within: str,
                        name: Callable[[Any], str], missing: str) -> CheckResult:
    """Per (activation, `within`) group: the pooled Spearman(`along`, ϱ(last) − ϱ(1)) increases."""
    intervals, cond = {}, {}
    for (act, key), t in _delta_runs(df).groupby(["activation", within]):
        if t[along].nunique() < 3:
            continue
        ys, cells = seed_matrix(t)
        iv = pooled_rank(cells[along].astype(float), ys)
        intervals[f"spearman_{act}_{name(key)}"] = iv
        cond[f"{act} {name(key)}"] = increases(iv)
    if not cond:
        return not_run(crit, missing)
    return _result(cond, intervals, crit, df, {})


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

    df: the figure's tidy table. Returns a CheckResult; "not run" when its cells are missing."""
    crit = ("code setting, per activation and ε reading, over all runs of the width × q grid: "
            "Spearman(final ϱ, PGD robust accuracy at ε = 0.5) has an interval below 0 and an estimate "
            f"≤ −{MIN_RANK} (≥ 4 cells)")
    intervals, cond = {}, {}
    for act in ("linear", "relu"):
        rho = per_run(df, "cocorrelation", activation=act)
        for reading in READINGS:
            pgd = per_run(df, _robust_metric(reading, "pgd"), activation=act)
            m = rho.merge(pgd, on=["activation", "width", "q", "seed"], suffixes=("_rho", "_pgd"))
            if len(m.groupby(["width", "q"])) < 4:
                continue
            iv = paired_rank(seed_matrix(m, "value_rho")[0], seed_matrix(m, "value_pgd")[0])
            intervals[f"spearman_{act}_{reading}"] = iv
            cond[f"{act}, ε in {reading}"] = decreases(iv)
    if not cond:
        return not_run(crit, "fewer than 4 cells with PGD results")
    return _result(cond, intervals, crit, df, {})


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
    ("wang24.abstract.monotone_rise", "fig3", "fig3_init_width", check_monotone_rise,
     "Gradient descent makes the co-correlation increase monotonically during training (q > 0)."),
    ("wang24.fig4.best_cell", "fig4", "fig4_heatmaps", check_best_cell,
     "The best accuracy and robustness come from width 8192 with q = −0.15."),
    ("wang24.fig4.narrow_accuracy_with_rho", "fig4", "fig4_heatmaps", check_narrow_accuracy_with_rho,
     "At width 16, a higher accuracy goes with a higher ϱ."),
    ("wang24.fig4.wide_accuracy_against_rho", "fig4", "fig4_heatmaps", check_wide_accuracy_against_rho,
     "At width 8192, raising ϱ through q (0.25 → 0.83) lowers accuracy (0.93 → 0.68)."),
    ("wang24.fig5.rho_and_spread_negligible", "fig5", "fig5_decomposition", check_decomposition_factors,
     "The norm correlation ρ stays close to 1 and the relative spread small (for a constant head, one "
     "identity: ρ·√(1 + spread²) = 1)."),
    ("wang24.fig5.cocorrelation_drives_energy", "fig5", "fig5_decomposition",
     check_cocorrelation_drives_energy,
     "ϱ is the dominant factor of Theorem 4.5's decomposition: the change of 𝔖(f) during training comes "
     "mostly from ϱ."),
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
