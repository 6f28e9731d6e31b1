"""Sizes of the feature-averaging chapter per profile.

`paper` uses the synthetic set-up of Li, Pan, Lyu & Li (2025) (d = 3072, k = 10, n = 1000, m = 5,
GD for T = 100 steps with η = 1e-3 from N(0, 1e-10) weights), 10 seeds and strong attacks. `quick`
runs on two CPU cores: the same k, m, η, T and initialisation with a smaller input dimension
d = 1024 and n = 500 training points (so d/n stays near the paper's 3), fewer attacked points and
radii; the geometry scales with d (cliffs at √(d/k) and √(d/2)). The ResNet-18 runs on images use the
paper's data sizes in `paper`; `quick` trains on 1000 images for 2 epochs with 3 seeds, an
illustration (see the Figure 3 page).
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
    # Figure 3 on images: torchvision ResNet-18s trained from scratch (all layers), one per seed, on
    # MNIST parity (images 3×32×32) and CIFAR-10 {0–4} vs {5–9}; Adam (the paper's optimiser is not
    # known; Min & Vidal train their MNIST networks with Adam at 1e-3), no augmentation
    resnet_arch: str = "resnet18"
    resnet_seeds: int = 5  # ≥ 5: the power test of the gap criterion
    resnet_n: int = 60000  # training images
    resnet_test: int = 10000  # test images for clean accuracy
    resnet_attack_n: int = 1000  # attacked test images
    resnet_epochs: int = 10  # MNIST
    cifar_epochs: int = 100
    resnet_batch: int = 128
    resnet_lr: float = 1e-3
    resnet_pgd_steps: int = 50
    mnist_radii: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(21))  # pixel units
    cifar_radii: tuple[float, ...] = tuple(round(0.08 * i, 2) for i in range(11))
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
        resnet_seeds=3,
        resnet_n=1000,
        resnet_test=1000,
        resnet_attack_n=50,
        resnet_epochs=2,
        cifar_epochs=2,
        resnet_batch=50,
        resnet_pgd_steps=10,
        mnist_radii=(0.0, 0.4, 0.8, 1.2, 1.6, 2.0),
        cifar_radii=(0.0, 0.16, 0.32, 0.48, 0.64, 0.8),
        mv_n=1000,
    ),
    "paper": Profile(
        name="paper",
        seeds=10,
        n_test=10000,
        attack_n=1000,
        pgd_steps=100,
        radii=tuple(float(r) for r in range(0, 60, 2)),
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
