"""Settings of the co-correlation paper's experiments: step sizes, and sizes at each profile.

`quick` runs on two CPU cores; `paper` is the paper's scale (meant for a GPU or a cluster).
Both run the same code; only these sizes change. Every size is a field of a frozen dataclass,
one instance per profile: `Profile` (the figures' grid), `TheorySizes` (the theory pages) and
`DynamicsSettings` (Theorems 5.3 and 5.5).
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
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
    n_test: int                    # MNIST test images the Jacobian measures average over
    seeds: int                     # repetitions per grid cell
    measure_points: int | None = None  # about this many log-spaced measured epochs (None: every epoch)
    batch_size: int = 512
    lr: float = 0.003
    attack_n: int = 200            # test images attacked with AutoAttack
    resnet_epochs: int = 2
    resnet_train_n: int = 2048
    resnet_measure_n: int = 64
    theory_n: int = 256            # samples in the theory-setting (full-batch GD) runs
    theory_steps: int = 200


PROFILES: dict[str, Profile] = {
    # The paper's training regime (full MNIST, 50 epochs of SGD at batch 512 and lr 0.003: 5,900 steps)
    # on two CPU cores: fewer widths, log-spaced measured epochs and fewer measured test images.
    "quick": Profile(
        name="quick",
        widths=(16, 64, 128),
        qs=(-0.15, 0.0, 0.25),
        epochs=50,
        n_train=60000,
        n_test=200,                # Jacobian norms of every member at every measured epoch are the cost
        seeds=5,                   # with four, a seed bootstrap cannot hold its false-positive rate at 5 %
        measure_points=8,
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
        seeds=5,
        attack_n=10000,
        resnet_epochs=50,
        resnet_train_n=50000,
        resnet_measure_n=1000,
        theory_n=2000,
        theory_steps=2000,
    ),
}


def describe(profile: str | Profile | None = None) -> str:
    """The code-setting grid of a profile in words: widths, q, seeds, steps and measured images."""
    prof = profile if isinstance(profile, Profile) else get_profile(profile)
    steps = -(-prof.n_train // prof.batch_size) * prof.epochs
    when = ("every epoch" if prof.measure_points is None
            else f"{len(log_checkpoints(prof.epochs, prof.measure_points))} log-spaced epochs")
    return (f"profile '{prof.name}': code setting, widths {list(prof.widths)}, q in {list(prof.qs)}, "
            f"{prof.seeds} seeds per cell; {prof.epochs} epochs of SGD (lr {prof.lr:g}, batch "
            f"{prof.batch_size}) on {prof.n_train} training images = {steps} steps; ϱ, ρ and 𝔖(f) at {when} "
            f"on {prof.n_test} test images, clean accuracy on the 10,000 test images")


def get_profile(name: str | None = None) -> Profile:
    """The Profile object for `name` (see `profile_name`; None: the active profile)."""
    return by_profile(PROFILES, name)


PAPER = "cocorrelation"          # this subpackage's name: the store namespace of its results
BIBKEY = "wang2024implicit"


def result_store(root: str | os.PathLike | None = None) -> ResultStore:
    """The result store of this paper's runs (namespace: shared layers + this paper); `root`:
    its directory (None: $COCORR_RESULTS, else ~/.cache/cocorr/results)."""
    return ResultStore(root, paper=PAPER)


def store_table(kind: str, params: dict[str, Any], compute: Callable[[], pd.DataFrame],
                profile: str | None = None) -> pd.DataFrame:
    """`runs.store.cached_table` in this paper's namespace: the DataFrame stored under (`kind`,
    `params`, profile), or `compute()`'s result, stored first. profile: None for the active one."""
    return cached_table(kind, params, compute, profile=profile, paper=PAPER)


# ---------------------------------------------------------------- the theory setting
# Full-batch GD step sizes η of the theory setting (unit-norm inputs, mean BCE), one per use.
THEORY_STEP_SIZES = {
    "properties": 0.5,       # linear nets of Properties 1–2 (`theory.trajectory_table`)
    "thm41": 1.0,            # the ReLU net whose robust risk Theorem 4.1 bounds (`theory.thm41_table`)
    "dynamics": 1.0,         # Theorems 5.3 and 5.5 step by step (`dynamics.*_dynamics_table`)
    "theory_vs_code": 2.0,   # the theory-setting grid of the beyond-the-paper page
                             # (`experiments.theory_grid`)
}
RISE_WINDOW = 2              # GD steps over which the initial rise of ϱ is measured (Property 2)
LEMMA_DELTA = 0.05           # failure probability δ of Lemma B.2
D_MNIST = 784                # input dimension


