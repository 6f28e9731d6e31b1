"""Ledger entries for Theorems 5.3 and 5.5 (the dynamics of the co-correlation under GD).

Each check reads the theory-setting runs of `cocorr_core.dynamics` (memoised in the result
store) and applies an explicit criterion; the verdict comes from `verdict_from`.
The pure functions `check_*_table(df)` take the table, so they can be tested on fakes.
"""
from __future__ import annotations

import pandas as pd

from ...linalg.stats import loglog_fit
from ...runs.ledger import CheckResult, Claim, verdict_from
from .dynamics import linear_dynamics_table, relu_dynamics_table
from .settings import BIBKEY as PAPER

LINEAR_PAGE = "theory_thm53_linear"
RELU_PAGE = "theory_thm55_relu"


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
    return CheckResult(verdict_from(conditions), numbers, "; ".join(conditions))


def check_acute_angles_table(df: pd.DataFrame) -> CheckResult:
    """Acute angles and C(t) ≥ 0 on the linear dynamics table (reads step, acute, C, width,
    d_cocorrelation) → CheckResult (verdict, numbers, criterion)."""
    later = df[df["step"] > 0]
    frac_acute = float((later["acute"] >= 0).mean())
    frac_C = float((df["C"] >= 0).mean())
    widest = df[df["width"] == df["width"].max()]
    numbers = {"frac_acute": frac_acute, "frac_C_nonneg": frac_C,
               "frac_C_nonneg_widest": float((widest["C"] >= 0).mean()),
               "frac_rho_increasing": float((df["d_cocorrelation"] > 0).mean())}
    conditions = {"Σ_τ x̃(τ)ᵀx̃(t) ≥ 0 in ≥ 95% of steps t ≥ 1": frac_acute >= 0.95,
                  "C(t) ≥ 0 in ≥ 95% of steps": frac_C >= 0.95}
    return CheckResult(verdict_from(conditions), numbers, "; ".join(conditions))


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
                       "; ".join(conditions) + " (valid whenever d‖aᵀW‖²/dt ≥ 0)")


def check_remainder_scale_table(df: pd.DataFrame) -> CheckResult:
    """Size of the remainder ② against width on the linear dynamics table (reads q, width, term2,
    rem_bound, rem_term, C) → CheckResult (verdict, numbers, criterion)."""
    step5 = float((df["term2"].abs() <= df["rem_bound"] * (1 + 1e-12)).mean())
    med = df.assign(abs2=df["term2"].abs()).groupby(["q", "width"])["abs2"].median().reset_index()
    slopes = {float(q): loglog_fit(g["width"], g["abs2"])["slope"] for q, g in med.groupby("q")}
    pos = {q: s for q, s in slopes.items() if q > 0}
    nonpos = {q: s for q, s in slopes.items() if q <= 0}
    numbers = {"frac_step5_bound_holds": step5,
               "slope_abs_term2_vs_width": {f"{q:g}": s for q, s in slopes.items()},
               "median_term2_over_bound": float((df["term2"].abs() / df["rem_bound"]).median()),
               "median_abs_rem_term_over_C": float((df["rem_term"].abs() / df["C"].abs()).median())}
    conditions = {"|②| ≤ (1/n)Σ‖W(0)xᵢ‖ at every step": step5 == 1.0}
    if pos:
        conditions["q > 0: |②| shrinks at least like m^-q (slope ≤ −q + 0.1)"] = all(
            s <= -q + 0.1 for q, s in pos.items())
    if nonpos:
        conditions["q ≤ 0: |②| does not vanish with width (slope ≥ −0.1)"] = all(
            s >= -0.1 for s in nonpos.values())
    return CheckResult(verdict_from(conditions), numbers,
                       "; ".join(conditions) + " (slope: least squares of log median |②| on log m)")


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
    return CheckResult(verdict_from(conditions), numbers, "; ".join(conditions))


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
        id="wang24.thm53.acute_angles", paper=PAPER, page=LINEAR_PAGE,
        statement="Linear network: the error-weighted inputs x̃(τ) of successive steps have acute "
                  "angles (Σ_τ x̃(τ)ᵀx̃(t) ≥ 0), so C(t) ≥ 0 and ϱ increases.",
        check=_linear(check_acute_angles_table)),
    Claim(
        id="wang24.thm53.lower_bound", paper=PAPER, page=LINEAR_PAGE, kind="check",  # ⇔ Ṅ_a ≥ 0
        statement="Linear network: C(t) ≥ [η(1 − (aᵀv)²)Σ_τ x̃(τ)ᵀx̃(t) + ②]/‖W(t)‖² (step 1 of the "
                  "proof replaces ‖aᵀW‖² by ‖W‖² in the first denominator).",
        check=_linear(check_lower_bound_table)),
    Claim(
        id="wang24.thm53.remainder_scale", paper=PAPER, page=LINEAR_PAGE,
        statement="Linear network: the remainder ② is bounded by (1/n)Σ‖W(0)xᵢ‖ = O(m^-q), so it "
                  "vanishes with width for q > 0 and does not for q ≤ 0.",
        check=_linear(check_remainder_scale_table)),
    Claim(
        id="wang24.thm55.fixed_pattern", paper=PAPER, page=RELU_PAGE,
        statement="ReLU network: with the activation pattern held fixed (Ḋ = 0) the rate "
                  "dϱ/dt = η C(t) ϱ(t) describes the change of the RMS co-correlation (Theorem 5.5).",
        check=_relu(check_fixed_pattern_table)),
]
