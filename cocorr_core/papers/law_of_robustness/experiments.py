"""Fitting random labels with two-layer ReLU networks of growing width, and measuring them.

Protocol (reconstructed; the original experiment's details are not available):
data x_i uniform on the unit sphere of R^d with fair ±1 labels (`data.sphere_random_labels`);
networks f(x) = aᵀ relu(Wx) with k neurons, a fixed at ±1/√k and W(0) with N(0, 1) entries,
one ensemble of `seeds` initialisations per width (one data draw per (n, d) cell); full-batch
Adam on the mean BCE (`training.train_ensemble`), each member stopped at the first epoch where
every training point has margin y_i f(x_i) >= 1. The network kept is f/γ with γ = min_i y_i f(x_i)
(so the smallest margin is exactly 1). Since clipping to [−1, 1] is 1-Lipschitz, clip(f/γ)
interpolates the labels exactly with no larger Lipschitz constant.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ... import data
from ...ground.devices import resolve_device
from ...lipschitz import ensemble_function, lipschitz_bracket
from ...measures import summarize, two_layer_norms
from ...models import TwoLayerEnsemble
from ...training import train_ensemble
from .settings import INIT_Q, LR, SMOOTH_BETA, TARGET_MARGIN, Profile, get_profile, store_table, widths

BRACKET = ("lower_data", "lower_random", "lower_ascent", "lower", "spectral", "path", "upper")


def fit_to_margin(X: torch.Tensor, y: torch.Tensor, width: int, seeds: list[int], *, max_epochs: int,
                  lr: float = LR, margin: float = TARGET_MARGIN, device: str = "auto"):
    """Train `len(seeds)` networks of `width` on (X, y ±1) until each reaches the margin.

    Returns (model with each member's weights at its stopping epoch, info dict of (K,) arrays:
    epochs, fitted, raw_margin, train_error)."""
    dev = resolve_device(device)
    K = len(seeds)
    model = TwoLayerEnsemble.init(X.shape[1], width, qs=[INIT_Q] * K, seeds=seeds, head="theory",
                                  dtype=torch.float32, device=dev)
    Xd, yd = X.to(dev, torch.float32), y.to(dev, torch.float32)
    snap_W = model.W.detach().clone()
    stop = np.full(K, -1)

    def on_epoch(epoch: int, m: TwoLayerEnsemble) -> dict:
        with torch.no_grad():
            mg = (m(Xd)[..., 0] * yd).min(1).values
            new = ((mg >= margin).cpu().numpy()) & (stop < 0)
            if new.any():
                idx = torch.as_tensor(np.flatnonzero(new), device=dev)
                snap_W[idx] = m.W.detach()[idx]
                stop[new] = epoch
        return {"min_margin": mg}

    train_ensemble(model, Xd, (yd + 1) / 2, optimizer="adam", loss="bce", lr=lr, batch_size=X.shape[0],
                   epochs=max_epochs, on_epoch=on_epoch, stop_when=lambda epoch, m: bool((stop >= 0).all()))
    with torch.no_grad():
        unfit = torch.as_tensor(stop < 0, device=dev)
        model.W.copy_(torch.where(unfit[:, None, None], model.W, snap_W))
        u = model(Xd)[..., 0]
        info = {"epochs": np.where(stop < 0, max_epochs, stop), "fitted": stop >= 0,
                "raw_margin": (u * yd).min(1).values.double().cpu().numpy(),
                "train_error": ((u * yd) <= 0).double().mean(1).cpu().numpy()}
    return model, info


def margin_normalised(model: TwoLayerEnsemble, X: torch.Tensor, y: torch.Tensor) -> TwoLayerEnsemble:
    """A float64 copy of the ensemble with each member's head divided by its smallest margin."""
    W = model.W.detach().double()
    A = model.A.detach().double()
    Xd = X.to(W.device, torch.float64)
    u = torch.einsum("nd,kmd->knm", Xd, W).relu() @ A[:, 0, :, None]
    gamma = (u[..., 0] * y.to(W.device, torch.float64)).min(1).values
    return TwoLayerEnsemble(W, A / gamma.abs()[:, None, None], "relu", model.qs, model.seeds)


