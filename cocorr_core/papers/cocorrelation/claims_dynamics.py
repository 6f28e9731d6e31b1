"""Ledger entries for Theorems 5.3 and 5.5 (the dynamics of the co-correlation under GD).

Each check reads the theory-setting runs of `cocorr_core.dynamics` (memoised in the result
store) and applies an explicit criterion; the verdict comes from `verdict_from`.
The pure functions `check_*_table(df)` take the table, so they can be tested on fakes.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ...linalg.stats import interval_above, interval_below, interval_text, seed_bootstrap, slope
from ...runs.ledger import CheckResult, Claim, verdict_from
from .dynamics import linear_dynamics_table, relu_dynamics_table
from .settings import BIBKEY as PAPER

LINEAR_PAGE = "theory_thm53_linear"
RELU_PAGE = "theory_thm55_relu"
# Decision rules: a seed-bootstrap 95% interval beyond a bound AND a point estimate beyond it by a
# margin. With four seeds a percentile interval alone is anti-conservative (it cannot be wider than
# the spread of the seeds: ~10% false "reproduced" at the bound); the margins bring the rate under
# 5% (tests/test_theorems_power.py).
GROWTH_TOL = 0.25       # "one constant K": log–log slope of the K needed on m, interval below 0.25 …
GROWTH_EST_MAX = 0.05   # … and the slope itself at most 0.05
NEGLIGIBLE_RATIO = 0.1  # "② negligible next to ①": median |②|/|①|, interval below 10 % …
NEGLIGIBLE_EST_MAX = 0.05   # … and the estimate below 5 %
FRACTION_MIN = 0.95     # "holds at the steps": fraction of steps, interval above 95 % …
FRACTION_EST_MIN = 0.975    # … and the estimate at least 97.5 %
BOOT_LEVEL = 0.95       # seed-bootstrap intervals (percentile, 2000 resamples)


# ---------------------------------------------------------------- seed-level effect sizes
def seed_array(df: pd.DataFrame, value: str, cell: str | list[str]) -> tuple[np.ndarray, list]:
    """A (seeds, cells) array of `value` (mean per seed and cell) and the cells in column order;
    NaN where a seed lacks a cell."""
    wide = df.pivot_table(index="seed", columns=cell, values=value, aggfunc="mean")
    return wide.to_numpy(float), list(wide.columns)


def growth_slope(df: pd.DataFrame, value: str, *, level: float = BOOT_LEVEL) -> dict[str, float]:
    """Log–log slope of `value` (≥ 0) on the width, one row per (seed, width), with a seed-bootstrap
    interval: the resampled seeds are averaged in log space, then the slope over the widths is
    fitted. A 0 (nothing needed) counts as a tenth of the table's smallest positive value, so a
    constant that vanishes at some widths does not read as growth."""
    pos = df[value][df[value] > 0]
    floor = float(pos.min()) / 10 if len(pos) else 1.0
    arr, widths = seed_array(df.assign(_log=np.log(df[value].clip(lower=floor))), "_log", "width")
    x = np.log(np.asarray(widths, float))
    return seed_bootstrap(arr, lambda a: slope(x, np.nanmean(a, axis=-2)), level=level)


def holds_below(iv: dict[str, float], bound: float, estimate_max: float) -> bool:
    """The interval lies below `bound` and the estimate is at most `estimate_max`."""
    return interval_below(iv, bound) and iv["estimate"] <= estimate_max


def holds_above(iv: dict[str, float], bound: float, estimate_min: float) -> bool:
    """The interval lies above `bound` and the estimate is at least `estimate_min`."""
    return interval_above(iv, bound) and iv["estimate"] >= estimate_min


def seed_mean(arr: np.ndarray, *, level: float = BOOT_LEVEL) -> dict[str, float]:
    """Mean over seeds and cells of a (seeds, cells) array, with a seed-bootstrap interval."""
    return seed_bootstrap(arr, lambda a: np.nanmean(a, axis=(-2, -1)), level=level)


def constant_needed(df: pd.DataFrame, rate: pd.Series) -> pd.DataFrame:
    """K_needed = max(0, max over steps of (main_term − C)/rate) per (width, q, seed): the smallest
    K with C(t) ≥ main_term(t) − K·rate at every step of that run. `rate` is aligned with df
    (e.g. m^-q). Returns width, q, seed, K_needed."""
    need = ((df["main_term"] - df["C"]) / rate).clip(lower=0)
    out = df[["width", "q", "seed"]].assign(K_needed=need)
    return out.groupby(["width", "q", "seed"], as_index=False)["K_needed"].max()


def sizes_text(df: pd.DataFrame) -> str:
    """The widths, q, seeds and steps behind a dynamics table, in words (the columns it has)."""
    parts = []
    if "width" in df:
        parts.append(f"widths {sorted(int(w) for w in df['width'].unique())}")
    if "q" in df:
        parts.append(f"q in {sorted(float(q) for q in df['q'].unique())}")
    if "seed" in df:
        parts.append(f"{df['seed'].nunique()} seeds")
    if "step" in df:
        parts.append(f"{df['step'].nunique()} GD steps")
    return ", ".join(parts)


def _one_constant(df: pd.DataFrame, rate: pd.Series, rate_text: str) -> CheckResult:
    pos = df["q"] > 0
    need = constant_needed(df[pos], rate[pos])
    crit = (f"per q > 0: K_needed = max_t (main term − C)/{rate_text} per (width, seed); the log–log "
            f"slope of K_needed on the width is ≤ {GROWTH_EST_MAX:g} with its seed-bootstrap 95% interval "
            f"below {GROWTH_TOL}")
    if need.empty:
        return CheckResult("not run", {"missing": "no q > 0 in the table"}, crit)
    numbers, conditions, deciding = {}, {}, []
    for q, g in need.groupby("q"):
        iv = growth_slope(g, "K_needed")
        key = f"slope_K_needed_q{q:g}"
        numbers[key] = interval_text(iv)
        numbers[f"K_needed_q{q:g}"] = {int(w): float(v)
                                       for w, v in g.groupby("width")["K_needed"].median().items()}
        conditions[f"q={q:g}: K_needed does not grow with m"] = holds_below(iv, GROWTH_TOL, GROWTH_EST_MAX)
        deciding.append(key)
    numbers["conditions"] = conditions
    return CheckResult(verdict_from(conditions), numbers, crit, deciding=tuple(deciding[:3]),
                       sizes=sizes_text(df[pos]))


def check_one_constant_table(df: pd.DataFrame) -> CheckResult:
    """Theorem 5.3 as stated: C(t) ≥ ①/‖W(t)‖² − K·m^-q with one K for all widths and steps, on the
    linear dynamics table (reads width, q, seed, step, C, main_term) → CheckResult."""
    return _one_constant(df, df["width"].astype(float) ** (-df["q"]), "m^-q")


def check_relu_one_constant_table(df: pd.DataFrame) -> CheckResult:
    """Theorem 5.5 as stated: C(t) ≥ main_term(t) − K·max{m^-1/2, m^-q} with one K for all widths and
    steps, on the ReLU dynamics table (reads width, q, seed, step, C, main_term) → CheckResult."""
    m = df["width"].astype(float)
    return _one_constant(df, np.maximum(m**-0.5, m ** (-df["q"])), "max{m^-1/2, m^-q}")


def check_acute_angles_table(df: pd.DataFrame) -> CheckResult:
    """Acute angles and C(t) ≥ 0 on the linear dynamics table, q > 0 (reads width, q, seed, step,
    acute, C) → CheckResult: the fraction of steps per seed, with a seed-bootstrap interval."""
    d = df[df["q"] > 0]
    later = d[d["step"] > 0]
    ac = seed_mean(seed_array(later.assign(ok=(later["acute"] >= 0) * 1.0), "ok", ["width", "q"])[0])
    cn = seed_mean(seed_array(d.assign(ok=(d["C"] >= 0) * 1.0), "ok", ["width", "q"])[0])
    numbers = {"frac_acute": interval_text(ac), "frac_C_nonneg": interval_text(cn)}
    conditions = {"Σ_τ x̃(τ)ᵀx̃(t) ≥ 0 at the steps t ≥ 1": holds_above(ac, FRACTION_MIN, FRACTION_EST_MIN),
                  "C(t) ≥ 0 at the steps": holds_above(cn, FRACTION_MIN, FRACTION_EST_MIN)}
    numbers["conditions"] = conditions
    return CheckResult(verdict_from(conditions), numbers,
                       "q > 0: fraction of steps per seed (mean over widths and q) at least "
                       f"{FRACTION_EST_MIN} with its seed-bootstrap 95% interval above {FRACTION_MIN}",
                       deciding=("frac_acute", "frac_C_nonneg"),
                       sizes=sizes_text(d))


def check_remainder_scale_table(df: pd.DataFrame) -> CheckResult:
    """Steps 5–6 of the proof: |②| ≤ (1/n)Σ‖W(0)xᵢ‖ = O(m^-q) with one constant, on the linear
    dynamics table for q > 0 (reads width, q, seed, step, term2, rem_bound) → CheckResult."""
    d = df[df["q"] > 0]
    step5 = float((d["term2"].abs() <= d["rem_bound"] * (1 + 1e-12)).mean())
    scaled = d.assign(K2=d["term2"].abs() * d["width"].astype(float) ** d["q"])
    need = scaled.groupby(["width", "q", "seed"], as_index=False)["K2"].max()
    numbers = {"frac_step5_bound_holds": step5,
               "median_term2_over_bound": float((d["term2"].abs() / d["rem_bound"]).median())}
    conditions = {"|②| ≤ (1/n)Σ‖W(0)xᵢ‖ at every step": step5 == 1.0}
    deciding = ["frac_step5_bound_holds"]
    for q, g in need.groupby("q"):
        iv = growth_slope(g, "K2")
        key = f"slope_max_term2_mq_q{q:g}"
        numbers[key] = interval_text(iv)
        conditions[f"q={q:g}: max_t |②|·m^q does not grow with m"] = holds_below(iv, GROWTH_TOL,
                                                                                    GROWTH_EST_MAX)
        deciding.append(key)
    numbers["conditions"] = conditions
    return CheckResult(verdict_from(conditions), numbers,
                       "; ".join(conditions)
                       + f" (log–log slope ≤ {GROWTH_EST_MAX:g}, its seed-bootstrap 95% interval below "
                       f"{GROWTH_TOL})",
                       deciding=tuple(deciding[:3]), sizes=sizes_text(d))


def check_remainder_negligible_table(df: pd.DataFrame) -> CheckResult:
    """"② is negligible next to ①" on the linear dynamics table, q > 0, steps t ≥ 1 (reads width, q,
    seed, step, term1, term2): the median over steps of |②|/|①| per run; at the widest width its
    mean over q and seeds, and its log–log slope on the width, each with a seed-bootstrap interval."""
    d = df[(df["q"] > 0) & (df["step"] > 0) & (df["term1"].abs() > 0)]
    runs = (d.assign(ratio=(d["term2"] / d["term1"]).abs())
            .groupby(["width", "q", "seed"], as_index=False)["ratio"].median())
    widest = runs[runs["width"] == runs["width"].max()]
    at_widest = seed_mean(seed_array(widest, "ratio", "q")[0])
    trend = growth_slope(runs.groupby(["width", "seed"], as_index=False)["ratio"].mean(), "ratio")
    numbers = {"median_ratio_widest": interval_text(at_widest), "slope_ratio_on_width": interval_text(trend),
               "median_ratio_by_width": {int(w): float(v)
                                         for w, v in runs.groupby("width")["ratio"].median().items()},
               "median_signed_ratio": float((d["term2"] / d["term1"]).median())}
    conditions = {f"median |②|/|①| at the widest width ≤ {NEGLIGIBLE_EST_MAX}, "
                  f"interval below {NEGLIGIBLE_RATIO}":
                  holds_below(at_widest, NEGLIGIBLE_RATIO, NEGLIGIBLE_EST_MAX),
                  "|②|/|①| shrinks with the width (slope interval below 0)": interval_below(trend, 0.0)}
    numbers["conditions"] = conditions
    return CheckResult(verdict_from(conditions), numbers,
                       "; ".join(conditions) + " (q > 0, steps t ≥ 1, seed bootstrap)",
                       deciding=("median_ratio_widest", "slope_ratio_on_width"), sizes=sizes_text(d))


def check_relu_C_nonneg_table(df: pd.DataFrame) -> CheckResult:
    """"C(t) ≥ 0 for large m early in training" (ReLU, q > 0; reads width, q, seed, step, C): the
    fraction of steps with C ≥ 0 per seed at each width, with a seed-bootstrap interval; judged at
    the widest width."""
    d = df[df["q"] > 0]
    d = d.assign(ok=(d["C"] >= 0) * 1.0)
    numbers, iv = {}, None
    for w, g in d.groupby("width"):
        iv = seed_mean(seed_array(g, "ok", "q")[0])
        numbers[f"frac_C_nonneg_m{int(w)}"] = interval_text(iv)
    crit = (f"q > 0: fraction of steps with C(t) ≥ 0 per seed (mean over q); at the widest width at least "
            f"{FRACTION_EST_MIN} with its seed-bootstrap 95% interval above {FRACTION_MIN}")
    if iv is None:
        return CheckResult("not run", {"missing": "no q > 0 in the table"}, crit)
    conditions = {"C(t) ≥ 0 at the steps, widest width": holds_above(iv, FRACTION_MIN, FRACTION_EST_MIN)}
    numbers["conditions"] = conditions
    return CheckResult(verdict_from(conditions), numbers, crit,
                       deciding=(f"frac_C_nonneg_m{int(d['width'].max())}",), sizes=sizes_text(d))


def _rel_err(measured: pd.Series, predicted: pd.Series) -> pd.Series:
    ok = measured.abs() > 0
    return ((measured - predicted).abs() / measured.abs())[ok]


def _probe_ratio(df: pd.DataFrame, col: str) -> float:
    pr = df.dropna(subset=["err_1", col])
    pr = pr[pr["err_1"] > 0]
    return float((pr[col] / pr["err_1"]).median()) if len(pr) else float("nan")


def check_rate_formula_table(df: pd.DataFrame) -> CheckResult:
    """Theorem 5.3's rate on the linear dynamics table (`linear_dynamics_table`: one row per width,
    q, seed, step; reads d_cocorrelation, pred, err_1, err_0.5, err_0.25) → CheckResult (verdict,
    numbers, criterion)."""
    rel = _rel_err(df["d_cocorrelation"], df["pred"])
    med, p90 = float(rel.median()), float(rel.quantile(0.9))
    r2, r4 = _probe_ratio(df, "err_0.5"), _probe_ratio(df, "err_0.25")
    numbers = {"median_rel_error": med, "p90_rel_error": p90, "err_ratio_eta_2": r2,
               "err_ratio_eta_4": r4, "steps": int(len(df))}
    conditions = {"median |Δϱ − ηCϱ|/|Δϱ| < 0.05": med < 0.05,
                  "err(η/4)/err(η) < 0.1 (second order; 1/16 expected)": r4 < 0.1}
    return CheckResult(verdict_from(conditions), numbers, "; ".join(conditions),
                       deciding=("median_rel_error", "err_ratio_eta_4"), sizes=sizes_text(df))


def check_lower_bound_table(df: pd.DataFrame) -> CheckResult:
    """Step 1's bound C(t) ≥ (① + ②)/‖W‖² on the linear dynamics table (reads C, bound, half_dA)
    → CheckResult (verdict, numbers, criterion)."""
    scale = df[["C", "bound"]].abs().max(axis=1).clip(lower=1e-300)
    holds = df["C"] >= df["bound"] - 1e-9 * scale
    frac_dA = float((df["half_dA"] >= 0).mean())
    numbers = {"frac_bound_holds": float(holds.mean()), "frac_dA_nonneg": frac_dA,
               "frac_bound_holds_when_dA_neg": float(holds[df["half_dA"] < 0].mean())
               if (df["half_dA"] < 0).any() else None,
               "median_C_over_bound": float((df["C"] / df["bound"]).median())}
    conditions = {"C(t) ≥ (① + ②)/‖W‖² in ≥ 99% of steps": numbers["frac_bound_holds"] >= 0.99}
    return CheckResult(verdict_from(conditions), numbers,
                       "; ".join(conditions) + " (valid whenever d‖aᵀW‖²/dt ≥ 0)",
                       deciding=("frac_bound_holds", "frac_dA_nonneg"), sizes=sizes_text(df))


def check_fixed_pattern_table(df: pd.DataFrame) -> CheckResult:
    """Theorem 5.5's frozen-pattern rate on the ReLU dynamics table (`relu_dynamics_table`: one row
    per width, q, seed, step; reads d_cocorrelation, d_cocorrelation_frozen, pred, flip_frac,
    err_1, err_0.25) → CheckResult (verdict, numbers, criterion)."""
    rel_actual = _rel_err(df["d_cocorrelation"], df["pred"])
    rel_frozen = _rel_err(df["d_cocorrelation_frozen"], df["pred"])
    flip = float(df["flip_frac"].mean())
    total = (df["d_cocorrelation"] - df["pred"]).abs()
    share = ((df["d_cocorrelation"] - df["d_cocorrelation_frozen"]).abs() / total)[total > 0]
    numbers = {"median_rel_error_actual": float(rel_actual.median()),
               "median_rel_error_frozen_step": float(rel_frozen.median()),
               "mean_flip_frac": flip, "max_flip_frac": float(df["flip_frac"].max()),
               "median_error_share_from_flips": float(share.median()),
               "err_ratio_eta_4_frozen": _probe_ratio(df, "err_0.25")}
    conditions = {"median |Δϱ − ηCϱ|/|Δϱ| < 0.1 with D frozen": numbers["median_rel_error_actual"] < 0.1,
                  "< 1% of (unit, sample) pairs flip per step": flip < 0.01}
    return CheckResult(verdict_from(conditions), numbers, "; ".join(conditions),
                       deciding=("median_rel_error_actual", "mean_flip_frac"), sizes=sizes_text(df))


def _linear(pure):
    return lambda profile: pure(linear_dynamics_table(profile))


def _relu(pure):
    return lambda profile: pure(relu_dynamics_table(profile))



CLAIMS = [
    Claim(
        id="wang24.thm53.rate_formula", paper=PAPER, page=LINEAR_PAGE, kind="check",  # C is ϱ's log-rate
        statement="Linear network: the co-correlation obeys dϱ/dt = η C(t) ϱ(t) (Theorem 5.3); "
                  "one GD step changes ϱ by η C ϱ up to an error of second order in η.",
        check=_linear(check_rate_formula_table)),
    Claim(
        id="wang24.thm53.one_constant", paper=PAPER, page=LINEAR_PAGE,
        statement="Linear network, q > 0 (Theorem 5.3 as stated): C(t) ≥ η(1 − (aᵀv)²)Σ_τ x̃(τ)ᵀx̃(t)/‖W(t)‖² "
                  "− K·m^-q, with one constant K for all widths and steps.",
        check=_linear(check_one_constant_table)),
    Claim(
        id="wang24.thm53.remainder_negligible", paper=PAPER, page=LINEAR_PAGE,
        statement="Linear network, q > 0: the remainder ② is negligible next to the main term ① at large "
                  "width.",
        check=_linear(check_remainder_negligible_table)),
    Claim(
        id="wang24.thm53.acute_angles", paper=PAPER, page=LINEAR_PAGE,
        statement="Linear network, q > 0: the error-weighted inputs x̃(τ) of successive steps have acute "
                  "angles (Σ_τ x̃(τ)ᵀx̃(t) ≥ 0), so C(t) ≥ 0 and ϱ increases.",
        check=_linear(check_acute_angles_table)),
    Claim(
        id="wang24.thm53.lower_bound", paper=PAPER, page=LINEAR_PAGE, kind="check",  # ⇔ Ṅ_a ≥ 0
        statement="Linear network: C(t) ≥ [η(1 − (aᵀv)²)Σ_τ x̃(τ)ᵀx̃(t) + ②]/‖W(t)‖² (step 1 of the "
                  "proof replaces ‖aᵀW‖² by ‖W‖² in the first denominator).",
        check=_linear(check_lower_bound_table)),
    Claim(
        id="wang24.thm53.remainder_scale", paper=PAPER, page=LINEAR_PAGE,
        statement="Linear network, q > 0: the remainder ② is at most (1/n)Σ‖W(0)xᵢ‖ = O(m^-q), with one "
                  "constant for all widths.",
        check=_linear(check_remainder_scale_table)),
    Claim(
        id="wang24.thm55.fixed_pattern", paper=PAPER, page=RELU_PAGE,
        statement="ReLU network: with the activation pattern held fixed (Ḋ = 0) the rate "
                  "dϱ/dt = η C(t) ϱ(t) describes the change of the RMS co-correlation (Theorem 5.5).",
        check=_relu(check_fixed_pattern_table)),
    Claim(
        id="wang24.thm55.one_constant", paper=PAPER, page=RELU_PAGE,
        statement="ReLU network, q > 0 (Theorem 5.5 as stated): C(t) ≥ η Σ_{τ≤t}(1 − aᵀv(τ)aᵀv(t)) "
                  "E_x[x̃_*(τ)ᵀx̃_*(t)] / E_x‖D(t)W(t)‖₂² − K·max{m^-1/2, m^-q}, with one constant K.",
        check=_relu(check_relu_one_constant_table)),
    Claim(
        id="wang24.thm55.C_nonneg", paper=PAPER, page=RELU_PAGE,
        statement="ReLU network, q > 0: at large width C(t) ≥ 0 early in training, so the co-correlation "
                  "grows.",
        check=_relu(check_relu_C_nonneg_table)),
]
