"""Ledger entries for the theory chapter (definitions, Theorem 4.1, Theorem 4.5, Lemma B.2,
Properties 1-2). Each check recomputes (or reads from the result store) the numbers of its
page and derives the verdict from an explicit criterion."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ...linalg.stats import (
    interval_above,
    interval_below,
    interval_text,
    rank_correlation,
    seed_bootstrap,
    spearman,
)
from ...runs.ledger import CheckResult, Claim, verdict_from
from . import theory
from .claims_dynamics import FRACTION_EST_MIN, FRACTION_MIN, holds_above, seed_array, seed_mean
from .settings import BIBKEY as PAPER
from .settings import LEMMA_DELTA, RISE_WINDOW

THM45_TOL = 1e-10


def _check_thm45(profile: str) -> CheckResult:
    sym = theorem45_symbolic_zero()
    df = theory.thm45_table(profile)
    numbers = {
        "symbolic_difference_is_zero": sym,
        "networks": int(len(df)),
        "max_rel_err_summarize": float(df["rel_err_summarize"].max()),
        "max_rel_err_factors": float(df["rel_err_factors"].max()),
        "cocorrelation_range": [float(df["cocorrelation"].min()), float(df["cocorrelation"].max())],
        "norm_correlation_range": [float(df["norm_correlation"].min()), float(df["norm_correlation"].max())],
        "max_linear_closed_form_err": float(df["closed_form_err"].max(skipna=True)),
    }
    conditions = {
        "identity holds symbolically": sym,
        "identity holds numerically": numbers["max_rel_err_summarize"] < THM45_TOL
        and numbers["max_rel_err_factors"] < THM45_TOL,
        "0 <= ϱ <= 1 and 0 <= ρ <= 1": bool((df["cocorrelation"].between(0, 1 + 1e-12)).all()
                                                   and (df["norm_correlation"].between(0, 1 + 1e-12)).all()),
        "linear closed form matches": numbers["max_linear_closed_form_err"] < THM45_TOL,
    }
    numbers["conditions"] = conditions
    return CheckResult(verdict_from(conditions), numbers,
                       f"sympy difference == 0 (3 atoms); |rhs/S(f) - 1| < {THM45_TOL:g} on every random "
                       f"two-layer net; ϱ, ρ in [0, 1]; |ϱ - ||a^T W||/||W||| < {THM45_TOL:g}",
                       deciding=("symbolic_difference_is_zero", "max_rel_err_summarize",
                                 "max_linear_closed_form_err"),
                       sizes=f"{len(df)} random two-layer nets (both heads, both activations, widths "
                             f"{sorted(int(w) for w in df['width'].unique())})")


def theorem45_symbolic_zero() -> bool:
    """True if sympy reduces the difference of Theorem 4.5's squared sides (3 atoms) to 0."""
    return bool(theory.theorem45_identity(3)["difference"] == 0)


def _check_thm41(profile: str) -> CheckResult:
    return check_thm41_table(theory.thm41_table(profile))


def check_thm41_table(df: pd.DataFrame) -> CheckResult:
    """Theorem 4.1's chain on `theory.thm41_experiment`'s table (one row per seed and radius):
    at the smallest radius, in every seed, the measured robust risk is below the bound and the
    first-order value is accurate; each step of the proof holds in numbers; r* (where the bound
    first fails) is reported with a seed-bootstrap interval, not judged."""
    df = df.sort_values(["seed", "radius"])
    first = df.groupby("seed").head(1).set_index("seed")
    excess = first["robust_risk"] - first["natural_risk"]
    excess_ratio = excess / (first["first_order"] - first["natural_risk"])
    r_star = theory.crossover_radii(df)
    iv = seed_mean(r_star[["r_star"]].to_numpy(float))
    numbers = {
        "smallest_radius": float(first["radius"].iloc[0]),
        "first_order_excess_ratio": [float(v) for v in excess_ratio],
        "crossover_radius": interval_text(iv),
        "seeds_without_crossover": int(r_star["r_star"].isna().sum()),
        "max_sup_gap": float(df["sup_gap"].abs().max()),
        "min_jensen_gap": float(df["jensen_gap"].min()),
        "energy_S_LoF": [float(v) for v in first["energy"]],
        "eval_accuracy": [float(v) for v in first["eval_accuracy"]],
    }
    conditions = {
        "bound holds at the smallest radius (every seed)":
            bool((first["robust_risk"] <= first["bound"]).all()),
        "first order accurate there: |(robust − R)/(r E‖∇ₓL‖) − 1| < 0.1 (every seed)":
            bool(((excess_ratio - 1).abs() < 0.1).all()),
        "Step 2: the attack on the linearised loss reaches r‖g‖ within 1%": numbers["max_sup_gap"] < 0.01,
        "Step 3: E‖g‖ ≤ 𝔖(L∘f) (every seed)": numbers["min_jensen_gap"] >= 0,
    }
    numbers["conditions"] = conditions
    return CheckResult(verdict_from(conditions), numbers,
                       "; ".join(conditions)
                       + "; the crossover radius r* is reported (seed bootstrap), not judged",
                       deciding=("first_order_excess_ratio", "crossover_radius", "max_sup_gap"),
                       sizes=(f"ReLU width {int(df['width'].iloc[0])}, q={float(df['q'].iloc[0]):g}, "
                              f"{df['seed'].nunique()} seeds, {df['radius'].nunique()} radii, "
                              f"{int(df['restarts'].iloc[0])} random starts per radius"))


