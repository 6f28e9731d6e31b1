"""Shared statistics: rank correlation, log–log fits and bootstrap intervals, on data with known answers."""
import math

import numpy as np
import pandas as pd
import pytest

from cocorr_core.linalg.stats import bootstrap_interval, loglog_fit, spearman


def test_spearman_known_answers():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    assert math.isnan(spearman([1, 2, 3], [5, 5, 5])) and math.isnan(spearman([1], [2]))
    with pytest.raises(ValueError):
        spearman([1, 2], [1, 2, 3])


def test_loglog_fit_recovers_a_power_law_and_drops_nonpositive_points():
    x = np.array([1.0, 10.0, 100.0, 0.0, 1000.0])
    y = np.array([3.0, 3.0 / 10**0.5, 0.3, 1.0, 3.0 / 1000**0.5])
    fit = loglog_fit(x, y)
    assert fit["slope"] == pytest.approx(-0.5) and math.exp(fit["intercept"]) == pytest.approx(3.0)
    assert (fit["used"], fit["dropped"]) == (4, 1) and fit["spearman"] == pytest.approx(-1.0)
    assert math.isnan(loglog_fit([1.0], [2.0])["slope"])


def test_bootstrap_interval_of_a_mean_matches_the_normal_theory():
    rng = np.random.default_rng(0)
    rows = pd.DataFrame({"v": rng.normal(2.0, 1.0, 400)})
    ci = bootstrap_interval(rows, lambda t: t["v"].mean(), n_resamples=2000, seed=1)
    half = 1.96 / math.sqrt(400)
    assert ci["low"] < 2.0 < ci["high"]
    assert (ci["high"] - ci["low"]) / 2 == pytest.approx(half, rel=0.15)


def test_bootstrap_over_seeds_resamples_whole_seeds():
    # Every seed shifts all of its cells together: resampling cells would miss that spread.
    rows = pd.DataFrame({"seed": np.repeat([0, 1, 2, 3], 5), "v": np.repeat([0.0, 1.0, 2.0, 3.0], 5)})
    by_cell = bootstrap_interval(rows, lambda t: t["v"].mean(), n_resamples=1000, seed=0)
    by_seed = bootstrap_interval(rows, lambda t: t["v"].mean(), by="seed", n_resamples=1000, seed=0)
    assert (by_seed["high"] - by_seed["low"]) > 1.5 * (by_cell["high"] - by_cell["low"])


def test_bootstrap_rarely_excludes_zero_on_null_data():
    """Independent x and y: the 95% interval of the Spearman correlation excludes 0 seldom."""
    rng = np.random.default_rng(7)
    excluded = 0
    for _ in range(100):
        rows = pd.DataFrame({"x": rng.normal(size=40), "y": rng.normal(size=40)})
        ci = bootstrap_interval(rows, lambda t: spearman(t["x"], t["y"]), n_resamples=300, seed=1)
        excluded += ci["low"] > 0 or ci["high"] < 0
    assert excluded <= 12      # about 5 expected; a broken interval gives far more


def test_bootstrap_finds_a_real_effect():
    rng = np.random.default_rng(3)
    x = rng.normal(size=40)
    rows = pd.DataFrame({"x": x, "y": x + 0.5 * rng.normal(size=40)})
    ci = bootstrap_interval(rows, lambda t: spearman(t["x"], t["y"]), n_resamples=500, seed=2)
    assert ci["low"] > 0.5


def test_bootstrap_rejects_bad_settings_and_too_few_groups():
    rows = pd.DataFrame({"seed": [0, 0], "v": [1.0, 2.0]})
    with pytest.raises(ValueError, match="level"):
        bootstrap_interval(rows, lambda t: t["v"].mean(), level=1.5)
    with pytest.raises(ValueError, match="n_resamples"):
        bootstrap_interval(rows, lambda t: t["v"].mean(), n_resamples=10)
    one_seed = bootstrap_interval(rows, lambda t: t["v"].mean(), by="seed")
    assert one_seed["estimate"] == 1.5 and math.isnan(one_seed["low"]) and one_seed["resamples"] == 0


def test_expanded_level_widens_few_units_and_tends_to_the_nominal_level():
    from scipy import stats as st

    from cocorr_core.linalg.stats import expanded_level
    levels = [expanded_level(0.95, n) for n in (3, 5, 10, 100, 10_000)]
    assert all(a > b for a, b in zip(levels, levels[1:]))
    assert levels[-1] == pytest.approx(0.95, abs=1e-3)
    # n = 5: t_{0.025, 4} = 2.776, times √(5/4), read as a normal quantile
    assert expanded_level(0.95, 5) == pytest.approx(1 - 2 * st.norm.sf(2.776445 * (5 / 4) ** 0.5), rel=1e-6)
    with pytest.raises(ValueError, match="2 units"):
        expanded_level(0.95, 1)
