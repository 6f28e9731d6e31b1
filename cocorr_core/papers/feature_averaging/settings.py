"""Sizes of the feature-averaging chapter per profile.

`paper` uses the synthetic set-up of Li, Pan, Lyu & Li (2025) (d = 3072, k = 10, n = 1000, m = 5,
GD for T = 100 steps with η = 1e-3 from N(0, 1e-10) weights), 10 seeds and strong attacks. `quick`
runs on two CPU cores: the same k, m, η, T and initialisation with a smaller input dimension
d = 1024 and n = 500 training points (so d/n stays near the paper's 3), fewer attacked points and
radii; the geometry scales with d (cliffs at √(d/k) and √(d/2)).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ...ground.profiles import by_profile
from ...runs.store import cached_table

PAPER = "feature_averaging"  # this subpackage: the store namespace of its results
BIBKEY = "li2025feature"
LEVEL = 0.995                    # bootstrap level of every claim (6 seeds: see the power test)


@dataclass(frozen=True)
class Profile:
    """Sizes shared by the chapter's pages."""

    name: str
    d: int = 3072  # input dimension (3·32·32)
    k: int = 10  # clusters; J₊ = the first k // 2
    n: int = 1000  # training points
    m: int = 5  # neurons per sign in the binary network
    h: int = 1  # neurons per class in the k-class network
    lr: float = 1e-3  # GD step size η
    steps: int = 100  # GD steps T
    init_std: float = 1e-5  # standard deviation of the initial W and b
    seeds: int = 6  # independent runs (data and initialisation) per model
    n_test: int = 1000  # fresh test points for clean accuracy
    attack_n: int = 200  # test points attacked per seed
    radii: tuple[float, ...] = tuple(float(r) for r in range(0, 50, 2))  # L2 radii of Figure 3
    pgd_steps: int = 20
    track: tuple[int, ...] = (0, 1, 2, 3, 5, 8, 12, 20, 30, 50, 75, 100)  # GD steps with recorded cosines
    # MNIST parity (two-layer networks on pixels in [0, 1])
    mnist_n: int = 4000
    mnist_test: int = 2000
    mnist_attack_n: int = 300
    mnist_width: int = 100  # hidden neurons of both networks (50 per sign; 10 per class)
    mnist_epochs: int = 6
    mnist_batch: int = 50
    mnist_lr: float = 1e-2  # Adam
    mnist_radii: tuple[float, ...] = (0.0, 0.4, 0.8, 1.2, 1.6, 2.0)
    # Min & Vidal's unit-norm set-up (peers page)
    mv_d: int = 1000
    mv_k: int = 10
    mv_k1: int = 6
    mv_n: int = 2000
    mv_alpha: float = 0.01
    mv_radii: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(0, 21))


PROFILES: dict[str, Profile] = {
    "quick": Profile(
        name="quick",
        d=1024,
        n=500,
        radii=tuple(float(r) for r in range(0, 30, 2)),
        mnist_n=2000,
        mnist_epochs=8,
        mnist_attack_n=200,
        mv_n=1000,
    ),
    "paper": Profile(
        name="paper",
        seeds=10,
        n_test=10000,
        attack_n=1000,
        pgd_steps=100,
        radii=tuple(float(r) for r in range(0, 60, 2)),
        mnist_n=60000,
        mnist_test=10000,
        mnist_attack_n=2000,
        mnist_width=500,
        mnist_epochs=20,
        mnist_radii=tuple(round(0.1 * i, 1) for i in range(21)),
        mv_n=20000,
    ),
}


def get_profile(name: str | None = None) -> Profile:
    """The Profile of `name` (None: the active profile)."""
    return by_profile(PROFILES, name)


def store_table(
    kind: str, params: dict[str, Any], compute: Callable[[], pd.DataFrame], profile: str | None = None
) -> pd.DataFrame:
    """`runs.store.cached_table` in this paper's namespace."""
    return cached_table(kind, params, compute, profile=profile, paper=PAPER)