LEMMA_PARTS = {"part1": ("mean norm", "within"), "part2": ("mean squared norm", "within_sq"),
               "part3": ("root mean squared norm", "within_rms")}


def _check_lemmaB2(profile: str) -> CheckResult:
    return check_lemmaB2_table(theory.lemmaB2_table(profile))


def check_lemmaB2_table(df: pd.DataFrame, delta: float = LEMMA_DELTA) -> CheckResult:
    """Lemma B.2, parts 1–3, on `theory.lemmaB2_simulation`'s table: on independent vectors (the
    lemma's hypothesis) and q > 0, the fraction of trials within each part's rate (O-constant 1),
    with a bootstrap interval over the trials (each an independent draw), must lie above 1 − δ.
    The correlated "inputs" setting (how the proof uses the lemma) is reported beside it."""
    iid = df[(df["setting"] == "iid") & (df["q"] > 0)].rename(columns={"trial": "seed"})
    cells = df.groupby(["setting", "width", "n", "q"])
    se = cells["mean_norm"].std() / np.sqrt(cells["mean_norm"].count())
    z_chi = float(((cells["mean_norm"].mean() - cells["chi_mean"].first()).abs() / se).max())
    numbers, conditions, deciding = {}, {}, []
    for label, (part, col) in LEMMA_PARTS.items():
        key = f"frac_within_{label}"
        if iid.empty:
            break
        iv = seed_mean(seed_array(iid.assign(ok=iid[col] * 1.0), "ok", ["width", "n", "q"])[0])
        numbers[key] = interval_text(iv)
        inputs = df[(df["setting"] == "inputs") & (df["q"] > 0)]
        numbers[f"{key}_inputs"] = float(inputs[col].mean()) if len(inputs) else float("nan")
        conditions[f"{part}: within the rate in ≥ 1 − δ of the trials (interval)"] = interval_above(
            iv, 1 - delta)
        deciding.append(key)
    if not conditions:
        return CheckResult("not run", {"missing": "no i.i.d. trials with q > 0"}, "needs q > 0")
    numbers.update(max_mc_vs_chi_mean_in_standard_errors=z_chi, delta=delta,
                   trials=int(df["trial"].nunique()))
    conditions["Monte Carlo mean matches the chi mean (within 4 standard errors)"] = z_chi <= 4.0
    numbers["conditions"] = conditions
    return CheckResult(verdict_from(conditions), numbers,
                       f"i.i.d. z_i, q > 0: per part, the fraction of trials within its stated rate "
                       f"(δ = {delta}, O-constant 1), with a bootstrap interval over trials, lies above "
                       "1 − δ; every cell's Monte Carlo mean within 4 standard errors of the chi mean",
                       deciding=tuple(deciding),
                       sizes=(f"widths {sorted(int(w) for w in df['width'].unique())}, n in "
                              f"{sorted(int(n) for n in df['n'].unique())}, q in "
                              f"{sorted(float(q) for q in df['q'].unique())}, "
                              f"{df['trial'].nunique()} trials"))


SPEED_SLOPE_RANGE = (0.5, 1.5)   # "inverse to ‖W‖²": the rise ∝ (1/‖W‖²)^slope with slope within 0.5 of 1
SPEARMAN_EST_MIN = 0.6           # … and the rank correlation at least 0.6 (its interval above 0)


