"""How the co-correlation moves under gradient descent: Theorems 5.3 (linear) and 5.5 (ReLU)
of Wang, Min & Ruan (2024), derived symbolically and checked step by step in simulation.

Setting (the theory setting): f(x) = aᵀσ(Wx), a ∈ {±1/√m}ᵐ fixed (‖a‖ = 1), W trained by
full-batch gradient descent on binary cross-entropy, unit-norm inputs. One GD step is
W ← W + η·G with G = −∂L/∂W; for the linear network G = a x̃ᵀ, x̃ = (1/n)Σ(yᵢ − sig(uᵢ))xᵢ.

Symbolic part (functions return sympy objects; tests check them against autograd):
  `rho_log_derivative`      ϱ̇ = ϱ/2 (Ṅ_a/N_a − Ṅ_W/N_W) for ϱ² = ΣN_a/ΣN_W (linear: one sample)
  `hellmann_feynman_2x2`    λ̇_max = vᵀṀv for a simple top eigenvalue, in closed form
  `linear_rate_decomposition`  ½(d‖aᵀW‖² − d‖W‖²) = ① + ② for W = W(0) + η a sᵀ
  `linear_rate_closed_form` ϱ along W + h·a x̃ᵀ for m = 2, its h-derivative, and η C
  `bound_gap_symbolic`      C − (① + ②)/‖W‖² = ½Ḋ_a(‖W‖² − ‖aᵀW‖²)/(‖aᵀW‖²‖W‖²)
  `frozen_pattern_derivative`  d‖WᵀDa‖²/dt = 2aᵀD Ẇ WᵀD a when Ḋ = 0
Numeric part (batched torch, float64):
  `linear_rate_terms`, `relu_rate_terms`  exact C(t) and its pieces for stacked networks
  `simulate_linear`, `simulate_relu`      GD runs that record them at every step
  `linear_dynamics_table`, `relu_dynamics_table`  the book's runs, memoised in the store
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import pandas as pd
import sympy as sp
import torch

from ...data import load_mnist_binary
from ...ground.devices import resolve_device
from ...ground.errors import ConfigError, check_range
from ...ground.profiles import profile_name
from ...linalg.lanczos import top_eigenvalues
from ...models import TwoLayerEnsemble, activation_derivative
from ...training import theory_gd
from .settings import DynamicsSettings, dynamics_settings, store_table

# =====================================================================================
# Symbolic derivations
# =====================================================================================


def rho_log_derivative(n_samples: int = 1) -> dict[str, sp.Expr]:
    """ϱ = sqrt(Σᵢ N_a,i / Σᵢ N_W,i) with N_a,i = ‖aᵀD_iW‖², N_W,i = ‖D_iW‖² (functions of t).

    n_samples = 1 is the linear network (N_a = ‖aᵀW‖², N_W = ‖W‖₂²); n_samples > 1 is the
    RMS co-correlation of the ReLU network (paper §3.5, with ‖a‖ = 1). Returns ϱ, dϱ/dt, the
    log-derivative form and their simplified difference (0): sympy t, cocorrelation,
    d_cocorrelation_dt, log_form, difference.
    """
    check_range("n_samples", n_samples, lo=1, integer=True)
    t = sp.Symbol("t", real=True)
    Na = [sp.Function(f"N_a{i}", positive=True)(t) for i in range(1, n_samples + 1)]
    NW = [sp.Function(f"N_W{i}", positive=True)(t) for i in range(1, n_samples + 1)]
    if n_samples == 1:
        Na = [sp.Function("N_a", positive=True)(t)]
        NW = [sp.Function("N_W", positive=True)(t)]
    sa, sw = sum(Na), sum(NW)
    rho = sp.sqrt(sa / sw)
    drho = sp.diff(rho, t)
    log_form = rho / 2 * (sp.diff(sa, t) / sa - sp.diff(sw, t) / sw)
    return {"t": t, "cocorrelation": rho, "d_cocorrelation_dt": drho, "log_form": log_form,
            "difference": sp.simplify(drho - log_form)}


def hellmann_feynman_2x2() -> dict[str, sp.Expr]:
    """Top eigenvalue λ(t) of a symmetric M(t) = [[p, r], [r, s]] and the Hellmann–Feynman
    form vᵀṀv / vᵀv with v its eigenvector; `difference` = dλ/dt − vᵀṀv/vᵀv (simplifies to 0
    wherever the top eigenvalue is simple, i.e. (p − s)² + 4r² > 0). Returns sympy t, M,
    lambda_max, v, eigen_residual (0), dlambda_dt, hellmann_feynman, difference."""
    t = sp.Symbol("t", real=True)
    p, r, s = (sp.Function(name, real=True)(t) for name in ("p", "r", "s"))
    M = sp.Matrix([[p, r], [r, s]])
    lam = (p + s) / 2 + sp.sqrt(((p - s) / 2) ** 2 + r**2)
    v = sp.Matrix([r, lam - p])                      # unnormalised top eigenvector
    hf = (v.T * M.diff(t) * v)[0] / (v.T * v)[0]
    return {"t": t, "M": M, "lambda_max": lam, "v": v,
            "eigen_residual": sp.simplify(M * v - lam * v),
            "dlambda_dt": sp.diff(lam, t), "hellmann_feynman": hf,
            "difference": sp.simplify(sp.diff(lam, t) - hf)}


def _vec(name: str, k: int) -> sp.Matrix:
    return sp.Matrix(sp.symbols(f"{name}1:{k + 1}", real=True))


def linear_rate_decomposition(m: int = 3, d: int = 2) -> dict[str, sp.Expr]:
    """Steps 2–4 of the proof of Theorem 5.3 with explicit symbolic W(0) (m×d), a, v (m), s, x̃ (d).

    W = W(0) + η a sᵀ and Ẇ = a x̃ᵀ (Lemma B.1's direction; the GD step is η times it).
    half_dA = ½ d‖aᵀW‖²/dt = aᵀẆWᵀa,  half_dW = ½ vᵀ(ẆWᵀ + WẆᵀ)v (Hellmann–Feynman).
    ① = η((aᵀa)² − (aᵀv)²) sᵀx̃ (the paper's η(1 − (aᵀv)²)Σx̃(τ)ᵀx̃(t) when ‖a‖ = 1),
    ② = aᵀW(0)x̃ · aᵀa − vᵀW(0)x̃ · aᵀv.  `residual` = half_dA − half_dW − ① − ② expands to 0 for
    every vector v: the eigenvector property is used only by Hellmann–Feynman.
    Returns these sympy objects: eta, W0, a, v, s, xt, half_dA, half_dW, term1, term2,
    term1_paper, residual.
    """
    check_range("m", m, lo=1, integer=True)
    check_range("d", d, lo=1, integer=True)
    eta = sp.Symbol("eta", positive=True)
    W0 = sp.Matrix(m, d, lambda i, j: sp.Symbol(f"w{i + 1}_{j + 1}", real=True))
    a, v = _vec("a", m), _vec("v", m)
    s, xt = _vec("s", d), _vec("x", d)
    W = W0 + eta * a * s.T
    Wd = a * xt.T
    sym = Wd * W.T + W * Wd.T
    half_dA = sp.expand((a.T * sym * a)[0] / 2)
    half_dW = sp.expand((v.T * sym * v)[0] / 2)
    aa, av, sx = (a.T * a)[0], (a.T * v)[0], (s.T * xt)[0]
    term1 = eta * (aa**2 - av**2) * sx
    term2 = (a.T * W0 * xt)[0] * aa - (v.T * W0 * xt)[0] * av
    return {"eta": eta, "W0": W0, "a": a, "v": v, "s": s, "xt": xt,
            "half_dA": half_dA, "half_dW": half_dW, "term1": term1, "term2": term2,
            "term1_paper": eta * (1 - av**2) * sx,
            "residual": sp.expand(half_dA - half_dW - term1 - term2)}


def linear_rate_closed_form(d: int = 3) -> dict[str, sp.Expr]:
    """Exact ϱ for a width-2 linear network along the GD direction, W(h) = W + h·a x̃ᵀ.

    With m = 2 the top eigenvalue of WWᵀ has a closed form, so ϱ(h) = ‖aᵀW(h)‖/‖W(h)‖₂ is an
    explicit expression. Returns ϱ(h) (`cocorrelation_h`), its h-derivative at h = 0
    (`d_cocorrelation_dh`), and the theorem's form ϱ·C with C = aᵀẆWᵀa/‖aᵀW‖² − vᵀẆWᵀv/‖W‖²
    (`cocorrelation_C`, v the top eigenvector): the two agree at every point with a simple top
    eigenvalue. Also h, W (2×d), a, xt, cocorrelation, C; d: input dimension.
    """
    check_range("d", d, lo=1, integer=True)
    h = sp.Symbol("h", real=True)
    W = sp.Matrix(2, d, lambda i, j: sp.Symbol(f"w{i + 1}_{j + 1}", real=True))
    a, xt = _vec("a", 2), _vec("x", d)
    Wd = a * xt.T

    def rho_of(Wm: sp.Matrix) -> tuple[sp.Expr, sp.Expr, sp.Matrix]:
        M = Wm * Wm.T
        p, r, s = M[0, 0], M[0, 1], M[1, 1]
        lam = (p + s) / 2 + sp.sqrt(((p - s) / 2) ** 2 + r**2)
        v = sp.Matrix([r, lam - p])
        v = v / sp.sqrt((v.T * v)[0])
        Na = (a.T * Wm * Wm.T * a)[0]
        return sp.sqrt(Na / ((a.T * a)[0] * lam)), lam, v

    rho_h, _, _ = rho_of(W + h * Wd)
    rho0, lam, v = rho_of(W)
    Na = (a.T * W * W.T * a)[0]
    C = (a.T * Wd * W.T * a)[0] / Na - (v.T * Wd * W.T * v)[0] / lam
    return {"h": h, "W": W, "a": a, "xt": xt, "cocorrelation_h": rho_h,
            "d_cocorrelation_dh": sp.diff(rho_h, h).subs(h, 0), "cocorrelation": rho0, "C": C,
            "cocorrelation_C": rho0 * C}


def bound_gap_symbolic() -> dict[str, sp.Expr]:
    """Step 1's inequality. With N_a = ‖aᵀW‖² ≤ N_W = ‖W‖² and Ḋ_a = d‖aᵀW‖²/dt,
    Ḋ_W = d‖W‖²/dt:  C = Ḋ_a/(2N_a) − Ḋ_W/(2N_W) and the bound is (Ḋ_a − Ḋ_W)/(2N_W).
    `gap` = C − bound factors as Ḋ_a (N_W − N_a)/(2 N_a N_W): the bound holds iff Ḋ_a ≥ 0
    (or N_a = N_W, i.e. ϱ = 1). Returns sympy C, bound, gap, claimed_gap."""
    Na, NW = sp.symbols("N_a N_W", positive=True)
    dA, dW = sp.symbols("Ddot_a Ddot_W", real=True)
    C = dA / (2 * Na) - dW / (2 * NW)
    bound = (dA - dW) / (2 * NW)
    return {"C": C, "bound": bound, "gap": sp.factor(sp.simplify(C - bound)),
            "claimed_gap": dA * (NW - Na) / (2 * Na * NW)}


def frozen_pattern_derivative(m: int = 2, d: int = 2) -> dict[str, sp.Expr]:
    """Theorem 5.5 with Ḋ = 0: for W(t) = W + t·G and a fixed 0/1 diagonal D,
    d/dt ‖WᵀDa‖² at t = 0 equals 2 aᵀD G WᵀD a (`difference` expands to 0).
    Symbolic W, G (m×d), a (m); returns sympy t, N_a, dN_a_dt, formula, difference."""
    t = sp.Symbol("t", real=True)
    W = sp.Matrix(m, d, lambda i, j: sp.Symbol(f"w{i + 1}_{j + 1}", real=True))
    G = sp.Matrix(m, d, lambda i, j: sp.Symbol(f"g{i + 1}_{j + 1}", real=True))
    a = _vec("a", m)
    D = sp.diag(*sp.symbols(f"delta1:{m + 1}", real=True))
    Wt = W + t * G
    Na = ((Wt.T * D * a).T * (Wt.T * D * a))[0]
    lhs = sp.diff(Na, t).subs(t, 0)
    rhs = 2 * (a.T * D * G * W.T * D * a)[0]
    return {"t": t, "N_a": Na, "dN_a_dt": lhs, "formula": rhs, "difference": sp.expand(lhs - rhs)}


# =====================================================================================
# Numeric rates (batched over stacked networks, float64)
# =====================================================================================

EIG_TOL = 1e-13     # relative accuracy asked of ‖D_xW‖₂ from Lanczos (vector error ≈ √(tol·λ/gap))
DENSE_MAX = 64      # per-sample Gram matrices up to this size are solved exactly with eigh


def top_eig_rank2(lam0: torch.Tensor, V0: torch.Tensor, B: torch.Tensor, Q: torch.Tensor,
                  *, rounds: int = 12, res_tol: float = 1e-9) -> tuple[torch.Tensor, torch.Tensor]:
    """Top eigenpair of G = V0 diag(lam0) V0ᵀ + B Q Bᵀ for a batch of K symmetric matrices.

    lam0 (K, r) ascending and V0 (K, r, r) come from one eigh of G0; B (K, r, 2); Q (K, 2, 2)
    symmetric with det Q ≤ 0 (one positive direction), so G has at most one eigenvalue above
    λ₁(G0). That eigenvalue μ is the root of f(μ) = det(I − Pᵀ(μ − Λ)⁻¹P Q), P = V0ᵀB, on
    (λ₁, ∞), found by bisection; the eigenvector is (μ − Λ)⁻¹P Q z with z spanning ker(I − MQ).
    Members without such a root (e.g. B = 0), or whose residual exceeds `res_tol`, fall back to
    a dense eigh. Cost O(K·r) per bisection step instead of O(K·r³) per eigh: this is what lets
    the linear run track ‖W(t)‖₂ exactly at every GD step, since W(t) = W(0) + a gᵀ.
    Returns λ (K,) and the unit eigenvector (K, r).
    """
    K, r = lam0.shape
    eye = torch.eye(2, dtype=lam0.dtype, device=lam0.device)
    P = V0.transpose(1, 2) @ B                                     # (K, r, 2)
    l1 = lam0[:, -1]
    tiny = torch.finfo(lam0.dtype).eps * l1.abs().clamp_min(1e-300)

    def det_f(mu):                                                 # mu (K, j) → f (K, j)
        w = 1.0 / (mu[..., None] - lam0[:, None, :])               # (K, j, r)
        M = (P.transpose(1, 2)[:, None] * w[..., None, :]) @ P[:, None]   # Pᵀ(μ − Λ)⁻¹P, (K, j, 2, 2)
        A = eye - M @ Q[:, None]
        return A[..., 0, 0] * A[..., 1, 1] - A[..., 0, 1] * A[..., 1, 0], M, w

    lo = l1 + 4 * tiny
    hi = l1 + torch.linalg.matrix_norm(Q, 2) * (P * P).sum((1, 2)) + 8 * tiny
    has_root = det_f(lo[:, None])[0][:, 0] < 0
    # grid bisection: f < 0 left of the root and > 0 right of it; `grid` points per round
    grid = 32
    frac = torch.arange(1, grid, dtype=lam0.dtype, device=lam0.device) / grid
    for _ in range(rounds):
        mus = lo[:, None] + (hi - lo)[:, None] * frac                # (K, grid − 1)
        k = (det_f(mus)[0] < 0).sum(-1)                            # points left of the root
        pts = torch.cat([lo[:, None], mus, hi[:, None]], -1)
        lo, hi = pts.gather(1, k[:, None])[:, 0], pts.gather(1, (k + 1)[:, None])[:, 0]
    mu = 0.5 * (lo + hi)
    _, M, w = det_f(mu[:, None])
    M, w = M[:, 0], w[:, 0]
    A = eye - M @ Q
    z0 = torch.stack([-A[:, 0, 1], A[:, 0, 0]], -1)                # null vector from either row
    z1 = torch.stack([-A[:, 1, 1], A[:, 1, 0]], -1)
    z = torch.where((z0.norm(dim=-1) >= z1.norm(dim=-1))[:, None], z0, z1)
    y = w * (P @ (Q @ z[..., None]))[..., 0]
    y = y / y.norm(dim=-1, keepdim=True).clamp_min(1e-300)
    Py = (P.transpose(1, 2) @ y[..., None])[..., 0]
    Gy = lam0 * y + (P @ (Q @ Py[..., None]))[..., 0]
    lam = (y * Gy).sum(-1)                                         # Rayleigh quotient
    res = (Gy - lam[:, None] * y).norm(dim=-1) / lam.abs().clamp_min(1e-300)
    vec = (V0 @ y[..., None])[..., 0]
    bad = (~has_root) | ~(res <= res_tol)
    if bool(bad.any()):
        idx = bad.nonzero(as_tuple=True)[0]
        G = ((V0[idx] * lam0[idx, None, :]) @ V0[idx].transpose(1, 2)
             + B[idx] @ Q[idx] @ B[idx].transpose(1, 2))
        ev, evec = torch.linalg.eigh(0.5 * (G + G.transpose(1, 2)))
        lam, vec = lam.clone(), vec.clone()
        lam[idx], vec[idx] = ev[:, -1], evec[:, :, -1]
    return lam.clamp_min(0), vec


class LinearSpectrum:
    """‖W‖₂ and its singular vectors for W = W(0) + a gᵀ (the linear network under GD, where
    g = η Σ_{τ<t} x̃(τ)), from one eigh of the Gram of W(0) on its smaller side.

    W0 (K, m, d), a (K, m); calling it with g (K, d) returns (λ = ‖W‖₂² (K,), v (K, m), u (K, d)).
    """

    def __init__(self, W0: torch.Tensor, a: torch.Tensor):
        self.W0, self.a = W0, a
        K, m, d = W0.shape
        self.side = "m" if m <= d else "d"
        G0 = W0 @ W0.transpose(1, 2) if self.side == "m" else W0.transpose(1, 2) @ W0
        self.lam0, self.V0 = torch.linalg.eigh(G0)
        self.c0 = torch.einsum("km,kmd->kd", a, W0)              # W(0)ᵀa
        self.aa = (a * a).sum(-1)

    def __call__(self, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """λ = ‖W‖₂² (K,), left vector v (K, m), right vector u (K, d) of W = W(0) + a gᵀ."""
        a, W0 = self.a, self.W0
        one = torch.ones_like(self.aa)
        if self.side == "d":      # WᵀW = G0 + c0 gᵀ + g c0ᵀ + (aᵀa) g gᵀ
            B = torch.stack([self.c0, g], -1)
            Q = torch.stack([torch.stack([0 * one, one], -1), torch.stack([one, self.aa], -1)], -2)
        else:                     # WWᵀ = G0 + a (W0 g)ᵀ + (W0 g) aᵀ + ‖g‖² a aᵀ
            B = torch.stack([a, torch.einsum("kmd,kd->km", W0, g)], -1)
            Q = torch.stack([torch.stack([(g * g).sum(-1), one], -1), torch.stack([one, 0 * one], -1)], -2)
        lam, e = top_eig_rank2(self.lam0, self.V0, B, Q)
        sigma = lam.sqrt().clamp_min(1e-300)[:, None]
        if self.side == "d":
            u = e
            v = (torch.einsum("kmd,kd->km", W0, u) + a * (g * u).sum(-1, keepdim=True)) / sigma
        else:
            v = e
            u = (torch.einsum("kmd,km->kd", W0, v) + g * (a * v).sum(-1, keepdim=True)) / sigma
        return lam, v, u


def _linear_terms(a, c, xt, lam, v, u, eta, W0x=None, acute=None) -> dict[str, torch.Tensor]:
    aa = (a * a).sum(-1)
    Na = (c * c).sum(-1)
    av = (a * v).sum(-1)
    half_dA = aa * (c * xt).sum(-1)                  # aᵀ(a x̃ᵀ)Wᵀa
    half_dW = av * lam.sqrt() * (u * xt).sum(-1)     # (vᵀa)(x̃ᵀWᵀv), Wᵀv = σu
    C = half_dA / Na - half_dW / lam
    rho = (Na / (aa * lam)).sqrt()
    out = {"cocorrelation": rho, "C": C, "pred": eta * C * rho, "N_a": Na, "N_W": lam, "aTv2": av**2 / aa,
           "half_dA": half_dA, "half_dW": half_dW}
    if W0x is not None:
        term1 = eta * (aa**2 - av**2) * acute
        term2 = (a * W0x).sum(-1) * aa - (v * W0x).sum(-1) * av
        out.update(acute=acute, term1=term1, term2=term2,
                   decomp_residual=half_dA - half_dW - term1 - term2,
                   bound=(term1 + term2) / lam, main_term=term1 / lam, rem_term=term2 / lam)
    return out


def top_singular(W: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """‖W‖₂² and the top singular vectors of stacked W (K, m, d), from one dense eigh of the Gram
    matrix on the smaller side. Returns λ (K,), left vector v (K, m) (the top eigenvector of WWᵀ)
    and right vector u (K, d), with Wu = √λ v."""
    K, m, d = W.shape
    side = "m" if m <= d else "d"
    G = W @ W.transpose(1, 2) if side == "m" else W.transpose(1, 2) @ W
    evals, evecs = torch.linalg.eigh(G)
    lam, e = evals[:, -1].clamp_min(0), evecs[:, :, -1]
    sigma = lam.sqrt().clamp_min(1e-300)[:, None]
    if side == "m":
        return lam, e, torch.einsum("kmd,km->kd", W, e) / sigma
    return lam, torch.einsum("kmd,kd->km", W, e) / sigma, e


def linear_rate_terms(W: torch.Tensor, a: torch.Tensor, xt: torch.Tensor, *, W0: torch.Tensor | None = None,
                      s: torch.Tensor | None = None, eta: float = 1.0) -> dict[str, torch.Tensor]:
    """Exact rate of ϱ = ‖aᵀW‖/(‖a‖‖W‖₂) for stacked linear networks along Ẇ = a x̃ᵀ.

    W (K, m, d), a (K, m), x̃ (K, d). dϱ/dt = η·C·ϱ for the GD flow Ẇ = η a x̃ᵀ, with
      C = aᵀẆWᵀa/‖aᵀW‖² − vᵀẆWᵀv/‖W‖²  (= half_dA/N_a − half_dW/N_W),
    v, u the top singular vectors of W (dense eigh here). With W0 and s (W = W0 + η a sᵀ) also
    returns ① (`term1`), ② (`term2`), `acute` = sᵀx̃ and the decomposition residual
    half_dA − half_dW − ① − ②, which is zero up to rounding.
    W0 (K, m, d), s (K, d). Returns a dict of (K,) tensors: cocorrelation, C, pred = ηCϱ, N_a,
    N_W, aTv2, half_dA, half_dW (+ acute, term1, term2, decomp_residual, bound, main_term,
    rem_term with W0 and s).
    """
    lam, v, u = top_singular(W)
    c = torch.einsum("km,kmd->kd", a, W)
    if W0 is None or s is None:
        return _linear_terms(a, c, xt, lam, v, u, eta)
    W0x = torch.einsum("kmd,kd->km", W0, xt)
    return _linear_terms(a, c, xt, lam, v, u, eta, W0x=W0x, acute=(s * xt).sum(-1))


def top_eigpairs(matvec, shape: tuple[int, int], dim: int, *, like: torch.Tensor,
                 warm: torch.Tensor | None = None, tol: float = EIG_TOL) -> tuple[torch.Tensor, torch.Tensor]:
    """Top eigenvalue and unit eigenvector of K×n symmetric PSD operators by block Lanczos
    (`measures.top_eigenvalues`), warm-started from the previous GD step's vectors.
    matvec(V, idx) maps (K, n', 1, dim) → (K, n', 1, dim); shape = (K, n); `like` gives dtype and
    device; warm (K, n, dim) start vectors; tol as in `top_eigenvalues`. Returns λ (K, n), v (K, n, dim)."""
    if warm is not None:
        warm = warm[:, :, None, :]
    lam, _, vecs, _ = top_eigenvalues(matvec, shape, dim, dtype=like.dtype, device=like.device,
                                      tol=tol, max_iter=dim, block=1, warm=warm)
    v = vecs[:, :, 0, :]
    return lam.clamp_min(0), v / v.norm(dim=-1, keepdim=True).clamp_min(1e-300)


def relu_pattern_norms(W: torch.Tensor, D: torch.Tensor, *, vectors: bool = True,
                       warm: torch.Tensor | None = None):
    """λ_x = ‖D_xW‖₂² for stacked W (K, m, d) and patterns D (K, n, m), and (if `vectors`) the
    top left-singular vectors v_x (K, n, m). Exact eigh of D_xWWᵀD_x when m ≤ DENSE_MAX,
    else warm-started Lanczos on the smaller side (warm: earlier v_x (K, n, m)).
    Returns (λ (K, n), v (K, n, m) or None)."""
    K, m, d = W.shape
    n = D.shape[1]
    if m <= DENSE_MAX:
        H = W @ W.transpose(1, 2)
        M = H[:, None] * (D[..., :, None] * D[..., None, :])
        if not vectors:
            return torch.linalg.eigvalsh(M)[..., -1].clamp_min(0), None
        ev, evec = torch.linalg.eigh(M)
        return ev[..., -1].clamp_min(0), evec[..., -1]
    if m <= d:
        H = W @ W.transpose(1, 2)

        def matvec(V, idx):
            Dm = (D if idx is None else D[:, idx])[:, :, None, :]
            Kk, nv, b, _ = V.shape
            return ((V * Dm).reshape(Kk, nv * b, m) @ H).reshape(Kk, nv, b, m) * Dm
        lam, v = top_eigpairs(matvec, (K, n), m, like=W, warm=warm)
        return lam, D * v
    def matvec(V, idx):
        Dm = (D if idx is None else D[:, idx])[:, :, None, :]
        Kk, nv, b, _ = V.shape
        Z = (V.reshape(Kk, nv * b, d) @ W.transpose(1, 2)).reshape(Kk, nv, b, m) * Dm
        return (Z.reshape(Kk, nv * b, m) @ W).reshape(Kk, nv, b, d)
    uw = None if warm is None else warm @ W / warm.norm(dim=-1, keepdim=True).clamp_min(1e-300)
    lam, u = top_eigpairs(matvec, (K, n), d, like=W, warm=uw)
    v = D * (u @ W.transpose(1, 2))
    return lam, v / v.norm(dim=-1, keepdim=True).clamp_min(1e-300)


def relu_rate_terms(W: torch.Tensor, a: torch.Tensor, X: torch.Tensor, Gdir: torch.Tensor,
                    D: torch.Tensor | None = None, *, warm: torch.Tensor | None = None,
                    eta: float = 1.0) -> dict[str, torch.Tensor]:
    """RMS co-correlation of stacked ReLU networks over the inputs X (n, d) and its exact rate
    along Ẇ = Gdir with the activation pattern frozen (Theorem 5.5's Ḋ = 0):

    ϱ² = mean_x ‖aᵀD_xW‖² / (‖a‖² mean_x ‖D_xW‖₂²),
    C = mean ½Ṅ_a / mean N_a − mean ½Ṅ_W / mean N_W with
      ½Ṅ_a(x) = aᵀD_x G WᵀD_x a,  ½Ṅ_W(x) = v_xᵀD_x G WᵀD_x v_x (Hellmann–Feynman),
    v_x the top left-singular vector of D_xW. D defaults to W's own pattern on X.
    W (K, m, d), a (K, m), Gdir (K, m, d), D (K, n, m), warm (K, n, m): earlier v_x.
    Returns ϱ, C, pred = ηCϱ (K,), the per-sample N_a, N_W (K, n), vectors `vecs` (K, n, m)
    and `D` (K, n, m).
    """
    if D is None:
        D = activation_derivative(torch.einsum("nd,kmd->knm", X, W), "relu")
    Da = D * a[:, None, :]                                       # (K, n, m)
    c = Da @ W                                                   # WᵀD_x a, (K, n, d)
    Na = (c * c).sum(-1)
    lam, v = relu_pattern_norms(W, D, warm=warm)
    Dv = D * v
    w = Dv @ W                                                   # WᵀD_x v_x
    aa = (a * a).sum(-1)
    half_dNa = (Da * (c @ Gdir.transpose(1, 2))).sum(-1)
    half_dNW = (Dv * (w @ Gdir.transpose(1, 2))).sum(-1)
    mean_Na, mean_NW = Na.mean(1), lam.mean(1)
    C = half_dNa.mean(1) / mean_Na - half_dNW.mean(1) / mean_NW
    rho = (mean_Na / (aa * mean_NW)).sqrt()
    return {"cocorrelation": rho, "C": C, "pred": eta * C * rho, "N_a": Na, "N_W": lam, "vecs": v, "D": D}


def star_inputs(D_eval: torch.Tensor, D: torch.Tensor, residual: torch.Tensor,
                X: torch.Tensor) -> torch.Tensor:
    """Theorem 5.5's error-weighted inputs x̃_*(t, x) = (1/n)Σᵢ αᵢ(t, x)(yᵢ − sig(uᵢ))xᵢ for every
    evaluation input x, with αᵢ(t, x) = E_{W(0)}[σ′(w(t)ᵀx)σ′(w(t)ᵀxᵢ)] estimated by the mean over
    the m rows, (1/m) D_x(t)·D_{xᵢ}(t) (= Σ_r a_r²σ′σ′ exactly when a_r = ±1/√m).
    D_eval (K, n′, m) patterns of the evaluation inputs, D (K, n, m) and residual y − sig(u) (K, n)
    of the training inputs X (n, d). Returns (K, n′, d)."""
    m, n = D.shape[-1], X.shape[0]
    alpha = D_eval @ D.transpose(1, 2) / m                       # (K, n′, n)
    return (alpha * (residual / n)[:, None, :]) @ X


class ReluMainTerm:
    """The numerator of Theorem 5.5's main term along a run,
    Σ_{τ≤t}(1 − aᵀv(τ)·aᵀv(t))·E_x[x̃_*(τ)ᵀx̃_*(t)]
      = E_x[S₁(t)ᵀx̃_*(t)] − aᵀv(t)·E_x[S₂(t)ᵀx̃_*(t)],
    S₁(t) = Σ_{τ≤t} x̃_*(τ), S₂(t) = Σ_{τ≤t} aᵀv(τ) x̃_*(τ): two running sums (per member and
    evaluation input), so each step costs O(1) in t. Call once per step, in order, with
    x̃_*(t) (K, n′, d) and aᵀv(t) (K,); returns the numerator (K,)."""

    def __init__(self):
        self.S1: torch.Tensor | None = None
        self.S2: torch.Tensor | None = None

    def __call__(self, xstar: torch.Tensor, aTv: torch.Tensor) -> torch.Tensor:
        weighted = aTv[:, None, None] * xstar
        self.S1 = xstar.clone() if self.S1 is None else self.S1 + xstar
        self.S2 = weighted.clone() if self.S2 is None else self.S2 + weighted
        return (self.S1 * xstar).sum(-1).mean(-1) - aTv * (self.S2 * xstar).sum(-1).mean(-1)


def relu_cocorrelation(W: torch.Tensor, a: torch.Tensor, D: torch.Tensor,
                       warm: torch.Tensor | None = None) -> torch.Tensor:
    """RMS co-correlation (K,) of stacked ReLU networks with the activation pattern D (K, n, m).

    W (K, m, d), a (K, m); warm (K, n, m): start vectors for the Lanczos solves (m > DENSE_MAX)."""
    Na = ((D * a[:, None, :]) @ W).square().sum(-1)
    lam, _ = relu_pattern_norms(W, D, vectors=W.shape[1] > DENSE_MAX, warm=warm)
    return (Na.mean(1) / ((a * a).sum(-1) * lam.mean(1))).sqrt()


# =====================================================================================
# Simulations (full-batch GD, BCE, theory head)
# =====================================================================================


def _check_sim_args(X, y, width, qs, seeds, eta, steps, probe_every, probe_scales):
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise ConfigError(f"X must be (n, d) and y (n,); got {tuple(X.shape)} and {tuple(y.shape)}.")
    check_range("width", width, lo=1, integer=True)
    check_range("eta", eta, lo=0.0, lo_open=True)
    check_range("steps", steps, lo=1, integer=True)
    check_range("probe_every", probe_every, lo=0, integer=True)
    if len(qs) != len(seeds) or not qs:
        raise ConfigError("qs and seeds must be non-empty and of one length; "
                          f"got {len(qs)} and {len(seeds)}.")
    for sc in probe_scales:
        check_range("probe_scales entry", sc, lo=0.0, hi=1.0, lo_open=True)


def _theory_networks(X, y, width, qs, seeds, activation, device):
    """Inputs and labels in float64 on the device, and K theory-head networks (one per (q, seed))."""
    dev = resolve_device(device)
    X, y = X.to(dev, torch.float64), y.to(dev, torch.float64)
    model = TwoLayerEnsemble.init(X.shape[1], width, qs, seeds, head="theory", activation=activation,
                                  dtype=torch.float64, device=dev)
    return X, y, model


def _frame(width: int, qs, seeds, cols: dict[str, torch.Tensor], steps: int) -> pd.DataFrame:
    """(steps, K) tensors → DataFrame with one row per (member, step)."""
    K = len(qs)
    base = {"width": np.full(K * steps, width), "q": np.repeat(np.asarray(qs, float), steps),
            "seed": np.repeat(np.asarray(seeds, int), steps), "step": np.tile(np.arange(steps), K)}
    base.update({k: v.detach().cpu().numpy().T.reshape(-1) for k, v in cols.items()})
    return pd.DataFrame(base)


@torch.no_grad()
def simulate_linear(X: torch.Tensor, y: torch.Tensor, *, width: int, qs: Sequence[float],
                    seeds: Sequence[int], eta: float, steps: int, probe_every: int = 10,
                    probe_scales: Sequence[float] = (0.5, 0.25), device="auto") -> pd.DataFrame:
    """Full-batch GD on BCE for K linear networks aᵀWx of one width (one per (q, seed)),
    recording Theorem 5.3's quantities at every step t (before the update t → t+1):

    cocorrelation (ϱ), d_cocorrelation (= ϱ(t+1) − ϱ(t)), pred (= η C(t) ϱ(t)), C, acute (Σ_{τ<t} x̃(τ)ᵀx̃(t)),
    term1 (①), term2 (②), decomp_residual, bound ((① + ②)/‖W‖²), main_term (①/‖W‖²), rem_term (②/‖W‖²),
    half_dA (½ d‖aᵀW‖²/dt per unit η), aTv2, N_W (‖W‖₂²), xt_norm, loss, rem_bound
    ((1/n)Σ‖W(0)xᵢ‖), and every `probe_every` steps err_1, err_<scale> = |ϱ(W + h·η a x̃ᵀ) − ϱ −
    h·ηCϱ| for h = 1 and each probe scale (the one-step error at smaller step sizes).

    X (n, d) inputs (unit-norm in the theory setting), y (n,) in {0, 1}; qs, seeds: one pair per
    network (K of them). Returns one row per (member, step t < steps): activation, width, q, seed,
    step + the columns above.
    """
    _check_sim_args(X, y, width, qs, seeds, eta, steps, probe_every, probe_scales)
    X, y, model = _theory_networks(X, y, width, qs, seeds, "linear", device)
    dev = X.device
    n, d = X.shape
    W0 = model.W.detach().clone()
    a = model.A[:, 0, :].clone()
    K = W0.shape[0]
    spectrum = LinearSpectrum(W0, a)
    aa = spectrum.aa
    rem_bound = torch.einsum("nd,kmd->knm", X, W0).norm(dim=-1).mean(-1)
    keys = ("cocorrelation", "pred", "C", "acute", "term1", "term2", "decomp_residual", "bound", "main_term",
            "rem_term", "half_dA", "aTv2", "N_W", "xt_norm", "loss")
    rec = {k: torch.empty(steps + 1, K, dtype=W0.dtype, device=dev) for k in keys}
    probes = {f"err_{sc:g}": torch.full((steps, K), float("nan"), dtype=W0.dtype, device=dev)
              for sc in (1.0, *probe_scales)}
    for step in theory_gd(model, X, y, lr=eta, steps=steps):
        t, g, xt, loss = step.t, step.shift, step.xt, step.loss   # W = W0 + a gᵀ, g = η Σ_{τ<t} x̃(τ)
        c = spectrum.c0 + aa[:, None] * g                         # Wᵀa
        lam, v, u = spectrum(g)
        W0x = torch.einsum("kmd,kd->km", W0, xt)
        terms = _linear_terms(a, c, xt, lam, v, u, eta, W0x=W0x, acute=(g * xt).sum(-1) / eta)
        terms.update(xt_norm=xt.norm(dim=-1), loss=loss)
        for k in keys:
            rec[k][t] = terms[k]
        if t == steps:
            break
        if probe_every and t % probe_every == 0:
            for sc in probe_scales:                               # loop over step sizes only
                h = eta * sc
                lam_h, _, _ = spectrum(g + h * xt)
                Na_h = ((c + h * aa[:, None] * xt) ** 2).sum(-1)
                rho_h = (Na_h / (aa * lam_h)).sqrt()
                probes[f"err_{sc:g}"][t] = (rho_h - terms["cocorrelation"]
                                            - h * terms["C"] * terms["cocorrelation"]).abs()
    cols = {k: rec[k][:steps] for k in keys}
    cols["d_cocorrelation"] = rec["cocorrelation"][1:] - rec["cocorrelation"][:steps]
    if probe_every:
        idx = torch.arange(0, steps, probe_every, device=dev)
        probes["err_1"][idx] = (cols["d_cocorrelation"][idx] - cols["pred"][idx]).abs()
        cols.update(probes)
    cols["rem_bound"] = rem_bound[None].expand(steps, K)
    df = _frame(width, qs, seeds, cols, steps)
    df.insert(0, "activation", "linear")
    return df


@torch.no_grad()
def simulate_relu(X: torch.Tensor, y: torch.Tensor, *, width: int, qs: Sequence[float],
                  seeds: Sequence[int], eta: float, steps: int, probe_every: int = 10,
                  probe_scales: Sequence[float] = (0.5, 0.25), n_eval: int | None = None,
                  device="auto") -> pd.DataFrame:
    """Full-batch GD on BCE for K ReLU networks aᵀσ(Wx), recording Theorem 5.5's quantities
    at every step. ϱ is the RMS co-correlation over the first `n_eval` training inputs (all
    by default); the gradient always uses all n.

    cocorrelation (ϱ), d_cocorrelation (measured ϱ(t+1) − ϱ(t)), pred (ηCϱ with D frozen), C,
    d_cocorrelation_frozen (ϱ at W(t+1) with the old pattern D(t), minus ϱ(t)), flip_frac (fraction
    of (unit, sample) pairs whose activation flips in the step, over all n), flip_frac_eval
    (over the evaluation inputs),
    loss, energy_sq (E_x‖D_x(t)W(t)‖₂² over the evaluation inputs, = 𝔖(σ∘W)²), aTv (|aᵀv(t)|,
    v(t) the top eigenvector of W(t)W(t)ᵀ, its sign chosen so that aᵀv ≥ 0), main_num
    (Σ_{τ≤t}(1 − aᵀv(τ)aᵀv(t))E_x[x̃_*(τ)ᵀx̃_*(t)], see `star_inputs` and `ReluMainTerm`),
    main_term (η·main_num/energy_sq, Theorem 5.5's main term, η as in the proof of Theorem 5.3),
    and every `probe_every` steps err_1, err_<scale>: the frozen-pattern one-step error
    |ϱ_D(W + h·ηG) − ϱ − h·ηCϱ|.

    X (n, d) inputs (unit-norm in the theory setting), y (n,) in {0, 1}; qs, seeds: one pair per
    network (K of them). Returns one row per (member, step t < steps): activation, width, q, seed,
    step + the columns above.
    """
    _check_sim_args(X, y, width, qs, seeds, eta, steps, probe_every, probe_scales)
    X, y, model = _theory_networks(X, y, width, qs, seeds, "relu", device)
    dev = X.device
    n, d = X.shape
    n_eval = n if n_eval is None else n_eval
    check_range("n_eval", n_eval, lo=1, hi=n, integer=True)
    a = model.A[:, 0, :].clone()
    K = a.shape[0]
    Xe = X[:n_eval]
    keys = ("cocorrelation", "pred", "C", "d_cocorrelation_frozen", "flip_frac", "flip_frac_eval", "loss",
            "energy_sq", "aTv", "main_num", "main_term")
    rec = {k: torch.full((steps + 1, K), float("nan"), dtype=a.dtype, device=dev) for k in keys}
    probes = {f"err_{sc:g}": torch.full((steps, K), float("nan"), dtype=a.dtype, device=dev)
              for sc in (1.0, *probe_scales)}
    warm, D_prev = None, None
    main = ReluMainTerm()
    for step in theory_gd(model, X, y, lr=eta, steps=steps):
        t, W, D, Gdir, loss = step.t, step.W, step.pattern, step.direction, step.loss   # Gdir = −∂L/∂W
        De = D[:, :n_eval]
        terms = relu_rate_terms(W, a, Xe, Gdir, De, warm=warm, eta=eta)
        warm = terms["vecs"]
        rec["cocorrelation"][t], rec["C"][t], rec["pred"][t], rec["loss"][t] = (
            terms["cocorrelation"], terms["C"], terms["pred"], loss)
        aTv = (a * top_singular(W)[1]).sum(-1).abs()
        energy_sq = terms["N_W"].mean(1)
        num = main(star_inputs(De, D, step.residual, X), aTv)
        rec["energy_sq"][t], rec["aTv"][t], rec["main_num"][t] = energy_sq, aTv, num
        rec["main_term"][t] = eta * num / energy_sq
        if D_prev is not None:
            flips = (D != D_prev).to(W.dtype)
            rec["flip_frac"][t - 1] = flips.mean((1, 2))
            rec["flip_frac_eval"][t - 1] = flips[:, :n_eval].mean((1, 2))
        if t == steps:
            break
        rec["d_cocorrelation_frozen"][t] = (relu_cocorrelation(W + eta * Gdir, a, De, warm)
                                            - terms["cocorrelation"])
        if probe_every and t % probe_every == 0:
            probes["err_1"][t] = (rec["d_cocorrelation_frozen"][t] - terms["pred"]).abs()
            for sc in probe_scales:                               # loop over step sizes only
                h = eta * sc
                rho_h = relu_cocorrelation(W + h * Gdir, a, De, warm)
                probes[f"err_{sc:g}"][t] = (rho_h - terms["cocorrelation"]
                                            - h * terms["C"] * terms["cocorrelation"]).abs()
        D_prev = D
    cols = {k: rec[k][:steps] for k in keys}
    cols["d_cocorrelation"] = rec["cocorrelation"][1:] - rec["cocorrelation"][:steps]
    if probe_every:
        cols.update(probes)
    df = _frame(width, qs, seeds, cols, steps)
    df.insert(0, "activation", "relu")
    return df


# =====================================================================================
# The book's runs
# =====================================================================================


def _theory_data(st: DynamicsSettings):
    return load_mnist_binary("train", n=st.n, classes=st.classes, dtype=torch.float64)


def _run_all(activation: str, st: DynamicsSettings, device) -> pd.DataFrame:
    X, y = _theory_data(st)
    qs = [q for q in st.qs for _ in range(st.seeds)]
    seeds = [s for _ in st.qs for s in range(st.seeds)]
    # one batched run per width (members of one width share one stacked W)
    if activation == "linear":
        runs = [simulate_linear(X, y, width=w, qs=qs, seeds=seeds, eta=st.eta, steps=st.steps,
                                probe_every=st.probe_every, device=device) for w in st.linear_widths]
    else:
        runs = [simulate_relu(X, y, width=w, qs=qs, seeds=seeds, eta=st.eta, steps=st.relu_steps,
                              probe_every=st.probe_every, n_eval=st.n_eval, device=device)
                for w in st.relu_widths]
    return pd.concat(runs, ignore_index=True)


@lru_cache(maxsize=8)
def _table(activation: str, prof: str, device: str) -> pd.DataFrame:
    st = dynamics_settings(prof)
    params = dict(dataclasses.asdict(st), activation=activation)
    return store_table(f"dynamics_{activation}", params, lambda: _run_all(activation, st, device), prof)


def linear_dynamics_table(profile: str | None = None, device="auto") -> pd.DataFrame:
    """Theorem 5.3's per-step records for every width and q of the profile (memoised): the rows of
    `simulate_linear` for every linear width, concatenated."""
    return _table("linear", profile_name(profile), str(device)).copy()


def relu_dynamics_table(profile: str | None = None, device="auto") -> pd.DataFrame:
    """Theorem 5.5's per-step records for every ReLU width and q of the profile (memoised): the rows
    of `simulate_relu` for every ReLU width, concatenated."""
    return _table("relu", profile_name(profile), str(device)).copy()
