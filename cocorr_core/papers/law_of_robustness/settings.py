"""Sizes of the law-of-robustness experiments per profile, and this paper's result store.

`quick` runs on two CPU cores; `paper` is meant for a GPU. The original experiment's sizes are
not available, so `paper` follows the protocol our notes reconstruct (d 50–100, n from 1000 to
5000, widths from about n/d to n); both profiles run the same code.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ...ground.profiles import by_profile
from ...runs.store import cached_table

PAPER = "law_of_robustness"      # this subpackage's name: the store namespace of its results
BIBKEY = "bubeck2021law"
BIBKEY_UNIVERSAL = "bubeck2021universal"

INIT_Q = -0.5          # W(0) entries N(0, 1) with the ±1/√k head: f(x) is O(1) at initialisation
LR = 0.1               # full-batch Adam step
TARGET_MARGIN = 1.0    # training stops once every point has y_i f(x_i) >= this
SMOOTH_BETA = 10.0     # softplus_β surrogate that the gradient ascent climbs


@dataclass(frozen=True)
class Profile:
    """Sizes of one profile."""

    name: str
    cells: tuple[tuple[int, int], ...]   # (n, d) data sets of the width sweep
    width_start: float                   # smallest width, in units of n/d
    width_ratio: float                   # geometric step between widths (the largest is <= n)
    seeds: int                           # initialisations per (n, d, width), trained as one ensemble
    max_epochs: int
    n_random: int                        # random sphere points of the Lipschitz lower bound
    ascent_starts: int
    ascent_steps: int
    nd_dims: tuple[int, ...]             # d of the n = d runs (proved case)
    quadratic_dims: tuple[int, ...]      # d of the degree-2 runs with n = d(d+1)/4
    nulls: int = 400                     # simulated null grids of the power test


PROFILES: dict[str, Profile] = {
    "quick": Profile(name="quick", cells=((200, 10), (400, 10), (400, 20)), width_start=1.5,
                     width_ratio=2.0, seeds=4, max_epochs=3000, n_random=2000, ascent_starts=16,
                     ascent_steps=30, nd_dims=(40,), quadratic_dims=(6, 10, 14, 18)),
    "paper": Profile(name="paper", cells=((1000, 50), (2000, 50), (5000, 50), (2000, 100)),
                     width_start=1.5, width_ratio=2.0 ** 0.5, seeds=8, max_epochs=20000,
                     n_random=20000, ascent_starts=64, ascent_steps=100, nd_dims=(50, 100, 200),
                     quadratic_dims=(6, 10, 14, 18, 24, 30)),
}


def get_profile(name: str | None = None) -> Profile:
    """The Profile of `name` (None: the active profile)."""
    return by_profile(PROFILES, name)


def widths(n: int, d: int, prof: Profile) -> list[int]:
    """The widths of a sweep: width_start·n/d, then ×width_ratio, up to n (distinct integers)."""
    out, k = [], prof.width_start * n / d
    while round(k) <= n:
        if not out or round(k) != out[-1]:
            out.append(round(k))
        k *= prof.width_ratio
    return out


def store_table(kind: str, params: dict[str, Any], compute: Callable[[], pd.DataFrame],
                profile: str | None = None) -> pd.DataFrame:
    """`runs.store.cached_table` in this paper's namespace."""
    return cached_table(kind, params, compute, profile=profile, paper=PAPER)
