"""Synthetic tidy tables shaped like the co-correlation paper's code grid (activation × width × q ×
seed × measured epoch), with known effects or none, for the figure criteria's tests."""
from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from cocorr_core.papers.cocorrelation.settings import get_profile, log_checkpoints

QUICK = get_profile("quick")
WIDTHS = QUICK.widths
QS = QUICK.qs
SEEDS = tuple(range(QUICK.seeds))
EPOCHS = tuple(log_checkpoints(QUICK.epochs, QUICK.measure_points))
ACTS = ("linear", "relu")
N_TEST = QUICK.n_test
SPREAD = math.sqrt((1 / 0.99**2 - 1) * N_TEST / (N_TEST - 1))   # the n − 1 spread that goes with ρ = 0.99
FINAL_METRICS = ("dirichlet_full", "test_accuracy", "autoattack_accuracy", "autoattack_accuracy_authors",
                 "pgd_accuracy", "pgd_accuracy_authors")


def grid_table(curve: Callable, finals: Callable | None = None, *, widths: Sequence[int] = WIDTHS,
               qs: Sequence[float] = QS, seeds: Sequence[int] = SEEDS, epochs: Sequence[int] = EPOCHS,
               noise: float = 0.0, rng: np.random.Generator | None = None) -> pd.DataFrame:
    """curve(act, w, q, e) → ϱ; finals(act, w, q) → {metric: value} at the last epoch (𝔖(f) also at
    every epoch, as ϱ times a constant inner energy, when given). `noise`: sd of a per-run offset
    added to ϱ and to each final metric (independent between runs)."""
    rng = rng or np.random.default_rng(0)
    rows = []
    last = max(epochs)
    for act, w, q, s in itertools.product(ACTS, widths, qs, seeds):
        base = dict(run=f"{act}-{w}-{q}-{s}", status="ok", activation=act, width=w, q=q, seed=s,
                    head="code", model="two_layer", cut="", n_train=60000, batch_size=512, n_test=N_TEST)
        offset = noise * rng.standard_normal()
        final = finals(act, w, q) if finals else {}
        for e in epochs:
            rho = curve(act, w, q, e) + offset
            rows.append(dict(base, epoch=e, metric="cocorrelation", value=rho))
            rows.append(dict(base, epoch=e, metric="norm_correlation", value=0.99))
            rows.append(dict(base, epoch=e, metric="rel_spread", value=SPREAD))
            if "dirichlet_full" in final:
                rows.append(dict(base, epoch=e, metric="dirichlet_full",
                                 value=final["dirichlet_full"] * rho / curve(act, w, q, last)))
        for metric, value in final.items():
            if metric != "dirichlet_full":
                value = value + noise * rng.standard_normal()
                rows.append(dict(base, epoch=last, metric=metric, value=value))
    return pd.DataFrame(rows)


def paper_like(act, w, q, e):
    """ϱ rises and saturates for w > 32 and q > 0, faster for wider nets, less for ReLU; flat otherwise."""
    if q <= 0 or w <= 32:
        return 0.5
    amp = 0.3 * q / 0.25 * (0.5 if act == "relu" else 1.0) * math.log2(w) / 7
    return 0.5 + amp * (1 - math.exp(-e * math.log2(w) / 30))


def robust_finals(act, w, q):
    """Energy falls with width and robust accuracy with energy; PGD accuracy falls with final ϱ; clean
    accuracy as the paper."""
    energy = 10.0 / w ** 0.5 * (1 + q)
    rho = paper_like(act, w, q, max(EPOCHS))
    return {"dirichlet_full": energy, "autoattack_accuracy": 1 / (1 + energy),
            "autoattack_accuracy_authors": 1.2 / (1 + energy), "pgd_accuracy": 1.2 - rho,
            "pgd_accuracy_authors": 1.3 - rho, "test_accuracy": 0.9 - 0.1 * q}


def null_table(rng: np.random.Generator, *, seeds: Sequence[int] = SEEDS) -> pd.DataFrame:
    """A grid with no effect: every run's ϱ curve is its own random walk without drift, and every final
    metric an independent draw, so no criterion's effect exists."""
    cells = list(itertools.product(ACTS, WIDTHS, QS, seeds))
    n_runs, n_epochs = len(cells), len(EPOCHS)
    rho = 0.5 + 0.01 * np.cumsum(rng.standard_normal((n_runs, n_epochs)), axis=1)
    inner = np.exp(0.1 * np.cumsum(rng.standard_normal((n_runs, n_epochs)), axis=1))
    frame = pd.DataFrame(cells * n_epochs, columns=["activation", "width", "q", "seed"])
    frame["epoch"] = np.repeat(EPOCHS, n_runs)
    frame["run"] = [f"{a}-{w}-{q}-{s}" for a, w, q, s in cells] * n_epochs
    parts = [frame.assign(metric="cocorrelation", value=rho.T.reshape(-1)),
             frame.assign(metric="dirichlet_full", value=(rho * inner).T.reshape(-1)),
             frame.assign(metric="norm_correlation", value=0.99),
             frame.assign(metric="rel_spread", value=SPREAD)]
    last = frame[frame["epoch"] == max(EPOCHS)]
    for metric in FINAL_METRICS[1:]:
        parts.append(last.assign(metric=metric, value=rng.uniform(0.2, 0.9, len(last))))
    return pd.concat(parts, ignore_index=True).assign(status="ok", head="code", n_train=60000,
                                                      batch_size=512, n_test=N_TEST)
