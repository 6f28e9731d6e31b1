"""Lipschitz constants of scalar networks, bracketed from both sides, for a whole ensemble at once.

A scalar network f: R^d → R is Lipschitz with constant Lip(f) = sup_x ‖∇f(x)‖₂ (f differentiable
almost everywhere). Every measured gradient norm is therefore a *lower* bound on Lip(f), and for
two-layer networks f(x) = aᵀσ(Wx + b) with an L_σ-Lipschitz activation two norms of the weights
are *upper* bounds:

    spectral bound  L_σ ‖W‖_op ‖a‖₂         (∇f(x) = Wᵀ(a ⊙ σ′(Wx + b)) and |σ′| ≤ L_σ),
    path norm       L_σ Σ_ℓ |a_ℓ| ‖w_ℓ‖₂    (triangle inequality over the neurons).

The lower bound is the largest ‖∇f‖ over three kinds of points: the data, random points on the
sphere, and points found by normalised gradient ascent on ‖∇f‖ started from the best of those.
For ReLU networks ‖∇f‖ is piecewise constant, so the ascent climbs a smooth surrogate (the same
network with softplus_β in place of the ReLU) and scores every iterate with the true gradient.

Conventions: an ensemble of K networks is a function `fn` mapping inputs (K, n, d) to outputs
(K, n), member k seeing only X[k]; weights are batched as W (K, k, d), a (K, k), b (K, k).
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from .ground.errors import ConfigError, check_range
from .models import TwoLayerEnsemble

ScalarFn = Callable[[torch.Tensor], torch.Tensor]

__all__ = [
    "ScalarFn", "two_layer_function", "ensemble_function", "input_gradients", "gradient_norms",
    "sphere_points", "gradient_ascent", "spectral_bound", "path_norm_bound", "lipschitz_bracket",
]


# ---------------------------------------------------------------- networks as batched functions
def two_layer_function(W: torch.Tensor, a: torch.Tensor, b: torch.Tensor | None = None,
                       activation: Callable[[torch.Tensor], torch.Tensor] = torch.relu) -> ScalarFn:
    """x ↦ Σ_ℓ a_ℓ σ(w_ℓ·x + b_ℓ) for K networks: W (K, k, d), a (K, k), b (K, k) or None.

    The returned function maps X (K, n, d) to (K, n)."""
    if W.ndim != 3 or a.shape != W.shape[:2] or (b is not None and b.shape != a.shape):
        raise ConfigError(f"two-layer weights need W (K, k, d), a (K, k), b (K, k) or None; got "
                          f"{tuple(W.shape)}, {tuple(a.shape)}, {None if b is None else tuple(b.shape)}.")

    def fn(X: torch.Tensor) -> torch.Tensor:
        Z = torch.bmm(X, W.transpose(1, 2))
        if b is not None:
            Z = Z + b[:, None, :]
        return (activation(Z) * a[:, None, :]).sum(-1)

    return fn


def ensemble_function(model: TwoLayerEnsemble, output: int = 0, smooth_beta: float | None = None) -> ScalarFn:
    """Logit `output` of every member of a TwoLayerEnsemble as a batched function (K, n, d) → (K, n).

    With `smooth_beta` the ReLU is replaced by softplus_β (z ↦ log(1 + e^{βz})/β), the smooth
    surrogate that `gradient_ascent` climbs."""
    if not 0 <= output < model.n_outputs:
        raise ConfigError(f"output={output} is out of range for a model with {model.n_outputs} output(s).")
    W, a = model.W.detach(), model.A.detach()[:, output, :]
    if model.activation == "linear":
        act: Callable[[torch.Tensor], torch.Tensor] = lambda z: z  # noqa: E731
    elif smooth_beta is None:
        act = torch.relu
    else:
        check_range("smooth_beta", smooth_beta, lo=0.0, lo_open=True)
        act = lambda z: F.softplus(z, beta=smooth_beta)  # noqa: E731
    return two_layer_function(W, a, None, act)


# ---------------------------------------------------------------- gradients
def _check_points(X: torch.Tensor) -> None:
    if X.ndim != 3:
        raise ConfigError(f"points must have shape (K, n, d), one set per member; got {tuple(X.shape)}.")


def input_gradients(fn: ScalarFn, X: torch.Tensor, *, create_graph: bool = False) -> torch.Tensor:
    """∇_x f_k(x) at every point of every member: X (K, n, d) → (K, n, d).

    One backward pass serves all points, since f_k(x_i) depends on x_i alone."""
    _check_points(X)
    with torch.enable_grad():
        x = X if (create_graph and X.requires_grad) else X.detach().requires_grad_(True)
        out = fn(x)
        if out.shape != X.shape[:2]:
            raise ConfigError(f"fn must map (K, n, d) to (K, n); got {tuple(out.shape)} "
                              f"from {tuple(X.shape)}.")
        (grad,) = torch.autograd.grad(out.sum(), x, create_graph=create_graph)
    return grad


def gradient_norms(fn: ScalarFn, X: torch.Tensor, *, chunk: int = 4096) -> torch.Tensor:
    """‖∇f_k(x)‖₂ at every point: X (K, n, d) → (K, n), `chunk` points per pass."""
    _check_points(X)
    check_range("chunk", chunk, lo=1, integer=True)
    parts = [input_gradients(fn, X[:, s:s + chunk]).norm(dim=-1) for s in range(0, X.shape[1], chunk)]
    return torch.cat(parts, 1)


def sphere_points(n_models: int, n: int, d: int, *, radius: float = 1.0, seed: int = 0,
                  dtype: torch.dtype = torch.float64, device: str | torch.device = "cpu") -> torch.Tensor:
    """n points uniform on the sphere of `radius` in R^d for each of K members: (K, n, d), seeded."""
    check_range("n", n, lo=1, integer=True)
    check_range("d", d, lo=1, integer=True)
    g = torch.Generator().manual_seed(int(seed))
    Z = torch.randn(n_models, n, d, generator=g, dtype=torch.float64)
    return (radius * Z / Z.norm(dim=-1, keepdim=True)).to(device=device, dtype=dtype)


def gradient_ascent(fn: ScalarFn, X0: torch.Tensor, *, steps: int = 50, step_size: float = 0.05,
                    surrogate: ScalarFn | None = None, radius: float | None = 1.0
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised gradient ascent on ‖∇s(x)‖² (s = `surrogate`, else fn) from X0 (K, n, d).

    Each step moves every point by `step_size` · (its radius, or 1) along the normalised ascent
    direction; with `radius` the points are projected back onto that sphere (for positively
    homogeneous networks the sphere loses nothing). Every iterate is scored with the true ‖∇fn‖.
    Returns (best points (K, n, d), best true norms (K, n)) over the iterates, X0 included."""
    _check_points(X0)
    check_range("steps", steps, lo=0, integer=True)
    check_range("step_size", step_size, lo=0.0, lo_open=True)
    smooth = surrogate or fn
    x = X0.detach().clone()
    best_x, best = x.clone(), gradient_norms(fn, x)
    scale = radius if radius is not None else 1.0
    for _ in range(steps):
        with torch.enable_grad():
            xg = x.clone().requires_grad_(True)
            objective = input_gradients(smooth, xg, create_graph=True).square().sum()
            if not objective.requires_grad:     # the gradient does not depend on x: nothing to climb
                break
            (up,) = torch.autograd.grad(objective, xg)
        up = up / up.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(up.dtype).tiny)
        x = (x + step_size * scale * up).detach()
        if radius is not None:
            x = radius * x / x.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(x.dtype).tiny)
        now = gradient_norms(fn, x)
        better = now > best
        best = torch.where(better, now, best)
        best_x = torch.where(better[..., None], x, best_x)
    return best_x, best


