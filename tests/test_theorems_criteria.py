"""The ledger criteria of the theory chapter on synthetic tables with known answers: each
claim's criterion reproduces on a table built to satisfy the statement and does not on a null
table built to violate it."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cocorr_core.papers.cocorrelation import claims_dynamics as cd
from cocorr_core.papers.cocorrelation import claims_theory as ct

WIDTHS = (64, 512, 4096)
SEEDS = range(4)


def _dyn(gap, qs=(0.1, 0.25), steps=20, widths=WIDTHS, seed=0, **extra):
    """A fake dynamics table with main_term − C = gap(m, q, step, rng) and extra columns."""
    rng = np.random.default_rng(seed)
    rows = []
    for w in widths:
        for q in qs:
            for s in SEEDS:
                for t in range(steps):
                    main = 1.0 + 0.01 * t
                    row = {"width": w, "q": q, "seed": s, "step": t, "main_term": main,
                           "C": main - gap(w, q, t, rng)}
                    row.update({k: f(w, q, t, rng) for k, f in extra.items()})
                    rows.append(row)
    return pd.DataFrame(rows)


def _noise(rng, scale=0.1):
    return float(np.exp(scale * rng.normal()))


# ------------------------------------------------------------------ Theorems 5.3 / 5.5: one constant
def test_one_constant_holds_when_the_gap_shrinks_like_the_rate():
    df = _dyn(lambda w, q, t, rng: 3.0 * w ** (-q) * _noise(rng))
    res = cd.check_one_constant_table(df)
    assert res.verdict == "reproduced"
    assert set(res.deciding) == {"slope_K_needed_q0.1", "slope_K_needed_q0.25"}
    assert "4 seeds" in res.sizes


def test_one_constant_is_trivial_when_C_exceeds_the_main_term():
    df = _dyn(lambda w, q, t, rng: -1.0)
    res = cd.check_one_constant_table(df)
    assert res.verdict == "reproduced"
    assert res.numbers["K_needed_q0.25"] == {w: 0.0 for w in WIDTHS}


def test_one_constant_null_gap_of_order_one_is_not_reproduced():
    df = _dyn(lambda w, q, t, rng: 0.5 * w**0.1 * _noise(rng))   # K_needed ∝ m^(q + 0.1) grows
    assert cd.check_one_constant_table(df).verdict == "not reproduced"


def test_relu_one_constant_uses_the_larger_rate():
    # gap ∝ m^-1/2 is within max{m^-1/2, m^-q}; gap ∝ m^0.2 is not
    ok = _dyn(lambda w, q, t, rng: w**-0.5 * _noise(rng), widths=(32, 128, 512))
    assert cd.check_relu_one_constant_table(ok).verdict == "reproduced"
    bad = _dyn(lambda w, q, t, rng: w**0.2 * _noise(rng), widths=(32, 128, 512))
    assert cd.check_relu_one_constant_table(bad).verdict == "not reproduced"
    only_neg = _dyn(lambda w, q, t, rng: 1.0, qs=(-0.1, 0.0))
    assert cd.check_relu_one_constant_table(only_neg).verdict == "not run"


def test_constant_needed_is_the_max_over_steps():
    df = pd.DataFrame({"width": [4, 4, 4], "q": [0.5] * 3, "seed": [0] * 3, "step": [0, 1, 2],
                       "main_term": [1.0, 2.0, 3.0], "C": [2.0, 1.0, 2.5]})
    out = cd.constant_needed(df, df["width"] ** -df["q"])
    assert out["K_needed"].item() == pytest.approx(2.0)     # (2 − 1)·4^0.5


# ------------------------------------------------------------------ Theorem 5.3: remainder, angles
def _terms(ratio, qs=(0.1, 0.25)):
    def t1(w, q, t, rng):
        return 0.0 if t == 0 else 1.0 + 0.1 * rng.random()
    return _dyn(lambda w, q, t, rng: 0.0, qs=qs, term1=t1,
                term2=lambda w, q, t, rng: ratio(w) * (1.0 + 0.1 * rng.random()),
                rem_bound=lambda w, q, t, rng: 10.0)


def test_remainder_negligible_known_answers():
    assert cd.check_remainder_negligible_table(_terms(lambda w: 0.3 * w**-0.5)).verdict == "reproduced"
    null = cd.check_remainder_negligible_table(_terms(lambda w: -1.0))
    assert null.verdict == "not reproduced"
    assert null.numbers["median_signed_ratio"] < 0


def test_remainder_scale_known_answers():
    good = _terms(lambda w: 0.0)
    good["term2"] = good["width"] ** (-good["q"]) * 0.5
    assert cd.check_remainder_scale_table(good).verdict == "reproduced"
    null = _terms(lambda w: 0.5 * w**0.1)                            # grows: |②|·m^q ∝ m^(q + 0.1)
    res = cd.check_remainder_scale_table(null)
    assert res.verdict == "partly" and res.numbers["frac_step5_bound_holds"] == 1.0
    over = _terms(lambda w: 20.0 * w**0.1)                           # above the Step-5 bound as well
    assert cd.check_remainder_scale_table(over).verdict == "not reproduced"


def test_acute_angles_and_C_sign():
    ok = _dyn(lambda w, q, t, rng: 0.0, acute=lambda w, q, t, rng: 1.0)
    assert cd.check_acute_angles_table(ok).verdict == "reproduced"
    null = _dyn(lambda w, q, t, rng: 0.0, acute=lambda w, q, t, rng: -1.0 if t % 5 == 0 else 1.0)
    null["C"] = np.where(null["step"] % 4 == 0, -1.0, 1.0)
    assert cd.check_acute_angles_table(null).verdict == "not reproduced"


def test_relu_C_nonneg_known_answers():
    ok = _dyn(lambda w, q, t, rng: 0.0, widths=(32, 128))
    assert cd.check_relu_C_nonneg_table(ok).verdict == "reproduced"
    null = ok.assign(C=np.where(ok["step"] % 10 == 0, -1.0, 1.0))     # C < 0 at 10 % of the steps
    res = cd.check_relu_C_nonneg_table(null)
    assert res.verdict == "not reproduced" and res.deciding == ("frac_C_nonneg_m128",)


# ------------------------------------------------------------------ Theorem 4.1
def _thm41(sup_gap=0.0, excess=1.0):
    rows = []
    for s in SEEDS:
        for r in np.geomspace(0.01, 2.0, 40):
            R, g, S = 0.3, 0.5, 0.6
            robust = R + excess * r * g + 0.2 * r**2 * (1 + 0.1 * s)
            rows.append({"seed": s, "radius": r, "natural_risk": R, "first_order": R + r * g,
                         "bound": R + r * S, "robust_risk": robust, "energy": S, "sup_gap": sup_gap,
                         "jensen_gap": S - g, "eval_accuracy": 1.0, "width": 8, "q": 0.25, "restarts": 3})
    return pd.DataFrame(rows)


def test_thm41_check_and_crossover():
    res = ct.check_thm41_table(_thm41())
    assert res.verdict == "reproduced"
    # robust − bound = r(0.5 − 0.6) + 0.2 r²(1 + 0.1 s) crosses zero at r* = 0.5/(1 + 0.1 s)
    rs = [0.5 / (1 + 0.1 * s) for s in SEEDS]
    assert float(res.numbers["crossover_radius"].split()[0]) == pytest.approx(np.mean(rs), rel=0.1)
    assert ct.check_thm41_table(_thm41(sup_gap=0.3)).verdict == "partly"
    assert ct.check_thm41_table(_thm41(excess=1.5)).verdict == "partly"


# ------------------------------------------------------------------ Lemma B.2
def _lemma(p_within, trials=40, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for setting in ("iid", "inputs"):
        for w in (16, 64):
            for t in range(trials):
                cols = {c: bool(rng.random() < p_within) for c in ("within", "within_sq", "within_rms")}
                rows.append({"setting": setting, "width": w, "n": 16, "q": 0.25, "trial": t,
                             "mean_norm": w**-0.25 + 0.01 * rng.normal(), "chi_mean": w**-0.25, **cols})
    return pd.DataFrame(rows)


def test_lemmaB2_check_known_answers():
    res = ct.check_lemmaB2_table(_lemma(1.0))
    assert res.verdict == "reproduced"
    assert res.deciding == ("frac_within_part1", "frac_within_part2", "frac_within_part3")
    assert ct.check_lemmaB2_table(_lemma(0.85)).verdict == "partly"    # only the chi-mean condition holds


# ------------------------------------------------------------------ Properties 1 and 2
def _rates(rise_of, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for w in (16, 64, 128):
        for q in (-0.15, 0.0, 0.25):
            inv = w ** (1 + 2 * q) / 10
            for s in SEEDS:
                rows.append({"width": w, "q": q, "seed": s, "inv_norm_sq": inv * _noise(rng, 0.05),
                             "rise": rise_of(inv, rng)})
    return pd.DataFrame(rows)


def test_speed_check_known_answers():
    prop = ct.check_speed_table(_rates(lambda inv, rng: 0.2 * inv * _noise(rng)), "‖W‖²")
    assert prop.verdict == "reproduced"
    assert float(prop.numbers["loglog_slope"].split()[0]) == pytest.approx(1.0, abs=0.1)
    null = ct.check_speed_table(_rates(lambda inv, rng: _noise(rng, 1.0)), "‖W‖²")
    assert null.verdict == "not reproduced"
    square = ct.check_speed_table(_rates(lambda inv, rng: inv**2 * _noise(rng)), "‖W‖²")
    assert square.verdict == "partly"                                 # monotone, not proportional


def test_nan_slope_skips_non_positive_cells():
    x = np.log(np.array([[1.0, 10.0, 100.0, 1000.0]]))
    y = np.log(np.array([[2.0, 20.0, np.nan, 2000.0]]))
    assert ct.nan_slope(x, y)[0] == pytest.approx(1.0)
    assert np.isnan(ct.nan_slope(x[:, :2], y[:, :2])[0])


def _traj(saturating=True):
    rows = []
    for w in (16, 64):
        for q in (0.0, 0.25):
            for s in SEEDS:
                for t in (0, 5, 10, 20):
                    rho = 1 - 0.8 * np.exp(-t / 3) if saturating else 0.2 + 0.001 * t**2
                    rows.append({"width": w, "q": q, "seed": s, "step": t, "cocorrelation": min(rho, 1.0),
                                 "alignment": min(rho, 1.0) ** 2 * (1 - 0.001 * s)})
    return pd.DataFrame(rows)


def test_saturation_check_known_answers():
    assert ct.check_saturation_table(_traj(True)).verdict == "reproduced"
    assert ct.check_saturation_table(_traj(False)).verdict in ("partly", "not reproduced")
    assert ct.check_saturation_table(_traj(False)).numbers["runs_saturated"] == 0
