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