def measure(model: TwoLayerEnsemble, X: torch.Tensor, prof: Profile, seed: int = 0) -> dict[str, np.ndarray]:
    """Lipschitz bracket and the shared Jacobian measures of a margin-normalised ensemble: name → (K,)."""
    W, a = model.W.detach(), model.A.detach()[:, 0, :]
    out = lipschitz_bracket(ensemble_function(model), W, a, X, n_random=prof.n_random,
                            ascent_starts=prof.ascent_starts, ascent_steps=prof.ascent_steps,
                            surrogate=ensemble_function(model, smooth_beta=SMOOTH_BETA), seed=seed)
    res = {k: v.cpu().numpy() for k, v in out.items()}
    s = summarize(two_layer_norms(model, X))
    for name in ("dirichlet_full", "cocorrelation", "norm_correlation"):
        res[name] = s[name].cpu().numpy()
    res["proj_bound"] = projection_bound(W, X).cpu().numpy()
    return res


def projection_bound(W: torch.Tensor, X: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    """√(n_min / (rank(W)·‖X‖²_op)): the n ≈ d lower bound on Lip of any fit whose first layer is W.

    W (K, k, d), X (n, d); n_min = the smaller class size (n/2 if y is None)."""
    Xd = X.to(W.device, torch.float64)
    n = Xd.shape[0]
    n_min = n / 2 if y is None else float(min((y > 0).sum(), (y < 0).sum()))
    rank = torch.linalg.matrix_rank(W.double()).double()
    return torch.sqrt(n_min / (rank * torch.linalg.matrix_norm(Xd, ord=2) ** 2))


def sweep_cell(n: int, d: int, prof: Profile, data_seed: int = 0, device: str = "auto") -> pd.DataFrame:
    """One (n, d) data set: every width of the sweep, `prof.seeds` members each; one row per network."""
    X, y = data.sphere_random_labels(n, d, seed=data_seed)
    rows = []
    seeds = list(range(prof.seeds))
    for k in widths(n, d, prof):
        model, info = fit_to_margin(X, y, k, [1000 * k + s for s in seeds], max_epochs=prof.max_epochs,
                                    device=device)
        net = margin_normalised(model, X, y)
        res = measure(net, X, prof, seed=k)
        for j, s in enumerate(seeds):
            rows.append({"n": n, "d": d, "width": k, "seed": s, "params": k * (d + 2),
                         **{key: float(v[j]) for key, v in info.items()},
                         **{key: float(v[j]) for key, v in res.items()}})
    df = pd.DataFrame(rows)
    df["fitted"] = df["fitted"].astype(bool)
    df["law"] = np.sqrt(df["n"] / df["width"])
    df["universal_law"] = np.sqrt(df["n"] * df["d"] / df["params"])
    return df


def sweep_table(profile: str | None = None, device: str = "auto") -> pd.DataFrame:
    """Every (n, d) cell of the profile's width sweep (stored): one row per trained network."""
    prof = get_profile(profile)

    def compute() -> pd.DataFrame:
        return pd.concat([sweep_cell(n, d, prof, data_seed=i, device=device)
                          for i, (n, d) in enumerate(prof.cells)], ignore_index=True)

    params = {"cells": [list(c) for c in prof.cells], "seeds": prof.seeds, "start": prof.width_start,
              "ratio": prof.width_ratio, "max_epochs": prof.max_epochs, "lr": LR, "q": INIT_Q,
              "n_random": prof.n_random, "ascent": [prof.ascent_starts, prof.ascent_steps]}
    return store_table("sweep", params, compute, profile=prof.name)
