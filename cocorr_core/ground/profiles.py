"""The two profiles by name. Each paper keeps its own sizes per profile (its `settings` module).

`quick` runs on two CPU cores and builds the whole book in CI; `paper` uses the papers'
settings and is meant for a GPU or a cluster. Both run the same code; only sizes change.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TypeVar

from .errors import ConfigError

PROFILE_ENV = "COCORR_PROFILE"
PROFILE_NAMES = ("quick", "paper")

T = TypeVar("T")


def profile_name(name: str | None = None) -> str:
    """The active profile name: the argument, else $COCORR_PROFILE, else 'quick'."""
    chosen = name if name is not None else os.environ.get(PROFILE_ENV, "quick")
    chosen = str(chosen).strip().lower()
    if chosen not in PROFILE_NAMES:
        raise ConfigError(
            f"profile={chosen!r} is unknown; choose one of {PROFILE_NAMES} "
            f"(argument, papermill parameter PROFILE, or ${PROFILE_ENV})."
        )
    return chosen


def by_profile(sizes: Mapping[str, T], name: str | None = None) -> T:
    """`sizes[profile_name(name)]`: a paper's sizes for the active profile."""
    chosen = profile_name(name)
    missing = set(PROFILE_NAMES) - set(sizes)
    if missing:
        raise ValueError(f"sizes are missing for profile(s) {sorted(missing)}")
    return sizes[chosen]