def speed_effects(rates: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Spearman and log–log slope of the rise of ϱ on 1/‖·‖² at step 0 across the (width, q) cells,
    from `theory.rise_rates`' table (one row per width, q, seed): the seeds are resampled, the
    rise and 1/‖·‖² of each cell averaged over the resampled seeds, then ranked or fitted."""
    rise, cells = seed_array(rates, "rise", ["width", "q"])
    inv, _ = seed_array(rates, "inv_norm_sq", ["width", "q"])
    both = np.stack([rise, inv], axis=1)                           # (seeds, 2, cells)

    def rank(a):
        m = np.nanmean(a, axis=-3)
        return rank_correlation(m[..., 1, :], m[..., 0, :])

    def fit(a):
        m = np.nanmean(a, axis=-3)
        with np.errstate(invalid="ignore", divide="ignore"):
            return nan_slope(np.log(m[..., 1, :]), np.log(m[..., 0, :]))

    rising = np.nanmean(rise, axis=0) > 0
    return {"spearman": seed_bootstrap(both, rank), "slope": seed_bootstrap(both, fit), "cells": len(cells),
            "cells_rising": int(rising.sum())}


def nan_slope(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least-squares slope of y on x along the last axis over the points where both are finite
    (NaN with fewer than three such points): a log–log slope that leaves out cells whose rise is
    not positive."""
    ok = np.isfinite(x) & np.isfinite(y)
    n = ok.sum(-1)
    x0, y0 = np.where(ok, x, 0.0), np.where(ok, y, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        xc = np.where(ok, x0 - (x0.sum(-1) / n)[..., None], 0.0)
        yc = np.where(ok, y0 - (y0.sum(-1) / n)[..., None], 0.0)
        den = (xc * xc).sum(-1)
        return np.where((n >= 3) & (den > 0), (xc * yc).sum(-1) / np.where(den > 0, den, 1.0), np.nan)


def check_speed_table(rates: pd.DataFrame, norm_text: str) -> CheckResult:
    """Property 2 on a rise table (`theory.rise_rates`: width, q, seed, rise, inv_norm_sq): the rise
    increases with 1/‖·‖² (Spearman interval above 0) and in proportion (slope interval inside
    SPEED_SLOPE_RANGE)."""
    eff = speed_effects(rates)
    lo, hi = SPEED_SLOPE_RANGE
    numbers = {"spearman": interval_text(eff["spearman"]), "loglog_slope": interval_text(eff["slope"]),
               "cells": eff["cells"], "cells_rising": eff["cells_rising"], "window_steps": RISE_WINDOW}
    conditions = {f"rise increases with 1/{norm_text} (Spearman ≥ {SPEARMAN_EST_MIN}, interval above 0)":
                  holds_above(eff["spearman"], 0.0, SPEARMAN_EST_MIN),
                  f"in proportion: log–log slope interval inside [{lo}, {hi}]":
                      interval_above(eff["slope"], lo) and interval_below(eff["slope"], hi)}
    numbers["conditions"] = conditions
    return CheckResult(verdict_from(conditions), numbers,
                       f"over widths × q (means over seeds, seed bootstrap): the rise of ϱ over the first "
                       f"{RISE_WINDOW} steps against 1/{norm_text} at step 0; " + "; ".join(conditions),
                       deciding=("spearman", "loglog_slope"),
                       sizes=(f"widths {sorted(int(w) for w in rates['width'].unique())}, q in "
                              f"{sorted(float(q) for q in rates['q'].unique())}, "
                              f"{rates['seed'].nunique()} seeds"))


def _check_prop2(profile: str) -> CheckResult:
    rates = theory.rise_rates(theory.trajectory_table(profile), RISE_WINDOW, theory.LINEAR_LR)
    return check_speed_table(rates, "‖W(0)‖₂²")


def _check_prop2_relu(profile: str) -> CheckResult:
    rates = theory.rise_rates(theory.relu_rise_table(profile), RISE_WINDOW, theory.RELU_LR, norm="energy")
    return check_speed_table(rates, "E_x‖D(0)W(0)‖₂²")


def _check_prop1(profile: str) -> CheckResult:
    return check_saturation_table(theory.trajectory_table(profile))


def check_saturation_table(dyn: pd.DataFrame) -> CheckResult:
    """Property 1 on `theory.linear_trajectories`' table (width, q, seed, step, cocorrelation,
    alignment): the fraction of runs whose ϱ rises less in the second half of training than in the
    first, and the Spearman correlation of ϱ with (aᵀv)² along each seed's checkpoints, each with
    a seed-bootstrap interval; and (aᵀv)² ≥ 0.95 wherever ϱ ≥ 0.99."""
    steps = np.sort(dyn["step"].unique())
    last = steps[-1]
    half = steps[np.argmin(np.abs(steps - last / 2))]
    keys = ["width", "q", "seed"]
    at = {s: dyn[dyn["step"] == s].set_index(keys)["cocorrelation"] for s in (0, half, last)}
    slowing = ((at[last] - at[half]) < (at[half] - at[0])).astype(float).rename("ok").reset_index()
    frac = seed_mean(seed_array(slowing, "ok", ["width", "q"])[0])
    ranks = dyn.groupby("seed").apply(lambda g: spearman(g["cocorrelation"], g["alignment"]),
                                      include_groups=False)
    rank_iv = seed_bootstrap(ranks.to_numpy(float)[:, None], lambda a: np.nanmean(a, axis=(-2, -1)))
    final = dyn[dyn["step"] == last]
    saturated = final[final["cocorrelation"] >= 0.99]
    numbers = {"frac_runs_slowing": interval_text(frac),
               "spearman_cocorrelation_alignment": interval_text(rank_iv),
               "runs_saturated": int(len(saturated)), "runs": int(len(final)),
               "min_alignment_when_saturated":
                   float(saturated["alignment"].min()) if len(saturated) else float("nan")}
    conditions = {"rise slows down in (nearly) every run": holds_above(frac, FRACTION_MIN, FRACTION_EST_MIN),
                  "(aᵀv)² ≥ 0.95 whenever ϱ ≥ 0.99":
                      len(saturated) > 0 and numbers["min_alignment_when_saturated"] >= 0.95,
                  "alignment grows with ϱ (Spearman interval above 0.9)": interval_above(rank_iv, 0.9)}
    numbers["conditions"] = conditions
    return CheckResult(verdict_from(conditions), numbers,
                       "linear nets, full-batch GD: " + "; ".join(conditions),
                       deciding=("frac_runs_slowing", "min_alignment_when_saturated",
                                 "spearman_cocorrelation_alignment"),
                       sizes=(f"widths {sorted(int(w) for w in dyn['width'].unique())}, q in "
                              f"{sorted(float(q) for q in dyn['q'].unique())}, "
                              f"{dyn['seed'].nunique()} seeds, "
                              f"{int(last)} GD steps"))


CLAIMS = [
    Claim(
        id="wang24.thm45.identity", paper=PAPER, kind="check",   # an algebraic identity
        statement="The Dirichlet energy of a composition factorises exactly as co-correlation x "
                  "sqrt(1 + var/mu^2) x norm correlation x the energies of the two blocks, "
                  "with 0 <= ϱ, ρ <= 1.",
        check=_check_thm45, page="theory_definitions"),
    Claim(
        id="wang24.thm41.first_order_bound", paper=PAPER, kind="check",   # first order, tiny radius
        statement="To first order in the radius r, the L2 adversarial risk is at most the natural risk plus "
                  "r times the Dirichlet energy of the loss.",
        check=_check_thm41, page="theory_thm41_adversarial_risk"),
    Claim(
        id="wang24.lemmaB2.concentration", paper=PAPER,
        statement="For n independent Gaussian vectors N(0, m^-(1+2q) I_m), q > 0, with probability "
                  "1 - delta: their mean norm is m^-q up to O(sqrt(8 log(2n/delta)/m^(1+2q))); their mean "
                  "squared norm is m^-2q up to O(max{8 log(2/delta)/(m^(1+2q) n), "
                  "sqrt(8 log(2/delta)/(m^(1+4q) n))}); its square root is m^-q up to "
                  "O(sqrt(8 log(2/delta)/(m^(1+2q) n))).",
        check=_check_lemmaB2, page="theory_lemmaB2"),
    Claim(
        id="wang24.prop2.speed_inverse_norm", paper=PAPER,
        statement="The speed at which co-correlation builds up is inversely proportional to ||W||_2^2, so at "
                  "one q wider networks (smaller ||W(0)||) accumulate it faster.",
        check=_check_prop2, page="theory_properties"),
    Claim(
        id="wang24.prop2.speed_inverse_energy_relu", paper=PAPER,
        statement="ReLU network: the speed at which co-correlation builds up is inverse to "
                  "E_x||D(t)W(t)||_2^2 = S(sigma o W)^2 (Property 2 in its MLP form).",
        check=_check_prop2_relu, page="theory_properties"),
    Claim(
        id="wang24.prop1.saturation", paper=PAPER,
        statement="Co-correlation builds up early in training and saturates, as the head aligns with the top "
                  "singular direction ((a^T v)^2 -> 1).",
        check=_check_prop1, page="theory_properties"),
]
