"""Sizes of the co-correlation paper's experiments at each profile.

`quick` runs on two CPU cores; `paper` is the paper's scale (meant for a GPU or a cluster).
Both run the same code; only these sizes change.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ...ground.profiles import by_profile
from ...runs.store import ResultStore, cached_table


@dataclass(frozen=True)
class Profile:
    """Sizes shared by the notebooks. `quick` runs on two CPU cores; `paper` is the paper's scale."""

    name: str
    widths: tuple[int, ...]        # hidden widths m of the two-layer sweeps
    qs: tuple[float, ...]          # initialisation exponents q
    epochs: int                    # SGD epochs (code setting)
    n_train: int                   # MNIST training images used
    n_test: int                    # MNIST test images used for accuracy and measures
    seeds: int                     # repetitions per grid cell
    batch_size: int = 512
    lr: float = 0.003
    attack_n: int = 200            # test images attacked with AutoAttack
    resnet_epochs: int = 2
    resnet_train_n: int = 2048
    resnet_measure_n: int = 64
    theory_n: int = 256            # samples in the theory-setting (full-batch GD) runs
    theory_steps: int = 200


PROFILES: dict[str, Profile] = {
    "quick": Profile(
        name="quick",
        widths=(16, 64, 256, 1024),
        qs=(-0.15, 0.0, 0.25),
        epochs=8,
        n_train=8192,
        n_test=500,                # Jacobian norms of every member at every epoch are the cost
        seeds=1,
        attack_n=200,
        resnet_epochs=2,
        resnet_train_n=256,        # ResNet-50 and WRN-50-2 on two CPU cores: keep Fig. 2 to minutes
        resnet_measure_n=8,
        theory_n=256,
        theory_steps=200,
    ),
    "paper": Profile(
        name="paper",
        widths=tuple(2**k for k in range(4, 14)),
        qs=(-0.15, -0.10, -0.05, 0.0, 0.05, 0.10, 0.15, 0.25),
        epochs=50,
        n_train=60000,
        n_test=10000,
        seeds=3,
        attack_n=10000,
        resnet_epochs=50,
        resnet_train_n=50000,
        resnet_measure_n=1000,
        theory_n=2000,
        theory_steps=2000,
    ),
}


def get_profile(name: str | None = None) -> Profile:
    """The Profile object for `name` (see `profile_name`)."""
    return by_profile(PROFILES, name)


PAPER = "cocorrelation"          # this subpackage's name: the store namespace of its results
BIBKEY = "wang2024implicit"


def result_store(root: str | os.PathLike | None = None) -> ResultStore:
    """The result store of this paper's runs (namespace: shared layers + this paper)."""
    return ResultStore(root, paper=PAPER)


def store_table(kind: str, params: dict[str, Any], compute: Callable[[], pd.DataFrame],
                profile: str | None = None) -> pd.DataFrame:
    """`runs.store.cached_table` in this paper's namespace."""
    return cached_table(kind, params, compute, profile=profile, paper=PAPER)