# ---------------------------------------------------------------- upper bounds
def _check_weights(W: torch.Tensor, a: torch.Tensor) -> None:
    if W.ndim != 3 or a.shape != W.shape[:2]:
        raise ConfigError(f"weights need W (K, k, d) and a (K, k); got {tuple(W.shape)}, {tuple(a.shape)}.")


def spectral_bound(W: torch.Tensor, a: torch.Tensor, lip_activation: float = 1.0) -> torch.Tensor:
    """L_σ ‖W‖_op ‖a‖₂ for each member: W (K, k, d), a (K, k) → (K,)."""
    _check_weights(W, a)
    return lip_activation * torch.linalg.matrix_norm(W, ord=2) * a.norm(dim=-1)


def path_norm_bound(W: torch.Tensor, a: torch.Tensor, lip_activation: float = 1.0) -> torch.Tensor:
    """L_σ Σ_ℓ |a_ℓ| ‖w_ℓ‖₂ for each member: W (K, k, d), a (K, k) → (K,)."""
    _check_weights(W, a)
    return lip_activation * (a.abs() * W.norm(dim=-1)).sum(-1)


# ---------------------------------------------------------------- both sides at once
@torch.no_grad()
def lipschitz_bracket(fn: ScalarFn, W: torch.Tensor, a: torch.Tensor, X: torch.Tensor, *,
                      n_random: int = 2000, ascent_starts: int = 32, ascent_steps: int = 50,
                      step_size: float = 0.05, surrogate: ScalarFn | None = None,
                      lip_activation: float = 1.0, seed: int = 0) -> dict[str, torch.Tensor]:
    """Lower and upper bounds on Lip(f_k) for K two-layer networks f_k = `fn` with weights W, a.

    X: the data, (n, d) shared or (K, n, d). The lower bounds are the largest ‖∇f_k‖ over the
    data (`lower_data`), over `n_random` uniform points on the sphere of the data's mean radius
    (`lower_random`), and over gradient ascent from each member's `ascent_starts` best points
    (`lower_ascent`, never below the best start); `lower` is the largest of the three.
    `spectral` and `path` are the weight-norm upper bounds, `upper` the smaller of the two.
    Every entry is a float64 tensor (K,)."""
    _check_weights(W, a)
    K, _, d = W.shape
    X = X.to(device=W.device, dtype=W.dtype)
    if X.ndim == 2:
        X = X.expand(K, *X.shape)
    _check_points(X)
    if X.shape[0] != K or X.shape[2] != d:
        raise ConfigError(f"data must have shape (n, {d}) or ({K}, n, {d}); got {tuple(X.shape)}.")
    check_range("ascent_starts", ascent_starts, lo=1, integer=True)
    radius = float(X.norm(dim=-1).mean())
    data_norms = gradient_norms(fn, X)
    points, norms = [X], [data_norms]
    out = {"lower_data": data_norms.max(1).values}
    if n_random > 0:
        R = sphere_points(K, n_random, d, radius=radius, seed=seed, dtype=W.dtype, device=W.device)
        rnorms = gradient_norms(fn, R)
        out["lower_random"] = rnorms.max(1).values
        points.append(R)
        norms.append(rnorms)
    allx, alln = torch.cat(points, 1), torch.cat(norms, 1)
    top = alln.topk(min(ascent_starts, alln.shape[1]), dim=1).indices
    starts = torch.gather(allx, 1, top[..., None].expand(-1, -1, d))
    _, best = gradient_ascent(fn, starts, steps=ascent_steps, step_size=step_size, surrogate=surrogate,
                              radius=radius)
    out["lower_ascent"] = best.max(1).values
    out["lower"] = torch.stack([v for v in out.values()]).max(0).values
    out["spectral"] = spectral_bound(W, a, lip_activation)
    out["path"] = path_norm_bound(W, a, lip_activation)
    out["upper"] = torch.minimum(out["spectral"], out["path"])
    return {k: v.to(torch.float64) for k, v in out.items()}