def log_checkpoints(steps: int, count: int = 16, early: int = 0) -> list[int]:
    """0, 1, ..., early and about `count` log-spaced steps up to `steps` (sorted, unique)."""
    pts = set(range(min(early, steps) + 1)) | {0, steps}
    pts |= {int(round(v)) for v in np.geomspace(1, max(steps, 1), count)}
    return sorted(p for p in pts if 0 <= p <= steps)


@dataclass(frozen=True)
class TheorySizes:
    """Sizes of the theory pages (definitions, Theorem 4.1, Lemma B.2, Properties 1–2)."""

    widths: list[int]              # widths m of the linear-dynamics and ‖W(0)‖ runs
    qs: list[float]                # initialisation exponents q
    n: int                         # unit-norm MNIST 0/1 training images
    steps: int                     # full-batch GD steps
    n_eval: int                    # test images attacked in the Theorem 4.1 experiment
    thm41_width: int
    thm41_q: float
    radii: list[float]             # L2 radii of the Theorem 4.1 curve
    attack_steps: int              # ascent steps per radius
    lemma_widths: list[int]
    lemma_ns: list[int]            # sample counts n of Lemma B.2
    lemma_trials: int
    thm45_widths: list[int]
    thm45_n: int                   # images of the Theorem 4.5 check
    checkpoints: list[int]         # GD steps recorded along the linear dynamics


def _theory_sizes(prof: Profile) -> TheorySizes:
    quick = prof.name == "quick"
    return TheorySizes(
        widths=list(prof.widths), qs=list(prof.qs), n=prof.theory_n, steps=prof.theory_steps,
        n_eval=128 if quick else 1000, thm41_width=128 if quick else 1024, thm41_q=0.25,
        radii=[float(r) for r in np.geomspace(0.01, 4.0, 14 if quick else 25)],
        attack_steps=30 if quick else 100,
        lemma_widths=list(prof.widths) if quick else [w for w in prof.widths if w <= 2048],
        lemma_ns=[16, prof.theory_n], lemma_trials=40 if quick else 200,
        thm45_widths=list(prof.widths[:3]) if quick else list(prof.widths[:6]),
        thm45_n=128 if quick else 1000,
        checkpoints=log_checkpoints(prof.theory_steps, 10 if quick else 30, early=RISE_WINDOW + 3),
    )


THEORY_SIZES: dict[str, TheorySizes] = {name: _theory_sizes(prof) for name, prof in PROFILES.items()}


def theory_sizes(profile: str | None = None) -> dict[str, Any]:
    """The theory pages' sizes at a profile, as a dict with the profile's name under "profile"."""
    prof = get_profile(profile)
    return {"profile": prof.name, **dataclasses.asdict(by_profile(THEORY_SIZES, prof.name))}


@dataclass(frozen=True)
class DynamicsSettings:
    """Sizes of the theory-setting runs of the Theorem 5.3/5.5 pages."""

    linear_widths: tuple[int, ...]
    relu_widths: tuple[int, ...]
    qs: tuple[float, ...]
    n: int
    steps: int
    relu_steps: int
    eta: float
    seeds: int
    probe_every: int
    n_eval: int                    # inputs over which the ReLU ϱ is averaged
    classes: tuple[int, int] = (0, 1)


DYNAMICS: dict[str, DynamicsSettings] = {
    "quick": DynamicsSettings(
        linear_widths=(64, 512, 4096), relu_widths=(32, 128), qs=(-0.1, 0.1, 0.25),
        n=PROFILES["quick"].theory_n, steps=PROFILES["quick"].theory_steps,
        relu_steps=PROFILES["quick"].theory_steps // 4, eta=THEORY_STEP_SIZES["dynamics"], seeds=4,
        probe_every=max(1, PROFILES["quick"].theory_steps // 40), n_eval=64),
    "paper": DynamicsSettings(
        linear_widths=tuple(2**k for k in range(4, 14)), relu_widths=(64, 256, 1024, 4096),
        qs=tuple(PROFILES["paper"].qs), n=PROFILES["paper"].theory_n, steps=PROFILES["paper"].theory_steps,
        relu_steps=PROFILES["paper"].theory_steps, eta=THEORY_STEP_SIZES["dynamics"],
        seeds=PROFILES["paper"].seeds, probe_every=max(1, PROFILES["paper"].theory_steps // 50),
        n_eval=PROFILES["paper"].theory_n),
}


def dynamics_settings(profile: str | None = None) -> DynamicsSettings:
    """The DynamicsSettings of `profile` (None: the active one). quick: a few widths on two CPU
    cores; paper: the paper's width range (meant for a GPU)."""
    return by_profile(DYNAMICS, profile)
