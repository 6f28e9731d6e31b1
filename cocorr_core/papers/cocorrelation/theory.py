"""Symbolic derivations and small numeric checks for the co-correlation theory
(Wang, Min & Ruan 2024, Sections 3-5 and Appendices A-B).

Every `*_symbolic` / derivation function returns sympy objects so that notebooks can display
them and tests can check them (`simplify(lhs - rhs) == 0`) and compare them with torch in
float64. The numeric helpers below each derivation are batched torch code.

Contents
  Theorem 4.5  Dirichlet energy = co-correlation x spread x norm correlation x energies
  Theorem 4.1  first-order bound of the adversarial risk by the loss's Dirichlet energy
  Lemma B.2    norm of a Gaussian vector (chi distribution) and its concentration
  Properties   spectral norm at initialisation, saturation and speed of co-correlation
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import sympy as sp
import torch

from ...data import load_mnist, load_mnist_binary, to_code_inputs
from ...ground.devices import resolve_device
from ...ground.errors import ConfigError, check_range
from ...measures import summarize, two_layer_norms
from ...models import TwoLayerEnsemble, activate, activation_derivative, init_std
from ...training import accuracy, bce_loss, theory_gd
from .dynamics import simulate_relu
from .settings import (
    D_MNIST,
    LEMMA_DELTA,
    RISE_WINDOW,
    THEORY_STEP_SIZES,
    dynamics_settings,
    get_profile,
    store_table,
    theory_sizes,
)

# =====================================================================================
# Theorem 4.5 on a discrete distribution with N atoms
# =====================================================================================


def discrete_norm_model(n_atoms: int = 3) -> dict[str, tuple]:
    """A joint distribution of the per-sample norms with `n_atoms` atoms.

    Atom i has probability p_i (p_N = 1 - p_1 - ... - p_{N-1}) and carries
    A_i = ||J_phi(varphi(x))||, B_i = ||J_varphi(x)||, C_i = ||J_{phi o varphi}(x)||.
    Any distribution of an empirical sample is of this form, so an identity that holds for
    every N holds for every sample the book measures.
    Returns {"p", "A", "B", "C"}: tuples of `n_atoms` sympy expressions (n_atoms ≥ 2).
    """
    check_range("n_atoms", n_atoms, lo=2, integer=True)
    free = sp.symbols(f"p1:{n_atoms}", positive=True)
    p = tuple(free) + (1 - sum(free),)
    A = sp.symbols(f"A1:{n_atoms + 1}", positive=True)
    B = sp.symbols(f"B1:{n_atoms + 1}", positive=True)
    C = sp.symbols(f"C1:{n_atoms + 1}", nonnegative=True)
    return {"p": p, "A": A, "B": B, "C": C}


def energy_terms(model: dict[str, tuple]) -> dict[str, sp.Expr]:
    """Definitions 3.2, 4.2, 4.3 as expectations over the atoms of `model` (from
    `discrete_norm_model`): sympy S_full, S_outer, S_inner, mu, var, cocorrelation,
    norm_correlation, rel_spread."""
    p, A, B, C = model["p"], model["A"], model["B"], model["C"]

    def E(values):
        return sum(pi * v for pi, v in zip(p, values))

    mu = E([a * b for a, b in zip(A, B)])
    second = E([(a * b) ** 2 for a, b in zip(A, B)])
    S_full = sp.sqrt(E([c**2 for c in C]))
    S_outer = sp.sqrt(E([a**2 for a in A]))
    S_inner = sp.sqrt(E([b**2 for b in B]))
    var = second - mu**2
    return {
        "S_full": S_full,
        "S_outer": S_outer,
        "S_inner": S_inner,
        "mu": mu,
        "var": var,
        "cocorrelation": S_full / sp.sqrt(second),
        "norm_correlation": mu / (S_outer * S_inner),
        "rel_spread": sp.sqrt(var) / mu,
    }


def theorem45_identity(n_atoms: int = 3) -> dict[str, sp.Expr]:
    """Both sides of Theorem 4.5, squared, and their simplified difference (0 when the
    theorem holds identically in p, A, B, C), on `n_atoms` atoms: sympy lhs_sq, rhs_sq, difference."""
    t = energy_terms(discrete_norm_model(n_atoms))
    lhs = t["S_full"] ** 2
    rhs = (t["cocorrelation"] * sp.sqrt(1 + t["var"] / t["mu"] ** 2) * t["norm_correlation"]
           * t["S_outer"] * t["S_inner"]) ** 2
    return {"lhs_sq": lhs, "rhs_sq": rhs, "difference": sp.cancel(sp.together(lhs - rhs))}


def cauchy_schwarz_lagrange(n_atoms: int = 3) -> dict[str, sp.Expr]:
    """ρ <= 1 by the weighted Lagrange identity
    (sum p A^2)(sum p B^2) - (sum p A B)^2 = sum_{i<j} p_i p_j (A_i B_j - A_j B_i)^2.
    The right side is a sum of squares, so it is >= 0, with equality iff A_i B_j = A_j B_i
    for all pairs, i.e. the two norms are proportional on the support (ρ = 1).
    On `n_atoms` atoms; returns sympy gap, sum_of_squares and difference (expands to 0)."""
    m = discrete_norm_model(n_atoms)
    p, A, B = m["p"], m["A"], m["B"]
    gap = (sum(pi * a**2 for pi, a in zip(p, A)) * sum(pi * b**2 for pi, b in zip(p, B))
           - sum(pi * a * b for pi, a, b in zip(p, A, B)) ** 2)
    squares = sum(p[i] * p[j] * (A[i] * B[j] - A[j] * B[i]) ** 2
                  for i in range(n_atoms) for j in range(i + 1, n_atoms))
    return {"gap": gap, "sum_of_squares": squares, "difference": sp.expand(gap - squares)}


def cocorrelation_gap(n_atoms: int = 3) -> dict[str, sp.Expr]:
    """ϱ <= 1 from submultiplicativity C_i = t_i A_i B_i with 0 <= t_i <= 1:
    1 - ϱ^2 = sum p_i (1 - t_i^2) A_i^2 B_i^2 / sum p_i A_i^2 B_i^2, a ratio of
    non-negative terms; it is 0 iff t_i = 1 on every atom (the norm of the product equals
    the product of the norms almost surely). On `n_atoms` atoms; returns sympy t (the t_i),
    one_minus_cocorrelation_sq, claimed and difference (simplifies to 0)."""
    m = discrete_norm_model(n_atoms)
    p, A, B = m["p"], m["A"], m["B"]
    t = sp.symbols(f"t1:{n_atoms + 1}", nonnegative=True)
    model = dict(m, C=tuple(ti * a * b for ti, a, b in zip(t, A, B)))
    cocorrelation_sq = energy_terms(model)["cocorrelation"] ** 2
    second = sum(pi * (a * b) ** 2 for pi, a, b in zip(p, A, B))
    claimed = sum(pi * (1 - ti**2) * (a * b) ** 2 for pi, ti, a, b in zip(p, t, A, B)) / second
    return {"t": t, "one_minus_cocorrelation_sq": 1 - cocorrelation_sq, "claimed": claimed,
            "difference": sp.simplify(1 - cocorrelation_sq - claimed)}


def linear_alignment_gap(rank: int = 3) -> dict[str, sp.Expr]:
    """The linear network f(x) = a^T W x with ||a|| = 1 and W = U diag(s) V^T.

    With c = U^T a (so sum c_k^2 = 1): ||a^T W||^2 = sum s_k^2 c_k^2, hence
      ϱ^2 = sum (s_k/s_1)^2 c_k^2,
      1 - ϱ^2 = sum_k (1 - s_k^2/s_1^2) c_k^2  >= (1 - s_2^2/s_1^2)(1 - c_1^2),
    so ϱ = 1 iff a lies in the top left-singular space, and ϱ -> 1 with a
    spectral gap forces (a^T v)^2 = c_1^2 -> 1.  Also ϱ^2 >= c_1^2.
    `rank` singular values; returns sympy s, c, cocorrelation_sq, gap_form, gap_lower_bound,
    difference (0) and cocorrelation_sq_minus_alignment.
    """
    check_range("rank", rank, lo=2, integer=True)
    s = sp.symbols(f"s1:{rank + 1}", positive=True)
    c = sp.symbols(f"c1:{rank + 1}", real=True)
    constraint = {c[-1] ** 2: 1 - sum(ci**2 for ci in c[:-1])}
    cocorrelation_sq = sum(si**2 * ci**2 for si, ci in zip(s, c)) / s[0] ** 2
    gap_form = sum((1 - s[k] ** 2 / s[0] ** 2) * c[k] ** 2 for k in range(rank))
    diff = sp.simplify(sp.expand(1 - cocorrelation_sq - gap_form).subs(constraint))
    # lower bound of the gap: the remaining terms are >= (1 - s2^2/s1^2) c_k^2 when s_k <= s_2
    lower = (1 - s[1] ** 2 / s[0] ** 2) * (1 - c[0] ** 2)
    return {"s": s, "c": c, "cocorrelation_sq": cocorrelation_sq, "gap_form": gap_form,
            "gap_lower_bound": lower, "difference": diff,
            "cocorrelation_sq_minus_alignment": sp.expand(cocorrelation_sq - c[0] ** 2)}


def theorem45_factors(full: torch.Tensor, outer: torch.Tensor,
                      inner: torch.Tensor) -> dict[str, torch.Tensor]:
    """The factors of Theorem 4.5 from per-sample norms of shape (..., n), using the empirical
    distribution (population moments: var divides by n, as the identity requires).

    full, outer, inner (…, n), e.g. (K, n) → dict S_full, S_outer, S_inner, mu, var,
    cocorrelation, norm_correlation, rhs, each (…) (e.g. (K,))."""
    prod = outer * inner
    mu = prod.mean(-1)
    second = (prod**2).mean(-1)
    S_full = (full**2).mean(-1).sqrt()
    S_outer = (outer**2).mean(-1).sqrt()
    S_inner = (inner**2).mean(-1).sqrt()
    var = second - mu**2
    out = {
        "S_full": S_full, "S_outer": S_outer, "S_inner": S_inner, "mu": mu, "var": var,
        "cocorrelation": S_full / second.sqrt(), "norm_correlation": mu / (S_outer * S_inner),
    }
    out["rhs"] = out["cocorrelation"] * (1 + var / mu**2).sqrt() * out["norm_correlation"] * S_outer * S_inner
    return out


def linear_cocorrelation(W: torch.Tensor, a: torch.Tensor) -> dict[str, torch.Tensor]:
    """Exact ϱ = ||a^T W|| / (||a|| ||W||_2) and alignment (a^T v)^2 / ||a||^2 for
    stacked W (K, m, d) and heads a (K, m); v is W's top left-singular vector.

    Uses the eigen-decomposition of the smaller Gram matrix (much faster than an SVD here).
    Returns a dict of (K,) tensors: cocorrelation, alignment, spectral_norm ‖W‖₂, head_norm ‖aᵀW‖."""
    K, m, d = W.shape
    a_norm = a.norm(dim=-1)
    head = torch.einsum("km,kmd->kd", a, W).norm(dim=-1)
    if m <= d:
        evals, evecs = torch.linalg.eigh(W @ W.transpose(1, 2))
        top = evals[:, -1].clamp_min(0)
        v = evecs[:, :, -1]                                  # left singular vector, (K, m)
    else:
        evals, evecs = torch.linalg.eigh(W.transpose(1, 2) @ W)
        top = evals[:, -1].clamp_min(0)
        v = torch.einsum("kmd,kd->km", W, evecs[:, :, -1])
        v = v / v.norm(dim=-1, keepdim=True)
    norm = top.sqrt()
    align = (torch.einsum("km,km->k", a, v) / a_norm) ** 2
    return {"cocorrelation": head / (a_norm * norm), "alignment": align, "spectral_norm": norm,
            "head_norm": head}


# =====================================================================================
# Theorem 4.1: adversarial risk <~ natural risk + r * Dirichlet energy of the loss
# =====================================================================================


def first_order_step_symbolic(d: int = 3) -> dict[str, sp.Expr]:
    """The three steps of the proof (Appendix A), on a generic differentiable f: R^d -> R and
    a generic loss ell(u):

    1. Taylor: ell(f(x + t e)) = ell(f(x)) + t * ell'(f(x)) grad f(x)^T e + O(t^2).
    2. sup_{||e|| <= r} (g^T e)^2 = r^2 ||g||^2: by the Lagrange identity
       ||g||^2 ||e||^2 - (g^T e)^2 = sum_{i<j} (g_i e_j - g_j e_i)^2 >= 0, attained at e = r g/||g||.
    3. Jensen: E[X] <= sqrt(E[X^2]) since E[X^2] - E[X]^2 = 1/2 sum_ij p_i p_j (X_i - X_j)^2.

    d: input dimension. Returns sympy expressions: taylor, taylor_predicted, jensen_gap,
    jensen_pairs, bound, and taylor_difference, lagrange_difference, maximiser_difference,
    jensen_difference (each 0).
    """
    x = sp.symbols(f"x1:{d + 1}", real=True)
    e = sp.symbols(f"e1:{d + 1}", real=True)
    g = sp.symbols(f"g1:{d + 1}", real=True)
    t, r = sp.symbols("t r", positive=True)
    f = sp.Function("f")
    ell = sp.Function("ell")
    moved = ell(f(*[xi + t * ei for xi, ei in zip(x, e)]))
    taylor = sp.series(moved, t, 0, 2).removeO().doit()
    grad = [sp.diff(f(*x), xi) for xi in x]
    predicted = ell(f(*x)) + t * sp.diff(ell(f(*x)), f(*x)) * sum(gi * ei for gi, ei in zip(grad, e))
    taylor_diff = sp.simplify(taylor - predicted.doit())
    # step 2
    g_norm_sq = sum(gi**2 for gi in g)
    e_norm_sq = sum(ei**2 for ei in e)
    dot = sum(gi * ei for gi, ei in zip(g, e))
    lagrange = sum((g[i] * e[j] - g[j] * e[i]) ** 2 for i in range(d) for j in range(i + 1, d))
    lagrange_diff = sp.expand(g_norm_sq * e_norm_sq - dot**2 - lagrange)
    maximiser = [r * gi / sp.sqrt(g_norm_sq) for gi in g]
    attained = sp.simplify(dot.subs(dict(zip(e, maximiser))) ** 2 - r**2 * g_norm_sq)
    # step 3 (Jensen) on three atoms
    p1, p2 = sp.symbols("p1 p2", positive=True)
    p = (p1, p2, 1 - p1 - p2)
    X = sp.symbols("X1:4", nonnegative=True)
    EX = sum(pi * xi for pi, xi in zip(p, X))
    EX2 = sum(pi * xi**2 for pi, xi in zip(p, X))
    pairs = sum(p[i] * p[j] * (X[i] - X[j]) ** 2 for i in range(3) for j in range(i + 1, 3))
    jensen_diff = sp.expand(EX2 - EX**2 - pairs)
    return {"taylor": taylor, "taylor_predicted": predicted.doit(), "taylor_difference": taylor_diff,
            "lagrange_difference": lagrange_diff, "maximiser_difference": attained,
            "jensen_gap": EX2 - EX**2, "jensen_pairs": pairs, "jensen_difference": jensen_diff,
            "bound": sp.Symbol("R") + r * sp.Symbol(r"\mathfrak{S}(L\circ f)")}


def bce_input_gradient_symbolic(m: int = 2, d: int = 2) -> dict[str, sp.Expr]:
    """Input gradient of BCE(sig(u), y) with u = a^T sigma(W x), for a generic activation sigma.

    Returns sympy's own derivative, the closed form (sig(u) - y) W^T D a with
    D = diag(sigma'(W x)), and their simplified difference (a zero vector), for a symbolic
    W (m×d), a (m), x (d): keys loss, autodiff, closed_form, difference, W, a, x, y."""
    W = sp.Matrix(m, d, lambda i, j: sp.Symbol(f"w_{i + 1}{j + 1}", real=True))
    a = sp.Matrix(m, 1, lambda i, _: sp.Symbol(f"a_{i + 1}", real=True))
    x = sp.Matrix(d, 1, lambda i, _: sp.Symbol(f"x_{i + 1}", real=True))
    y = sp.Symbol("y", real=True)
    sigma = sp.Function("sigma")
    z = W * x
    u = sum(a[i] * sigma(z[i]) for i in range(m))
    sig = 1 / (1 + sp.exp(-u))
    loss = -(y * sp.log(sig) + (1 - y) * sp.log(1 - sig))
    auto = sp.Matrix([sp.diff(loss, xi) for xi in x])
    s = sp.Symbol("s", real=True)
    D = sp.diag(*[sp.diff(sigma(s), s).subs(s, z[i]) for i in range(m)])  # sigma'(w_i^T x)
    closed = (sig - y) * W.T * D * a
    diff = sp.simplify(auto - closed)
    return {"loss": loss, "autodiff": auto, "closed_form": closed, "difference": diff,
            "W": W, "a": a, "x": x, "y": y}


def bce_input_gradient(W: torch.Tensor, a: torch.Tensor, X: torch.Tensor, y: torch.Tensor,
                       activation: str = "relu") -> torch.Tensor:
    """Closed-form grad_x BCE(sig(u), y) = (sig(u) - y) W^T D(x) a for every member and sample.

    W (K, m, d), a (K, m), X (n, d), y (n,) in {0, 1}  ->  (K, n, d)."""

    z = torch.einsum("nd,kmd->knm", X, W)
    u = torch.einsum("knm,km->kn", activate(z, activation), a)
    weights = (torch.sigmoid(u) - y)[..., None] * activation_derivative(z, activation) * a[:, None, :]
    return torch.einsum("knm,kmd->knd", weights, W)


def loss_dirichlet_energy(W: torch.Tensor, a: torch.Tensor, X: torch.Tensor, y: torch.Tensor,
                          activation: str = "relu") -> torch.Tensor:
    """S(L o f) = sqrt(E_x ||grad_x L||^2), per member (K,).

    W (K, m, d), a (K, m), X (n, d), y (n,) in {0, 1}, as in `bce_input_gradient` → (K,)."""
    g = bce_input_gradient(W, a, X, y, activation)
    return (g.pow(2).sum(-1).mean(-1)).sqrt()


def worst_case_loss(loss_fn: Callable[[torch.Tensor], torch.Tensor], X: torch.Tensor,
                    radii: Sequence[float], *, steps: int = 40, init: torch.Tensor | None = None,
                    restarts: int = 1, seed: int = 0) -> torch.Tensor:
    """Per-sample L2 ascent on a loss: max over ||e|| <= r of loss_fn(X + e), for every r.

    X (..., d): one point per sample (e.g. (n, d), or (K, n, d) for K networks); loss_fn maps
    inputs (S, R, ..., d) to per-sample losses (S, R, ...). Starts, radii and samples move together
    as one batch. With `init` (a direction per sample, shaped like X, e.g. the loss gradient, which
    maximises the first-order model) there is one start, on the sphere of radius r along it;
    without, `restarts` random starts (uniform in the ball, from a generator seeded with `seed`),
    which do not favour the gradient direction. Normalised-gradient steps whose size decays
    linearly from r/2 to r/200 (large moves first, then refinement), projected back onto the
    ball. Returns the best loss seen per radius and sample over all starts, (R, ...)."""
    check_range("steps", steps, lo=1, integer=True)
    check_range("restarts", restarts, lo=1, integer=True)
    r = torch.as_tensor(list(radii), dtype=X.dtype, device=X.device)
    if (r < 0).any():
        raise ConfigError(f"radii must be >= 0; got {list(radii)}.")
    R, d = r.numel(), X.shape[-1]
    rr = r.reshape(1, R, *([1] * X.dim()))
    if init is not None:
        start = (init / init.norm(dim=-1, keepdim=True).clamp_min(1e-300)).expand(1, R, *X.shape)
    else:
        gen = torch.Generator(device=X.device).manual_seed(int(seed))
        start = torch.randn(restarts, R, *X.shape, generator=gen, dtype=X.dtype, device=X.device)
        depth = torch.rand(restarts, R, *X.shape[:-1], 1, generator=gen, dtype=X.dtype, device=X.device)
        start = start / start.norm(dim=-1, keepdim=True).clamp_min(1e-300) * depth ** (1.0 / d)
    eps = (rr * start).clone()
    best = torch.full(eps.shape[:-1], -math.inf, dtype=X.dtype, device=X.device)
    for k in range(steps + 1):
        step = rr * (0.5 * (1 - k / steps) + 0.005)
        eps.requires_grad_(True)
        loss = loss_fn(X + eps)
        (grad,) = torch.autograd.grad(loss.sum(), eps)
        with torch.no_grad():
            best = torch.maximum(best, loss)
            eps = eps + step * grad / grad.norm(dim=-1, keepdim=True).clamp_min(1e-300)
            norm = eps.norm(dim=-1, keepdim=True)
            eps = eps * torch.clamp(rr / norm.clamp_min(1e-300), max=1.0)
    return best.detach().amax(dim=0)


def first_order_bound_curve(natural: torch.Tensor, grad_norms: torch.Tensor,
                            radii: Sequence[float]) -> dict[str, torch.Tensor]:
    """The Theorem 4.1 bound R + r S(L o f) and the (tighter, pre-Jensen) first-order value
    R + r E||grad_x L|| for every radius, from per-sample losses and gradient norms (n,).

    natural (n,), grad_norms (n,), radii: R values → dict radius, bound, first_order,
    natural_risk, energy, each (R,)."""
    r = torch.as_tensor(list(radii), dtype=natural.dtype, device=natural.device)
    R = natural.mean()
    energy = grad_norms.pow(2).mean().sqrt()
    return {"radius": r, "bound": R + r * energy, "first_order": R + r * grad_norms.mean(),
            "natural_risk": R.expand_as(r), "energy": energy.expand_as(r)}


def bound_crossover(radii: Sequence[float], robust: Sequence[float], bound: Sequence[float]) -> float:
    """Smallest radius at which the measured robust risk exceeds the bound, linearly
    interpolated between grid points; nan if it never does on the grid, the first radius if it
    does there already. radii, robust, bound: sequences of one length over the radius grid."""
    r, excess = np.asarray(radii, float), np.asarray(robust, float) - np.asarray(bound, float)
    above = np.flatnonzero(excess > 0)
    if above.size == 0:
        return float("nan")
    k = int(above[0])
    if k == 0:
        return float(r[0])
    # the excess changes sign between r[k-1] and r[k]
    t = -excess[k - 1] / (excess[k] - excess[k - 1])
    return float(r[k - 1] + t * (r[k] - r[k - 1]))


# =====================================================================================
# Lemma B.2: the norm of a Gaussian vector
# =====================================================================================


def chi_mean_symbolic() -> dict[str, sp.Expr]:
    """E||z|| for z ~ N(0, sigma^2 I_m) from the chi density, its second moment, and the
    large-m expansion of E||z|| / (sigma sqrt(m)) in powers of 1/m. Returns sympy m, sigma, q,
    density, mean, closed_form, mean_difference (0), second_moment, expansion, sigma_of_q."""
    m, sigma = sp.symbols("m sigma", positive=True)
    r = sp.Symbol("r", positive=True)
    density = r ** (m - 1) * sp.exp(-r**2 / 2) / (2 ** (m / 2 - 1) * sp.gamma(m / 2))  # chi_m
    mean_std = sp.simplify(sp.integrate(r * density, (r, 0, sp.oo)))
    second_std = sp.simplify(sp.integrate(r**2 * density, (r, 0, sp.oo)))
    mean = sigma * mean_std
    closed = sigma * sp.sqrt(2) * sp.gamma((m + 1) / 2) / sp.gamma(m / 2)
    # log-gamma has a Stirling expansion in sympy; gamma itself does not
    x = sp.Symbol("x", positive=True)                     # x = 1/m
    log_ratio = (sp.loggamma((1 / x + 1) / 2) - sp.loggamma(1 / (2 * x)) - sp.log(1 / (2 * x)) / 2)
    series = sp.series(log_ratio, x, 0, 4).removeO()
    series = sp.nsimplify(sp.expand(series.subs(sp.log(2 * sp.pi), sp.log(2) + sp.log(sp.pi))))
    expansion = sp.series(sp.exp(series), x, 0, 4).removeO().subs(x, 1 / m)
    q = sp.Symbol("q", real=True)
    return {"m": m, "sigma": sigma, "q": q, "density": density, "mean": mean, "closed_form": closed,
            "mean_difference": sp.simplify(sp.gammasimp(mean - closed)),
            "second_moment": sigma**2 * second_std, "expansion": expansion,
            "sigma_of_q": m ** (-(1 + 2 * q) / 2)}


def chi_mean(m: int | np.ndarray, sigma: float | np.ndarray) -> np.ndarray:
    """sigma sqrt(2) Gamma((m+1)/2) / Gamma(m/2), in log space (stable for large m).

    m, sigma: scalars or arrays (broadcast) → ndarray E||z||, z ~ N(0, sigma^2 I_m)."""
    m = np.asarray(m, dtype=float)
    from scipy.special import gammaln

    return np.asarray(sigma) * np.sqrt(2.0) * np.exp(gammaln((m + 1) / 2) - gammaln(m / 2))


def lemmaB2_rate(m, n, q, delta: float = 0.05):
    """The stated deviation rate sqrt(8 log(2n/delta) / m^(1+2q)) (constant taken as 1).

    m, n, q: scalars or arrays (broadcast) → ndarray."""
    m, n = np.asarray(m, float), np.asarray(n, float)
    return np.sqrt(8.0 * np.log(2.0 * n / delta) / m ** (1.0 + 2.0 * np.asarray(q, float)))


def lemmaB2_rate_sq(m, n, q, delta: float = 0.05):
    """Part 2's rate for (1/n) sum ||z_i||^2 around m^-2q (constant taken as 1):
    max{8 log(2/delta)/(m^(1+2q) n), sqrt(8 log(2/delta)/(m^(1+4q) n))}. Scalars or arrays → ndarray."""
    m, n, q = np.asarray(m, float), np.asarray(n, float), np.asarray(q, float)
    c = 8.0 * np.log(2.0 / delta)
    return np.maximum(c / (m ** (1.0 + 2.0 * q) * n), np.sqrt(c / (m ** (1.0 + 4.0 * q) * n)))


def lemmaB2_rate_rms(m, n, q, delta: float = 0.05):
    """Part 3's rate for sqrt((1/n) sum ||z_i||^2) around m^-q (constant taken as 1):
    sqrt(8 log(2/delta)/(m^(1+2q) n)). Scalars or arrays → ndarray."""
    m, n, q = np.asarray(m, float), np.asarray(n, float), np.asarray(q, float)
    return np.sqrt(8.0 * np.log(2.0 / delta) / (m ** (1.0 + 2.0 * q) * n))


def lemmaB2_simulation(X: torch.Tensor, widths: Sequence[int], ns: Sequence[int], qs: Sequence[float], *,
                       trials: int = 100, delta: float = 0.05, seed: int = 0,
                       device: str | torch.device = "auto") -> pd.DataFrame:
    """Monte Carlo of (1/n) sum_i ||W(0) x_i|| for unit-norm rows x_i of X.

    Two settings: "inputs" uses the real x_i (W(0)x_i are then correlated Gaussians, with
    covariance sigma^2 x_i^T x_j between samples); "iid" draws independent z_i, the lemma's
    hypothesis. The rows of Z = W X^T are i.i.d. N(0, sigma^2 X X^T), so Z is sampled as
    sigma * G L^T with L L^T = X X^T, batched over trials. One row per (setting, m, n, q, trial).

    X (N, d) with unit-norm rows, N ≥ max(ns); widths, ns, qs: the grid. Columns: setting, width,
    n, q, trial, mean_norm, target (m^-q), chi_mean, deviation, rate, within (part 1); mean_sq_norm,
    deviation_sq (from m^-2q), rate_sq, within_sq (part 2); rms_norm, deviation_rms (from m^-q),
    rate_rms, within_rms (part 3).
    """
    dev = resolve_device(device)
    check_range("trials", trials, lo=1, integer=True)
    check_range("delta", delta, lo=0.0, hi=1.0, lo_open=True)
    X = X.to(dev, torch.float64)
    norms = X.norm(dim=1)
    if not torch.allclose(norms, torch.ones_like(norms), atol=1e-10):
        raise ConfigError("lemmaB2_simulation needs unit-norm rows of X (Assumption 5.2); "
                          "use data.to_unit_norm.")
    if max(ns) > X.shape[0]:
        raise ConfigError(f"ns={list(ns)} asks for more samples than X has ({X.shape[0]}).")
    gen = torch.Generator(device=dev).manual_seed(int(seed))
    rows = []
    chunk_elems = 2**24                                              # Gaussian draws per batch
    for n in ns:
        Xn = X[:n]
        evals, evecs = torch.linalg.eigh(Xn @ Xn.T)
        factors = {"inputs": evecs * evals.clamp_min(0).sqrt(),
                   "iid": torch.eye(n, dtype=torch.float64, device=dev)}
        for setting, L in factors.items():
            for m in widths:
                for q in qs:
                    sigma = init_std(m, q)
                    parts, sq_parts, per = [], [], max(1, chunk_elems // (m * n))
                    for start in range(0, trials, per):
                        G = torch.randn(min(per, trials - start), m, n, generator=gen,
                                        dtype=torch.float64, device=dev)
                        Z = sigma * (G if setting == "iid" else G @ L.T)    # columns are W(0) x_i
                        norms = Z.norm(dim=1)
                        parts.append(norms.mean(dim=1))
                        sq_parts.append(norms.square().mean(dim=1))
                    mean_norm = torch.cat(parts).cpu().numpy()
                    mean_sq = torch.cat(sq_parts).cpu().numpy()
                    target = float(m) ** (-q)
                    rate = float(lemmaB2_rate(m, n, q, delta))
                    for t, (v, v2) in enumerate(zip(mean_norm, mean_sq)):
                        rows.append((setting, m, n, q, t, float(v), target, float(chi_mean(m, sigma)),
                                     abs(float(v) - target), rate, float(v2)))
    df = pd.DataFrame(rows, columns=["setting", "width", "n", "q", "trial", "mean_norm", "target",
                                     "chi_mean", "deviation", "rate", "mean_sq_norm"])
    df["within"] = df["deviation"] <= df["rate"]
    df["deviation_sq"] = (df["mean_sq_norm"] - df["target"] ** 2).abs()
    df["rate_sq"] = lemmaB2_rate_sq(df["width"], df["n"], df["q"], delta)
    df["within_sq"] = df["deviation_sq"] <= df["rate_sq"]
    df["rms_norm"] = np.sqrt(df["mean_sq_norm"])
    df["deviation_rms"] = (df["rms_norm"] - df["target"]).abs()
    df["rate_rms"] = lemmaB2_rate_rms(df["width"], df["n"], df["q"], delta)
    df["within_rms"] = df["deviation_rms"] <= df["rate_rms"]
    return df


# =====================================================================================
# Properties 1-2: spectral norm at initialisation, saturation and speed
# =====================================================================================


def gordon_bound(m, d: int, q) -> np.ndarray:
    """E||W(0)||_2 <= sigma (sqrt(m) + sqrt(d)) = (sqrt(m) + sqrt(d)) m^(-1/2-q) (Gordon's
    inequality for a Gaussian matrix with i.i.d. N(0, sigma^2) entries); an upper bound on the
    expectation, tight as m, d -> infinity. m, q: scalars or arrays (broadcast), d an int → ndarray."""
    m = np.asarray(m, float)
    return (np.sqrt(m) + np.sqrt(d)) * m ** (-0.5 - np.asarray(q, float))


def init_spectral_norms(widths: Sequence[int], qs: Sequence[float], *, d: int = 784,
                        seeds: Sequence[int] = (0, 1, 2),
                        device: str | torch.device = "auto") -> pd.DataFrame:
    """Measured ||W(0)||_2 of the q-initialisation against Gordon's bound, one row per
    (width, q, seed); W(0) comes from TwoLayerEnsemble.init (theory head).
    Columns: width, q, seed, spectral_norm, gordon, ratio (= spectral_norm / gordon)."""
    rows = []
    for m in widths:
        qq = [q for q in qs for _ in seeds]
        ss = [s for _ in qs for s in seeds]
        model = TwoLayerEnsemble.init(d, m, qq, ss, head="theory", activation="linear",
                                      dtype=torch.float64, device=device)
        norms = linear_cocorrelation(model.W.detach(), model.A[:, 0, :])["spectral_norm"].cpu().numpy()
        for q, s, v in zip(qq, ss, norms):
            rows.append((m, q, s, float(v), float(gordon_bound(m, d, q))))
    df = pd.DataFrame(rows, columns=["width", "q", "seed", "spectral_norm", "gordon"])
    df["ratio"] = df["spectral_norm"] / df["gordon"]
    return df


def linear_trajectories(X: torch.Tensor, y: torch.Tensor, widths: Sequence[int], qs: Sequence[float], *,
                        steps: int, lr: float, checkpoints: Sequence[int], seeds: Sequence[int] = (0,),
                        device: str | torch.device = "auto") -> pd.DataFrame:
    """Theory setting: linear two-layer nets aᵀWx (head ±1/√m), full-batch GD on BCE
    (`training.theory_gd`), one batched ensemble per width with a member per (q, seed); the q of
    one seed share the draw, so their W(0) differ only in scale.
    X (n, d) unit-norm inputs, y (n,) in {0, 1}. Exact ϱ, (aᵀv)², ‖W‖₂ and the loss at the
    checkpoints; one row per (width, q, seed, step): width, q, seed, step, cocorrelation, alignment,
    spectral_norm, head_norm, train_loss."""
    dev = resolve_device(device)
    X, y = X.to(dev, torch.float64), y.to(dev, torch.float64)
    marks = {int(c) for c in checkpoints}
    member_q = [q for q in qs for _ in seeds]
    member_seed = [int(s) for _ in qs for s in seeds]
    rows = []
    for m in widths:
        model = TwoLayerEnsemble.init(X.shape[1], m, member_q, member_seed, head="theory",
                                      activation="linear", dtype=torch.float64, device=dev)
        for step in theory_gd(model, X, y, lr=lr, steps=steps):
            if step.t not in marks:
                continue
            rec = linear_cocorrelation(step.W, step.a)
            rec["train_loss"] = step.loss
            vals = {k: v.cpu().numpy() for k, v in rec.items()}
            for k, (q, seed) in enumerate(zip(member_q, member_seed)):
                rows.append({"width": m, "q": q, "seed": seed, "step": step.t,
                             **{name: float(v[k]) for name, v in vals.items()}})
    cols = ["width", "q", "seed", "step", "cocorrelation", "alignment", "spectral_norm", "head_norm",
            "train_loss"]
    return pd.DataFrame(rows)[cols].sort_values(["width", "q", "seed", "step"], ignore_index=True)


def rise_rates(dyn: pd.DataFrame, window: int, lr: float, norm: str = "spectral_norm") -> pd.DataFrame:
    """Initial rise of ϱ per run: (ϱ(window) - ϱ(0)) / (lr * window) and the
    relative rate (log ϱ(window) - log ϱ(0)) / (lr * window), next to 1/‖·‖² at step 0.

    dyn: a table with width, q, (seed,) step, cocorrelation and the column `norm` (a norm, e.g.
    `linear_trajectories`' spectral_norm), with steps 0 and `window` → one row per run (width, q,
    seed): norm0, cocorrelation0, rise, relative_rise, inv_norm_sq."""
    keys = [k for k in ("width", "q", "seed") if k in dyn]
    start = dyn[dyn["step"] == 0].set_index(keys)
    end = dyn[dyn["step"] == window].set_index(keys)
    if end.empty:
        raise ConfigError(f"window={window} is not a recorded checkpoint.")
    out = pd.DataFrame({
        "norm0": start[norm],
        "cocorrelation0": start["cocorrelation"],
        "rise": (end["cocorrelation"] - start["cocorrelation"]) / (lr * window),
        "relative_rise": (np.log(end["cocorrelation"]) - np.log(start["cocorrelation"])) / (lr * window),
    })
    out["inv_norm_sq"] = 1.0 / out["norm0"] ** 2
    return out.reset_index()


def relu_rise_runs(X: torch.Tensor, y: torch.Tensor, widths: Sequence[int], qs: Sequence[float], *,
                   seeds: Sequence[int], window: int, lr: float, n_eval: int,
                   device: str | torch.device = "auto") -> pd.DataFrame:
    """Property 2 for the ReLU network: `window` full-batch GD steps of `dynamics.simulate_relu`
    for every width × q × seed (one batched ensemble per width). One row per (width, q, seed, step)
    for steps 0..window: width, q, seed, step, cocorrelation (RMS over the first n_eval inputs) and
    energy (√E_x‖D_x W‖₂² = 𝔖(σ∘W); missing at the last step, which only ϱ reaches)."""
    member_q = [q for q in qs for _ in seeds]
    member_seed = [int(s) for _ in qs for s in seeds]
    frames = []
    for m in widths:
        run = simulate_relu(X, y, width=m, qs=member_q, seeds=member_seed, eta=lr, steps=window,
                            probe_every=0, n_eval=n_eval, device=device)
        run = run.sort_values(["q", "seed", "step"])
        run["energy"] = np.sqrt(run["energy_sq"])
        last = run[run["step"] == window - 1].assign(
            step=window, cocorrelation=lambda f: f["cocorrelation"] + f["d_cocorrelation"], energy=np.nan)
        frames.append(pd.concat([run, last])[["width", "q", "seed", "step", "cocorrelation", "energy"]])
    return pd.concat(frames, ignore_index=True).sort_values(["width", "q", "seed", "step"], ignore_index=True)


THM41_RESTARTS = 3     # random starts of the attack per radius and sample


def thm41_experiment(X: torch.Tensor, y: torch.Tensor, X_eval: torch.Tensor, y_eval: torch.Tensor, *,
                     width: int, q: float, steps: int, lr: float, radii: Sequence[float],
                     attack_steps: int = 40, seeds: Sequence[int] = (0,), restarts: int = THM41_RESTARTS,
                     device: str | torch.device = "auto") -> pd.DataFrame:
    """Theorem 4.1 in the theory setting: train two-layer ReLU nets a^T relu(W x) (head +-1/sqrt(m)),
    one per seed, as one batched ensemble by full-batch GD on BCE; then on (X_eval, y_eval)
    compare, for every radius, the worst-case loss found by L2 ascent from `restarts` random
    starts (mean over samples = empirical robust risk) with the bound R + r S(L o f) and the
    first-order value R + r E||grad_x L||. Each step of the proof is also measured:
    `sup_gap` is the relative shortfall of the same attack on the linearised loss
    L(x) + g^T e against its exact supremum r||g|| (Step 2; 0 when the attack finds it), and
    `jensen_gap` = S(L o f) - E||g|| >= 0 (Step 3).

    X (n, d), y (n,); X_eval (n', d), y_eval (n',); unit-norm inputs, labels in {0, 1}.
    One row per (seed, radius): seed, radius, bound, first_order, natural_risk, energy,
    mean_grad_norm, robust_risk, sup_gap, jensen_gap, train_loss, eval_accuracy, width, q, steps,
    lr, restarts."""
    dev = resolve_device(device)
    seeds = [int(s) for s in seeds]
    model = TwoLayerEnsemble.init(X.shape[1], width, [q] * len(seeds), seeds, head="theory",
                                  activation="relu", dtype=torch.float64, device=dev)
    for step in theory_gd(model, X.to(dev, torch.float64), y.to(dev, torch.float64), lr=lr, steps=steps):
        pass
    W, a = step.W, step.a                                             # (K, m, d), (K, m)
    K = W.shape[0]
    Xe, ye = X_eval.to(dev, torch.float64), y_eval.to(dev, torch.float64)
    Xk = Xe.expand(K, *Xe.shape)

    def logits(Z: torch.Tensor) -> torch.Tensor:                      # (..., K, n, d) -> (..., K, n)
        return torch.einsum("...knm,km->...kn", torch.relu(torch.einsum("...knd,kmd->...knm", Z, W)), a)

    with torch.no_grad():
        u = logits(Xk)
        natural = bce_loss(u, ye)                                     # (K, n)
        grads = bce_input_gradient(W, a, Xe, ye, "relu")              # (K, n, d)
    worst = worst_case_loss(lambda Z: bce_loss(logits(Z), ye), Xk, radii, steps=attack_steps,
                            restarts=restarts, seed=1)                # (R, K, n)
    lin = worst_case_loss(lambda Z: natural + ((Z - Xk) * grads).sum(-1), Xk, radii,
                          steps=attack_steps, restarts=restarts, seed=2)
    gnorm = grads.norm(dim=-1)
    r = torch.as_tensor(list(radii), dtype=torch.float64, device=dev)[:, None, None]
    exact_sup = natural + r * gnorm
    sup_gap = ((exact_sup - lin) / (r * gnorm).clamp_min(1e-300)).mean(-1)   # (R, K)
    acc = accuracy(u.unsqueeze(-1), ye)
    frames = []
    for k, seed in enumerate(seeds):
        curve = first_order_bound_curve(natural[k], gnorm[k], radii)
        f = pd.DataFrame({key: v.cpu().numpy() for key, v in curve.items()})
        f.insert(0, "seed", seed)
        f["mean_grad_norm"] = float(gnorm[k].mean())
        f["robust_risk"] = worst[:, k].mean(-1).cpu().numpy()
        f["sup_gap"] = sup_gap[:, k].cpu().numpy()
        f["jensen_gap"] = float(curve["energy"][0] - gnorm[k].mean())
        f["train_loss"] = float(step.loss[k])
        f["eval_accuracy"] = float(acc[k])
        frames.append(f)
    df = pd.concat(frames, ignore_index=True)
    df["width"], df["q"], df["steps"], df["lr"], df["restarts"] = width, q, steps, lr, restarts
    return df


def crossover_radii(df: pd.DataFrame) -> pd.DataFrame:
    """r* per seed of a `thm41_experiment` table: the radius where the measured robust risk first
    exceeds the bound (`bound_crossover`; nan if it never does on the grid). Returns seed, r_star."""
    rows = [(seed, bound_crossover(g["radius"], g["robust_risk"], g["bound"]))
            for seed, g in df.sort_values("radius").groupby("seed")]
    return pd.DataFrame(rows, columns=["seed", "r_star"])


# =====================================================================================
# Profile-level tables (memoised in the result store) used by the pages and the ledger
# =====================================================================================

LINEAR_LR = THEORY_STEP_SIZES["properties"]
RELU_LR = THEORY_STEP_SIZES["thm41"]


def _sizes(profile: str | None) -> dict:
    """The theory pages' sizes (`settings.theory_sizes`) plus the profile's number of seeds."""
    sz = theory_sizes(profile)
    sz["seeds"] = get_profile(sz["profile"]).seeds
    return sz


def _cached(kind: str, params: dict, compute: Callable[[], pd.DataFrame], profile: str) -> pd.DataFrame:
    return store_table(kind, params, compute, profile)


def thm45_table(profile: str | None = None, device: str | torch.device = "auto") -> pd.DataFrame:
    """Theorem 4.5 on random two-layer nets (both heads, both activations, every q of a few
    widths), with the exact per-sample norms of `measures.two_layer_norms`. One row per network:
    the Dirichlet energy, the right side from `measures.summarize`, the right side rebuilt here
    from the same norms, ϱ, ρ and, for linear nets, the closed form ||a^T W|| / ||W||.
    Columns: head, activation, width, q, dirichlet_full, rhs_summarize, rhs_factors, cocorrelation,
    norm_correlation, rel_spread_pop, cocorrelation_closed_form, rel_err_summarize, rel_err_factors,
    closed_form_err. Memoised in the result store."""
    sz = _sizes(profile)

    def compute() -> pd.DataFrame:

        dev = resolve_device(device)
        X_theory, _ = load_mnist_binary("test", n=sz["thm45_n"])
        X_code, _ = load_mnist("test", n=sz["thm45_n"])
        inputs = {"theory": X_theory.to(dev, torch.float64),
                  "code": to_code_inputs(X_code).to(dev, torch.float64)}
        rows = []
        for head in ("theory", "code"):
            for act in ("linear", "relu"):
                for m in sz["thm45_widths"]:
                    model = TwoLayerEnsemble.init(D_MNIST, m, sz["qs"], list(range(len(sz["qs"]))), head=head,
                                                  activation=act, dtype=torch.float64, device=dev)
                    ns = two_layer_norms(model, inputs[head])
                    summ = summarize(ns)
                    mine = theorem45_factors(ns.full, ns.outer, ns.inner)
                    closed = (linear_cocorrelation(model.W.detach(), model.A[:, 0, :])["cocorrelation"]
                              if (act == "linear" and head == "theory") else None)
                    for k, q in enumerate(sz["qs"]):
                        rows.append({
                            "head": head, "activation": act, "width": m, "q": q,
                            "dirichlet_full": float(summ["dirichlet_full"][k]),
                            "rhs_summarize": float(summ["theorem45_rhs"][k]),
                            "rhs_factors": float(mine["rhs"][k]),
                            "cocorrelation": float(summ["cocorrelation"][k]),
                            "norm_correlation": float(summ["norm_correlation"][k]),
                            "rel_spread_pop": float(mine["var"][k].clamp_min(0).sqrt() / mine["mu"][k]),
                            "cocorrelation_closed_form": (float(closed[k]) if closed is not None
                                                          else float("nan")),
                        })
        df = pd.DataFrame(rows)
        df["rel_err_summarize"] = (df["rhs_summarize"] / df["dirichlet_full"] - 1).abs()
        df["rel_err_factors"] = (df["rhs_factors"] / df["dirichlet_full"] - 1).abs()
        df["closed_form_err"] = (df["cocorrelation"] - df["cocorrelation_closed_form"]).abs()
        return df

    params = {k: sz[k] for k in ("thm45_widths", "qs", "thm45_n")}
    return _cached("theory.thm45", params, compute, sz["profile"])


def thm41_table(profile: str | None = None, device: str | torch.device = "auto") -> pd.DataFrame:
    """The Theorem 4.1 experiment at the profile's sizes (see `thm41_experiment` for the columns),
    memoised in the result store."""
    sz = _sizes(profile)

    def compute() -> pd.DataFrame:

        X, y = load_mnist_binary("train", n=sz["n"])
        Xe, ye = load_mnist_binary("test", n=sz["n_eval"])
        return thm41_experiment(X, y, Xe, ye, width=sz["thm41_width"], q=sz["thm41_q"], steps=sz["steps"],
                                lr=RELU_LR, radii=sz["radii"], attack_steps=sz["attack_steps"],
                                seeds=range(sz["seeds"]), restarts=THM41_RESTARTS, device=device)

    params = {k: sz[k] for k in ("n", "n_eval", "thm41_width", "thm41_q", "steps", "radii", "attack_steps",
                                 "seeds")}
    params.update(lr=RELU_LR, restarts=THM41_RESTARTS)
    return _cached("theory.thm41", params, compute, sz["profile"])


def lemmaB2_table(profile: str | None = None, device: str | torch.device = "auto") -> pd.DataFrame:
    """Monte Carlo of Lemma B.2 on unit-norm binary-MNIST inputs and on i.i.d. vectors, memoised
    (columns as in `lemmaB2_simulation`)."""
    sz = _sizes(profile)

    def compute() -> pd.DataFrame:

        X, _ = load_mnist_binary("train", n=max(sz["lemma_ns"]))
        return lemmaB2_simulation(X, sz["lemma_widths"], sz["lemma_ns"], sz["qs"], trials=sz["lemma_trials"],
                                  delta=LEMMA_DELTA, device=device)

    params = {k: sz[k] for k in ("lemma_widths", "lemma_ns", "qs", "lemma_trials")}
    params["delta"] = LEMMA_DELTA
    return _cached("theory.lemmaB2", params, compute, sz["profile"])


def init_norm_table(profile: str | None = None, device: str | torch.device = "auto") -> pd.DataFrame:
    """Measured ||W(0)||_2 against Gordon's bound over the profile's widths and q, memoised
    (columns as in `init_spectral_norms`)."""
    sz = _sizes(profile)
    params = {"widths": sz["widths"], "qs": sz["qs"], "d": D_MNIST, "seeds": 3}
    return _cached("theory.init_norm", params,
                   lambda: init_spectral_norms(sz["widths"], sz["qs"], d=D_MNIST, seeds=(0, 1, 2),
                                               device=device),
                   sz["profile"])


def trajectory_table(profile: str | None = None, device: str | torch.device = "auto") -> pd.DataFrame:
    """Linear-net GD trajectories of ϱ, (a^T v)^2 and ||W||_2 (theory setting), memoised
    (columns as in `linear_trajectories`)."""
    sz = _sizes(profile)

    def compute() -> pd.DataFrame:

        X, y = load_mnist_binary("train", n=sz["n"])
        return linear_trajectories(X, y, sz["widths"], sz["qs"], steps=sz["steps"], lr=LINEAR_LR,
                                   checkpoints=sz["checkpoints"], seeds=range(sz["seeds"]), device=device)

    params = {k: sz[k] for k in ("widths", "qs", "n", "steps", "checkpoints", "seeds")}
    params["lr"] = LINEAR_LR
    return _cached("theory.linear_trajectories", params, compute, sz["profile"])


def relu_rise_table(profile: str | None = None, device: str | torch.device = "auto") -> pd.DataFrame:
    """The ReLU runs of Property 2 (`relu_rise_runs`) over the profile's widths × q × seeds, for the
    first RISE_WINDOW steps (lr of Theorem 4.1's ReLU net; ϱ over the dynamics pages' evaluation
    inputs), memoised."""
    sz = _sizes(profile)
    n_eval = min(sz["n"], dynamics_settings(sz["profile"]).n_eval)

    def compute() -> pd.DataFrame:
        X, y = load_mnist_binary("train", n=sz["n"], dtype=torch.float64)
        return relu_rise_runs(X, y, sz["widths"], sz["qs"], seeds=range(sz["seeds"]), window=RISE_WINDOW,
                              lr=RELU_LR, n_eval=n_eval, device=device)

    params = {k: sz[k] for k in ("widths", "qs", "n", "seeds")}
    params.update(window=RISE_WINDOW, lr=RELU_LR, n_eval=n_eval)
    return _cached("theory.relu_rise", params, compute, sz["profile"])
