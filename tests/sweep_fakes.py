"""Fake runners for the sweep and CLI tests.

A module (not a test file) so that Dask worker processes and subprocesses can import it:
the tests put this directory on PYTHONPATH. Each runner returns a deterministic function
of the config, so a table can be checked value by value.

Run as a script it starts a slow sweep (used by the kill-and-resume and two-writer tests):
    python sweep_fakes.py ROOT NAMESPACE [LOG]
With LOG, every run trained is appended to that file as one line (its key).
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

METRICS = ("train_loss", "cocorrelation")


@dataclass
class FakeOutcome:
    config: object
    metrics: pd.DataFrame
    status: str = "ok"
    failed_epoch: int | None = None
    error: str | None = None


def expected_value(cfg, epoch: int, metric: str) -> float:
    """The number every fake runner reports for (config, epoch, metric)."""
    base = cfg.width / 16 + 10 * cfg.q + 100 * cfg.seed
    return base + epoch if metric == "train_loss" else base * 0.5 - epoch


def metrics_for(cfg, nan_epoch: int | None = None) -> pd.DataFrame:
    rows = []
    for epoch in range(cfg.epochs + 1):
        for metric in METRICS:
            value = expected_value(cfg, epoch, metric)
            if nan_epoch is not None and epoch >= nan_epoch and metric == "train_loss":
                value = math.nan
            rows.append({"epoch": epoch, "metric": metric, "value": value})
    return pd.DataFrame(rows)


def group_by_width(cfg):
    """Runs of one width train together (as an ensemble over q and seed would)."""
    return cfg.width


def runner(configs):
    return [FakeOutcome(cfg, metrics_for(cfg)) for cfg in configs]


def nan_runner(configs):
    """Runs with q < 0 diverge: train_loss becomes NaN from epoch 3 on (status still 'ok')."""
    return [FakeOutcome(cfg, metrics_for(cfg, nan_epoch=3 if cfg.q < 0 else None)) for cfg in configs]


def slow_runner(configs):
    time.sleep(0.4)
    return runner(configs)


class CountingRunner:
    """Counts calls; raises `exc` on call number `raise_on` (1-based)."""

    def __init__(self, raise_on: int | None = None, exc: BaseException | None = None):
        self.calls: list[list[str]] = []
        self.raise_on, self.exc = raise_on, exc

    def __call__(self, configs):
        self.calls.append([c.key() for c in configs])
        if self.raise_on is not None and len(self.calls) == self.raise_on:
            raise self.exc
        return runner(configs)

    @property
    def n_runs(self) -> int:
        return sum(len(c) for c in self.calls)


def configs(n_widths: int = 4, epochs: int = 4):
    from cocorr_core.runs.config import RunConfig, grid

    base = RunConfig(epochs=epochs, n_train=64, n_test=32, device="cpu")
    return grid(base, width=[16 * 2**i for i in range(n_widths)], q=[-0.1, 0.25], seed=[0, 1])


class LoggingRunner:
    """slow_runner that appends the key of every run it trains to a log file."""

    def __init__(self, log: str):
        self.log = log

    def __call__(self, configs):
        with open(self.log, "a") as f:
            f.write("".join(f"{c.key()}\n" for c in configs))
        return slow_runner(configs)


if __name__ == "__main__":
    from cocorr_core.runs.store import ResultStore
    from cocorr_core.runs.sweep import run_sweep

    root, namespace = sys.argv[1], sys.argv[2]
    train = LoggingRunner(sys.argv[3]) if len(sys.argv) > 3 else slow_runner
    # One run per group, so runs land on disk one by one while the parent watches.
    summary = run_sweep(configs(), store=ResultStore(Path(root), namespace), runner=train,
                        group_key=lambda c: c.key(), progress=False, poll_s=0.1)
    print(summary)
