"""Run configurations: one training run, validated when it is made.

The allowed values come from the layers that implement them (data sets from `data`, models
and heads from `models`, optimisers and losses from `training`), so a paper that uses what
the shared layers offer edits nothing here.
"""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..data import DATASETS
from ..ground.devices import DEVICE_CHOICES
from ..ground.errors import ConfigError, check_choice, check_range
from ..ground.profiles import PROFILE_NAMES
from ..models import ACTIVATIONS, HEADS, MODELS
from ..training import LOSSES, OPTIMIZERS


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
        check_choice("device", self.device, DEVICE_CHOICES)
        check_choice("profile", self.profile, PROFILE_NAMES)
        if not isinstance(self.measures, tuple):
            object.__setattr__(self, "measures", tuple(self.measures))
        if self.loss == "bce" and self.head != "theory":
            raise ConfigError("loss='bce' needs head='theory' (a single output); "
                              "use loss='ce' with head='code'.")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["measures"] = list(self.measures)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
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

    def replace(self, **changes: Any) -> RunConfig:
        return dataclasses.replace(self, **changes)


def grid(base: RunConfig, **axes: Iterable[Any]) -> list[RunConfig]:
    """Expand lists of values into the cartesian product of runs, e.g.
    grid(base, width=[16, 64], q=[0, .25])."""
    names = list(axes)
    for n in names:
        if n not in {f.name for f in dataclasses.fields(RunConfig)}:
            raise ConfigError(f"grid axis {n!r} is not a RunConfig field.")
    values = [list(axes[n]) for n in names]
    return [base.replace(**dict(zip(names, combo))) for combo in itertools.product(*values)]
