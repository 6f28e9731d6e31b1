"""Statistics shared by every paper: rank correlation, log–log fits and bootstrap intervals, from
scipy and numpy."""
from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import stats


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman rank correlation of two equal-length sequences (average ranks for ties);
    NaN with fewer than two points or when either side is constant."""
    x, y = np.asarray(list(x), float), np.asarray(list(y), float)
    if x.shape != y.shape:
        raise ValueError(f"spearman needs sequences of one length; got {x.shape} and {y.shape}")
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(stats.spearmanr(x, y).statistic)


def loglog_fit(x: Sequence[float], y: Sequence[float]) -> dict[str, float]:
    """Least-squares fit log y = slope · log x + intercept over the points with x, y > 0 and finite.

    Returns slope, intercept (NaN with fewer than two usable points), the Spearman correlation
    of those points, and how many points were used and dropped."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = (x > 0) & (y > 0) & np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 2:
        slope = intercept = math.nan
    else:
        slope, intercept = np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)
    return {"slope": float(slope), "intercept": float(intercept), "spearman": spearman(x[ok], y[ok]),
            "used": int(ok.sum()), "dropped": int((~ok).sum())}


def bootstrap_interval(rows: pd.DataFrame, statistic: Callable[[pd.DataFrame], float], *,
                       by: str | None = None, n_resamples: int = 2000, level: float = 0.95,
                       seed: int = 0) -> dict[str, float]:
    """Percentile bootstrap interval of `statistic(rows)`.

    rows: a table (one row per observation); statistic: table → float (NaN allowed; such
    resamples are dropped). With `by` (e.g. "seed") whole groups of rows are resampled, so the
    interval reflects the variation between seeds rather than between cells of one seed.
    Returns estimate, low, high (the central `level` interval), level, and resamples used.
    """
    if not 0 < level < 1:
        raise ValueError(f"level={level!r} must lie in (0, 1)")
    if n_resamples < 100:
        raise ValueError(f"n_resamples={n_resamples!r} is too few for a {level:.0%} interval; use >= 100")
    rng = np.random.default_rng(seed)
    estimate = float(statistic(rows))
    if by is None:
        parts = [rows.iloc[[i]] for i in range(len(rows))]
    else:
        parts = [g for _, g in rows.groupby(by, sort=True)]
    if len(parts) < 2:
        return {"estimate": estimate, "low": math.nan, "high": math.nan, "level": level, "resamples": 0}
    index = rng.integers(0, len(parts), size=(n_resamples, len(parts)))
    values = np.array([statistic(pd.concat([parts[i] for i in pick], ignore_index=True)) for pick in index],
                      dtype=float)
    values = values[np.isfinite(values)]
    if len(values) < n_resamples // 2:
        return {"estimate": estimate, "low": math.nan, "high": math.nan, "level": level,
                "resamples": int(len(values))}
    low, high = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    return {"estimate": estimate, "low": float(low), "high": float(high), "level": level,
            "resamples": int(len(values))}


# ---------------------------------------------------------------- vectorised bootstrap over seeds
def rank_correlation(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman correlation along the last axis (average ranks for ties); NaN where a side is constant."""
    rx = stats.rankdata(x, axis=-1)
    ry = stats.rankdata(y, axis=-1)
    rx = rx - rx.mean(axis=-1, keepdims=True)
    ry = ry - ry.mean(axis=-1, keepdims=True)
    den = np.sqrt((rx * rx).sum(-1) * (ry * ry).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (rx * ry).sum(-1) / np.where(den > 0, den, 1.0), np.nan)


def slope(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least-squares slope of y on x along the last axis; NaN where x is constant."""
    xc = x - x.mean(axis=-1, keepdims=True)
    yc = y - y.mean(axis=-1, keepdims=True)
    den = (xc * xc).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (xc * yc).sum(-1) / np.where(den > 0, den, 1.0), np.nan)


def expanded_level(level: float, n: int) -> float:
    """The coverage to ask of a percentile bootstrap of n units so that it covers about `level`:
    Hesterberg's expanded percentile interval, with tail α'/2 = Φ(−√(n/(n−1))·t_{α/2, n−1}). With few
    units the plain percentile interval is too narrow (its variance has the factor (n−1)/n and its
    tails are normal, not Student's t); for n ≥ 2."""
    if n < 2:
        raise ValueError(f"an expanded interval needs at least 2 units; got {n}")
    t = stats.t.ppf((1 + level) / 2, df=n - 1)
    return float(1 - 2 * stats.norm.sf(math.sqrt(n / (n - 1)) * t))


def seed_bootstrap(values: np.ndarray | Sequence[Sequence[float]],
                   statistic: Callable[[np.ndarray], np.ndarray], *, n_resamples: int = 2000,
                   level: float = 0.95, seed: int = 0, expanded: bool = False) -> dict[str, float]:
    """Percentile bootstrap interval of a statistic of a (seeds, ...) array, resampling whole seeds.

    values[s] holds everything seed s measured (e.g. one value per grid cell); a resample draws
    seeds with replacement, so the interval reflects the variation between independent runs.
    `statistic` maps an array of shape (resamples, seeds, ...) to shape (resamples,), vectorised;
    the estimate is the statistic of the data itself. With `expanded` the quantiles are those of
    `expanded_level` (level stays the nominal coverage), which keeps the coverage near `level` for
    a handful of seeds. NaN resamples are dropped; with fewer than two seeds, or fewer than half
    the resamples left, the interval is NaN.
    Returns estimate, low, high, level, resamples used and seeds.
    """
    if not 0 < level < 1:
        raise ValueError(f"level={level!r} must lie in (0, 1)")
    if n_resamples < 100:
        raise ValueError(f"n_resamples={n_resamples!r} is too few for a {level:.0%} interval; use >= 100")
    data = np.asarray(values, float)
    if data.ndim < 1 or data.shape[0] == 0:
        raise ValueError(f"values need a leading seed axis with at least one seed; got shape {data.shape}")
    n_seeds = data.shape[0]
    estimate = float(np.asarray(statistic(data[None]), float).reshape(-1)[0])
    result = {"estimate": estimate, "low": math.nan, "high": math.nan, "level": level, "resamples": 0,
              "seeds": int(n_seeds)}
    if n_seeds < 2:
        return result
    index = np.random.default_rng(seed).integers(0, n_seeds, size=(n_resamples, n_seeds))
    draws = np.asarray(statistic(data[index]), float).reshape(-1)
    draws = draws[np.isfinite(draws)]
    result["resamples"] = int(len(draws))
    if len(draws) >= n_resamples // 2:
        used = expanded_level(level, n_seeds) if expanded else level
        low, high = np.quantile(draws, [(1 - used) / 2, (1 + used) / 2])
        result["low"], result["high"] = float(low), float(high)
    return result


def interval_above(interval: dict[str, float], value: float = 0.0) -> bool:
    """True when the whole interval lies above `value` (False when it is undefined)."""
    return bool(np.isfinite(interval["low"]) and interval["low"] > value)


def interval_below(interval: dict[str, float], value: float = 0.0) -> bool:
    """True when the whole interval lies below `value` (False when it is undefined)."""
    return bool(np.isfinite(interval["high"]) and interval["high"] < value)


def interval_text(interval: dict[str, float]) -> str:
    """'0.42 [0.31, 0.55]': the estimate and its interval, for a verdict card."""
    return f"{interval['estimate']:.3g} [{interval['low']:.3g}, {interval['high']:.3g}]"
