"""Errors and validation: a bad value fails at once, naming the field, the value and what is allowed."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class UserError(Exception):
    """Bad input from the user (config, CLI argument, data file, device): the CLI prints the
    message and exits with code 2, without a traceback."""


class ConfigError(UserError, ValueError):
    """A configuration value, CLI argument or environment variable is not acceptable."""


class EnvironmentFault(Exception):
    """The machine, not the run, failed: unreadable data, an unwritable store, a full disk.
    A sweep stops at once and stores nothing for the runs in flight; the CLI prints the message
    and exits with code 1. (Bad input the user can fix is a UserError, code 2.)"""


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> None:
    """Raise ConfigError unless `value` is one of `choices`."""
    choices = tuple(choices)
    if value not in choices:
        raise ConfigError(f"{name}={value!r} is not allowed; choose one of {choices}.")


def check_range(name: str, value: Any, lo: float | None = None, hi: float | None = None,
                integer: bool = False, lo_open: bool = False) -> None:
    """Raise ConfigError unless `value` is a finite number (an int if `integer`) in [lo, hi]
    (or (lo, hi] with `lo_open`)."""
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
