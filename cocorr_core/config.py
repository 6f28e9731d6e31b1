"""Run configurations and the two profiles.

Every value is validated when the object is made: a bad value fails at once with the
field, the value and what is allowed.
"""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
from dataclasses import dataclass, field
from typing import Any, Iterable

PROFILE_ENV = "COCORR_PROFILE"
PROFILE_NAMES = ("quick", "paper")


class UserError(Exception):
    """Bad input from the user (config, CLI argument, data file, device): the CLI prints the
    message and exits with code 2, without a traceback."""


class ConfigError(UserError, ValueError):
    """A configuration value, CLI argument or environment variable is not acceptable."""


# ---------------------------------------------------------------- profiles
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


def profile_name(name: str | None = None) -> str:
    """The active profile name: the argument, else $COCORR_PROFILE, else 'quick'."""
    chosen = name if name is not None else os.environ.get(PROFILE_ENV, "quick")
    chosen = str(chosen).strip().lower()
    if chosen not in PROFILES:
        raise ConfigError(
            f"profile={chosen!r} is unknown; choose one of {PROFILE_NAMES} "
            f"(argument, papermill parameter PROFILE, or ${PROFILE_ENV})."
        )
    return chosen


def get_profile(name: str | None = None) -> Profile:
    """The Profile object for `name` (see `profile_name`)."""
    return PROFILES[profile_name(name)]


# ---------------------------------------------------------------- validation helpers
def check_choice(name: str, value: Any, choices: Iterable[Any]) -> None:
    choices = tuple(choices)
    if value not in choices:
        raise ConfigError(f"{name}={value!r} is not allowed; choose one of {choices}.")


def check_range(name: str, value: Any, lo: float | None = None, hi: float | None = None,
                integer: bool = False, lo_open: bool = False) -> None:
    if integer and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{name}={value!r} must be an integer.")
    if not integer and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise ConfigError(f"{name}={value!r} must be a number.")
    if value != value:  # NaN
        raise ConfigError(f"{name}={value!r} must be a finite number.")
    bad_lo = lo is not None and (value <= lo if lo_open else value < lo)
    bad_hi = hi is not None and value > hi
    if bad_lo or bad_hi:
        left = "(" if lo_open else "["
        raise ConfigError(
            f"{name}={value!r} is out of range; allowed {left}{'-inf' if lo is None else lo}, "
            f"{'inf' if hi is None else hi}]."
        )


# ---------------------------------------------------------------- one run
ACTIVATIONS = ("linear", "relu")
HEADS = ("theory", "code")
OPTIMIZERS = ("gd", "sgd", "adam")
LOSSES = ("bce", "ce")
DATASETS = ("mnist", "mnist_binary", "digits", "synthetic_binary", "mnist32", "cifar10")
MODELS = ("two_layer", "resnet50", "wide_resnet50_2")
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class RunConfig:
    """One training run: model, data, optimiser, measures, seed, device and profile.

    `key()` is a stable content hash of everything that changes the numbers; `device`
    is recorded in provenance but left out of the key.
    """

    model: str = "two_layer"
    activation: str = "relu"
    width: int = 64
    q: float = 0.0
    head: str = "code"
    dataset: str = "mnist"
    n_train: int = 8192
    n_test: int = 2000
    optimizer: str = "sgd"
    loss: str = "ce"
    lr: float = 0.003
    batch_size: int = 512
    epochs: int = 8
    measures: tuple[str, ...] = ("cocorrelation",)
    attack_eps: float = 0.0        # 0 means no attack
    attack_n: int = 0
    cut: str = ""                  # split point for deep models
    seed: int = 0
    device: str = "auto"
    profile: str = "quick"

    def __post_init__(self) -> None:
        check_choice("model", self.model, MODELS)
        check_choice("activation", self.activation, ACTIVATIONS)
        check_range("width", self.width, lo=1, integer=True)
        check_range("q", self.q, lo=-2.0, hi=2.0)
        check_choice("head", self.head, HEADS)
        check_choice("dataset", self.dataset, DATASETS)
        check_range("n_train", self.n_train, lo=1, integer=True)
        check_range("n_test", self.n_test, lo=1, integer=True)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_choice("loss", self.loss, LOSSES)
        check_range("lr", self.lr, lo=0.0, lo_open=True)
        check_range("batch_size", self.batch_size, lo=1, integer=True)
        check_range("epochs", self.epochs, lo=0, integer=True)
        check_range("attack_eps", self.attack_eps, lo=0.0)
        check_range("attack_n", self.attack_n, lo=0, integer=True)
        check_range("seed", self.seed, lo=0, integer=True)
        check_choice("device", self.device, DEVICES)
        check_choice("profile", self.profile, PROFILE_NAMES)
        if not isinstance(self.measures, tuple):
            object.__setattr__(self, "measures", tuple(self.measures))
        if self.loss == "bce" and self.head != "theory":
            raise ConfigError("loss='bce' needs head='theory' (a single output); use loss='ce' with head='code'.")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["measures"] = list(self.measures)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ConfigError(f"unknown RunConfig field(s) {sorted(unknown)}; known: {sorted(names)}.")
        d = dict(d)
        if "measures" in d:
            d["measures"] = tuple(d["measures"])
        return cls(**d)

    def key(self) -> str:
        """Stable content hash (16 hex digits) of every field except `device`."""
        d = self.to_dict()
        d.pop("device")
        blob = json.dumps(d, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def replace(self, **changes: Any) -> "RunConfig":
        return dataclasses.replace(self, **changes)


def grid(base: RunConfig, **axes: Iterable[Any]) -> list[RunConfig]:
    """Expand lists of values into the cartesian product of runs, e.g. grid(base, width=[16, 64], q=[0, .25])."""
    names = list(axes)
    for n in names:
        if n not in {f.name for f in dataclasses.fields(RunConfig)}:
            raise ConfigError(f"grid axis {n!r} is not a RunConfig field.")
    values = [list(axes[n]) for n in names]
    return [base.replace(**dict(zip(names, combo))) for combo in itertools.product(*values)]
