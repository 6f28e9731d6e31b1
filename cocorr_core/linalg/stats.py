"""Statistics shared by every paper: rank correlation and log–log fits, from scipy and numpy."""
from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
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
