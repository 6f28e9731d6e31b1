"""Sizes of the NTK chapter's experiments at each profile (Tsilivis & Kempe 2022).

`quick` runs on two CPU cores; `paper` uses the sizes of the authors' released code where it
states them (2000 training images, the FC-ReLU NTK with one hidden layer, σ_w² = 2, σ_b² = 0.01,
PGD with 10 steps, a probe batch of 250 images for the empirical kernel) and otherwise sizes
meant for a GPU. Both profiles run the same code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ...ground.profiles import by_profile
from ...runs.store import cached_table

PAPER = "ntk"  # this subpackage's name: the store namespace of its results
BIBKEY = "tsilivis2022ntk"


@dataclass(frozen=True)
class Profile:
    """Every size of the chapter at one profile."""

    name: str
    classes: tuple[int, int]  # the binary MNIST task: classes[0] → y = −1, classes[1] → y = +1
    seeds: int  # disjoint training subsets (and attack starts, network inits)
    n_train: int  # training images per seed
    n_test: int  # test images attacked
    n_test_clean: int  # test images for clean accuracies (cheap: no attack)
    eps: float  # ℓ∞ radius in [0, 1] pixel units
    pgd_steps: int
    pgd_step: float
    feature_indices: tuple[int, ...]  # eigen-feature indices measured (0 = largest eigenvalue)
    flow_times: tuple[float, ...]  # gradient-flow times ηt of the trade-off curve (∞ = regression)
    # analytic vs empirical kernel
    check_widths: tuple[int, ...]
    check_seeds: int
    check_deep_max: int  # largest width of the two-hidden-layer check (width² parameters)
    # transfer to finite networks (NTK parameterisation, full-batch GD on ½‖f − f₀ − Y‖²)
    transfer_widths: tuple[int, ...]
    transfer_n_train: int
    transfer_steps: int
    transfer_lr_scale: float  # η = scale / λ_max(Θ(X, X))
    # kernel dynamics of a small CNN under clean, FGSM and PGD training
    dyn_dataset: str
    dyn_n_train: int
    dyn_epochs: int
    dyn_batch: int
    dyn_lr: float
    dyn_probe: int  # fixed probe images of the empirical kernel
    dyn_pgd_steps: int
    dyn_channels: tuple[int, int]
    dyn_seeds: int  # initialisations per regime
    dyn_top: int  # eigenvalues in the top-mass share (the authors: 20 of 2500)


PROFILES: dict[str, Profile] = {
    "quick": Profile(
        name="quick",
        classes=(3, 5),
        seeds=4,
        n_train=256,
        n_test=128,
        n_test_clean=1000,
        eps=0.1,
        pgd_steps=10,
        pgd_step=0.025,
        feature_indices=(0, 1, 2, 3, 4, 5, 7, 10, 15, 20, 30, 50, 75, 100, 150, 200, 255),
        flow_times=(0.01, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, float("inf")),
        check_widths=(64, 512, 4096, 32768),
        check_seeds=3,
        check_deep_max=1024,
        transfer_widths=(16, 64, 256, 1024),
        transfer_n_train=128,
        transfer_steps=60,
        transfer_lr_scale=1.5,
        dyn_dataset="mnist",
        dyn_n_train=192,
        dyn_epochs=4,
        dyn_batch=32,
        dyn_lr=0.05,
        dyn_probe=24,
        dyn_pgd_steps=5,
        dyn_channels=(8, 16),
        dyn_seeds=2,
        dyn_top=2,
    ),
    "paper": Profile(
        name="paper",
        classes=(3, 5),
        seeds=5,
        n_train=2000,
        n_test=500,
        n_test_clean=1902,
        eps=0.1,
        pgd_steps=10,
        pgd_step=0.025,
        feature_indices=(
            0,
            1,
            2,
            3,
            4,
            5,
            7,
            10,
            15,
            20,
            25,
            30,
            50,
            75,
            100,
            150,
            200,
            300,
            500,
            750,
            1000,
            1500,
            1999,
        ),
        flow_times=(
            0.001,
            0.003,
            0.01,
            0.03,
            0.1,
            0.3,
            1.0,
            3.0,
            10.0,
            30.0,
            100.0,
            300.0,
            1000.0,
            float("inf"),
        ),
        check_widths=(64, 512, 4096, 32768, 262144),
        check_seeds=5,
        check_deep_max=8192,
        transfer_widths=(128, 512, 2048, 8192, 32768),
        transfer_n_train=1000,
        transfer_steps=2000,
        transfer_lr_scale=1.5,
        dyn_dataset="cifar10",
        dyn_n_train=10000,
        dyn_epochs=200,
        dyn_batch=250,
        dyn_lr=0.01,
        dyn_probe=250,
        dyn_pgd_steps=20,
        dyn_channels=(32, 64),
        dyn_seeds=5,
        dyn_top=20,
    ),
}


def get_profile(name: str | None = None) -> Profile:
    """The Profile for `name` (None: the active profile)."""
    return by_profile(PROFILES, name)


def store_table(
    kind: str, params: dict[str, Any], compute: Callable[[], pd.DataFrame], profile: str | None = None
) -> pd.DataFrame:
    """`runs.store.cached_table` in this paper's namespace."""
    return cached_table(kind, params, compute, profile=profile, paper=PAPER)
