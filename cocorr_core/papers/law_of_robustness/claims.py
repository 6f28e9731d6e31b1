"""Ledger entries of the law-of-robustness chapter. Each criterion is a function of a tidy table
(one row per network: n, d, width, seed and the measured numbers), so the tests can feed it
synthetic tables with a known answer."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ...linalg.stats import interval_above, interval_text, seed_bootstrap
from ...runs.ledger import CheckResult, Claim, verdict_from
from . import experiments, theory
from .settings import BIBKEY, BIBKEY_UNIVERSAL, get_profile

SLOPE_RANGE = (-0.75, -0.25)   # an interval inside this range counts as "slope ≈ −1/2"
# A bound counts as holding when the interval of the smallest log ratio clears log 1.1: with 4 seeds
# a percentile bootstrap is anti-conservative at the boundary (about 8% false "reproduced" at a
# true ratio of exactly 1); the 10% margin brings that under 5% (tests/test_law_of_robustness.py).
MIN_LOG_RATIO = float(np.log(1.1))
CELL = ["n", "d"]


def seed_cell_array(df: pd.DataFrame, value) -> np.ndarray:
    """(seeds, cells) array of a per-(seed, cell) value; value: table → Series indexed (seed, n, d)."""
    s = value(df)
    return s.unstack(CELL).sort_index().to_numpy(float)


def loglog_slopes(df: pd.DataFrame, column: str) -> np.ndarray:
    """Slope of log `column` against log width, per seed and (n, d) cell: (seeds, cells)."""
    def per_group(g: pd.DataFrame) -> float:
        return float(np.polyfit(np.log(g["width"]), np.log(g[column]), 1)[0]) if g["width"].nunique() > 1 \
            else np.nan
    return seed_cell_array(df, lambda t: t.groupby(["seed", *CELL])[[column, "width"]].apply(per_group))


def log_ratios(df: pd.DataFrame, column: str, reference: str) -> np.ndarray:
    """Smallest log(column / reference) over the widths, per seed and (n, d) cell: (seeds, cells)."""
    t = df.assign(r=np.log(df[column] / df[reference]))
    return seed_cell_array(t, lambda u: u.groupby(["seed", *CELL])["r"].min())


def slope_decision(slopes: np.ndarray) -> tuple[str, dict, dict]:
    """Verdict on "slope ≈ −1/2" from per-seed, per-cell slopes: the seed-bootstrap interval of the
    mean slope must exclude 0 (decay) and lie inside SLOPE_RANGE. Returns (verdict, interval, conditions)."""
    iv = seed_bootstrap(slopes, lambda a: np.nanmean(a, axis=(-2, -1)))
    lo, hi = SLOPE_RANGE
    decays = bool(np.isfinite(iv["high"]) and iv["high"] < 0)
    conditions = {"interval below 0 (the estimate decays with k)": decays,
                  f"interval inside [{lo}, {hi}]": bool(np.isfinite(iv["low"]) and lo <= iv["low"]
                                                       and iv["high"] <= hi)}
    return verdict_from(conditions), iv, conditions


def bound_decision(ratios: np.ndarray) -> tuple[str, dict, dict]:
    """Verdict on "measured ≥ reference in every cell" from (seeds, cells) log ratios: the seed
    bootstrap interval of the smallest cell mean must lie above log 1.1 (MIN_LOG_RATIO)."""
    iv = seed_bootstrap(ratios, lambda a: np.nanmin(np.nanmean(a, axis=-2), axis=-1))
    conditions = {"interval of min log ratio above log 1.1": interval_above(iv, MIN_LOG_RATIO)}
    return verdict_from(conditions), iv, conditions


def _values(series: pd.Series) -> str:
    """Sorted distinct values as plain numbers ('[4, 8, 16]', not numpy reprs)."""
    return "[" + ", ".join(str(v) for v in sorted(series.unique().tolist())) + "]"


def _sizes(df: pd.DataFrame) -> str:
    cells = ", ".join(f"(n={n}, d={d})" for n, d in df[CELL].drop_duplicates().itertuples(index=False))
    return (f"{cells}; widths {_values(df.width)}; {df.seed.nunique()} seeds; "
            f"{int(df.fitted.sum())}/{len(df)} networks reached margin 1")


def _fitted(profile: str) -> pd.DataFrame:
    df = experiments.sweep_table(profile)
    return df[df.fitted]


def _check_slope(profile: str) -> CheckResult:
    df = _fitted(profile)
    verdict, iv, cond = slope_decision(loglog_slopes(df, "lower"))
    _, iv_up, _ = slope_decision(loglog_slopes(df, "spectral"))
    numbers = {"lower_slope": interval_text(iv), "spectral_slope": interval_text(iv_up),
               "conjectured_slope": -0.5, "conditions": cond}
    return CheckResult(verdict, numbers, f"seed-bootstrap 95% interval of the mean log–log slope of the "
                       f"lower "
                       f"Lipschitz estimate against k (over the (n, d) cells) lies below 0 and inside "
                       f"[{SLOPE_RANGE[0]}, {SLOPE_RANGE[1]}] (only the first: partly)",
                       deciding=("lower_slope", "spectral_slope"), sizes=_sizes(df))


def _bound_check(profile: str, column: str, reference: str, what: str) -> CheckResult:
    df = _fitted(profile)
    verdict, iv, cond = bound_decision(log_ratios(df, column, reference))
    ratio = df[column] / df[reference]
    numbers = {"min_log_ratio": interval_text(iv), "smallest_ratio": float(ratio.min()),
               "median_ratio": float(ratio.median()), "conditions": cond}
    return CheckResult(verdict, numbers, f"seed-bootstrap 95% interval of min over cells of mean over "
                       f"seeds of "
                       f"log({column} / {what}) lies above log 1.1 (constant c = 1, with a 10% margin)",
                       deciding=("min_log_ratio", "smallest_ratio"), sizes=_sizes(df))


def _check_nd(profile: str) -> CheckResult:
    df = theory.nd_table(profile)
    df = df[df.fitted]
    eps = 1e-9
    chain = bool(((df.upper >= df.witness_quotient * (1 - eps))
                  & (df.witness_quotient >= df.witness_bound * (1 - eps))
                  & (df.witness_bound >= df.proj_bound * (1 - eps))).all())
    ratio = df.proj_bound / df.law
    sym = theory.projection_bound_symbolic()["ratio_at_n_eq_d"]
    conditions = {"upper ≥ witness quotient ≥ 2/(‖Px₊‖+‖Px₋‖) ≥ √(n_min/(k‖X‖²)) for every network": chain,
                  "bound/√(n/k) ≥ half the sympy value √2/4 at n = d": bool(ratio.min() >= 0.5 * float(sym))}
    numbers = {"networks": int(len(df)), "min_bound_over_law": float(ratio.min()),
               "sympy_ratio_at_n_eq_d": float(sym), "min_lower_over_law": float((df.lower / df.law).min()),
               "conditions": conditions}
    return CheckResult(verdict_from(conditions), numbers,
                       "the projection chain holds for every fitted network at n = d, and its bound stays "
                       "within "
                       "a factor 2 of the sympy constant √2/4 times √(n/k)",
                       deciding=("min_bound_over_law", "sympy_ratio_at_n_eq_d"),
                       sizes=f"n = d in {_values(df.d)}; widths {_values(df.width)}; "
                             f"{df.seed.nunique()} seeds")


def _check_quadratic(profile: str) -> CheckResult:
    df = theory.quadratic_table(profile)
    conditions = {"interpolates (residual < 1e-8)": bool((df.max_residual < 1e-8).all()),
                  "2‖M‖_op ≥ 2n/(k‖S‖_op) for every fit": bool((df.lip_exact >= df.bound * (1 - 1e-9)).all()),
                  "2‖M‖_op ≥ √(n/k) for every fit": bool((df.lip_exact >= df.law).all()),
                  "ascent estimate ≤ exact Lip": bool((df.lip_ascent <= df.lip_exact * (1 + 1e-9)).all())}
    numbers = {"fits": int(len(df)), "min_lip_over_law": float((df.lip_exact / df.law).min()),
               "min_bound_over_law": float((df.bound / df.law).min()),
               "ascent_over_exact_min": float((df.lip_ascent / df.lip_exact).min()), "conditions": conditions}
    return CheckResult(verdict_from(conditions), numbers,
                       "for degree-2 interpolants with n = d(d+1)/4: exact fit, the nuclear-norm bound, "
                       "Lip ≥ √(n/k), and the ascent never exceeds the exact Lipschitz constant",
                       deciding=("min_lip_over_law", "min_bound_over_law"),
                       sizes=f"d in {_values(df.d)}, n = d(d+1)/4, {df.seed.nunique()} data draws")


def _check_bracket(profile: str) -> CheckResult:
    df = experiments.sweep_table(profile)
    eps = 1e-9
    ok = bool((df.lower <= df.upper * (1 + eps)).all())
    conditions = {"lower ≤ min(spectral, path) for every network": ok,
                  "Dirichlet energy ≤ the largest data gradient": bool((df.dirichlet_full
                                                                         <= df.lower_data * (1 + eps)).all()),
                  "formula ∇f = Wᵀ(a ⊙ σ′(Wx)) matches sympy (< 1e-12)":
                      theory.gradient_formula_check() < 1e-12}
    numbers = {"networks": int(len(df)), "max_lower_over_upper": float((df.lower / df.upper).max()),
               "median_upper_over_lower": float((df.upper / df.lower).median()), "conditions": conditions}
    return CheckResult(verdict_from(conditions), numbers, "the bracket is ordered for every trained network",
                       deciding=("max_lower_over_upper", "median_upper_over_lower"), sizes=_sizes(df))


PAGE = "lor_conjecture"
PROVED = "lor_proved_cases"
CLAIMS: list[Claim] = [
    Claim("bubeck21.slope", BIBKEY, "The Lipschitz constant of networks fitting random labels falls like "
          "k^(-1/2) with the number of neurons k (log–log slope ≈ −1/2).", _check_slope, PAGE),
    Claim("bubeck21.lower_bound", BIBKEY, "Every k-neuron network that fits n random labels has Lipschitz "
          "constant at least (a constant times) √(n/k).",
          lambda p: _bound_check(p, "lower", "law", "√(n/k)"), PAGE),
    Claim("bs21.universal", BIBKEY_UNIVERSAL, "A model with p parameters that fits n noisy labels of "
          "isoperimetric d-dimensional data has Lipschitz constant at least (up to constants and logs) "
          "√(nd/p).",
          lambda p: _bound_check(p, "lower", "universal_law", "√(nd/p)"), PAGE),
    Claim("bubeck21.spectral", BIBKEY, "For fitting networks the spectral-norm bound ‖W‖_op‖a‖₂ is at least "
          "(a constant times) √(n/k).", lambda p: _bound_check(p, "spectral", "law", "√(n/k)"), PROVED),
    Claim("bubeck21.bracket", BIBKEY, "Our Lipschitz bracket is ordered: the largest measured gradient norm "
          "never exceeds the spectral and path-norm bounds.", _check_bracket, PAGE, kind="check"),
    Claim("bubeck21.n_eq_d", BIBKEY, "When n ≈ d the law holds for the true Lipschitz constant, by the "
          "projection argument (our reconstruction).", _check_nd, PROVED, kind="check"),
    Claim("bubeck21.quadratic", BIBKEY, "For degree-2 activations with n ≈ d² the law holds on the unit ball "
          "(our reconstruction via the nuclear norm).", _check_quadratic, PROVED, kind="check"),
]


def profile_sizes(profile: str | None = None) -> str:
    prof = get_profile(profile)
    return f"profile {prof.name}: cells {prof.cells}, {prof.seeds} seeds"
