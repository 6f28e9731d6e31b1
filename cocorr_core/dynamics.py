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
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np
import pandas as pd
import sympy as sp
import torch

from .config import ConfigError, check_range, get_profile, profile_name
from .devices import resolve_device
from .measures import top_eigenvalues
from .models import TwoLayerEnsemble, activation_derivative

# =====================================================================================
# Symbolic derivations
# =====================================================================================


def rho_log_derivative(n_samples: int = 1) -> dict[str, sp.Expr]:
    """ϱ = sqrt(Σᵢ N_a,i / Σᵢ N_W,i) with N_a,i = ‖aᵀD_iW‖², N_W,i = ‖D_iW‖² (functions of t).

    n_samples = 1 is the linear network (N_a = ‖aᵀW‖², N_W = ‖W‖₂²); n_samples > 1 is the
    RMS co-correlation of the ReLU network (paper §3.5, with ‖a‖ = 1). Returns ϱ, dϱ/dt, the
    log-derivative form and their simplified difference (0).
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
    return {"t": t, "rho": rho, "drho_dt": drho, "log_form": log_form,
            "difference": sp.simplify(drho - log_form)}


def hellmann_feynman_2x2() -> dict[str, sp.Expr]:
    """Top eigenvalue λ(t) of a symmetric M(t) = [[p, r], [r, s]] and the Hellmann–Feynman
    form vᵀṀv / vᵀv with v its eigenvector; `difference` = dλ/dt − vᵀṀv/vᵀv (simplifies to 0
    wherever the top eigenvalue is simple, i.e. (p − s)² + 4r² > 0)."""
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
    explicit expression. Returns ϱ(h), its h-derivative at h = 0 (`drho_dh`), and the
    theorem's form ϱ·C with C = aᵀẆWᵀa/‖aᵀW‖² − vᵀẆWᵀv/‖W‖² (`rho_C`, v the top
    eigenvector): the two agree at every point with a simple top eigenvalue.
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
    return {"h": h, "W": W, "a": a, "xt": xt, "rho_h": rho_h,
            "drho_dh": sp.diff(rho_h, h).subs(h, 0), "rho": rho0, "C": C, "rho_C": rho0 * C}


def bound_gap_symbolic() -> dict[str, sp.Expr]:
    """Step 1's inequality. With N_a = ‖aᵀW‖² ≤ N_W = ‖W‖² and Ḋ_a = d‖aᵀW‖²/dt,
    Ḋ_W = d‖W‖²/dt:  C = Ḋ_a/(2N_a) − Ḋ_W/(2N_W) and the bound is (Ḋ_a − Ḋ_W)/(2N_W).
    `gap` = C − bound factors as Ḋ_a (N_W − N_a)/(2 N_a N_W): the bound holds iff Ḋ_a ≥ 0
    (or N_a = N_W, i.e. ϱ = 1)."""
    Na, NW = sp.symbols("N_a N_W", positive=True)
    dA, dW = sp.symbols("Ddot_a Ddot_W", real=True)
    C = dA / (2 * Na) - dW / (2 * NW)
    bound = (dA - dW) / (2 * NW)
    return {"C": C, "bound": bound, "gap": sp.factor(sp.simplify(C - bound)),
            "claimed_gap": dA * (NW - Na) / (2 * Na * NW)}


def frozen_pattern_derivative(m: int = 2, d: int = 2) -> dict[str, sp.Expr]:
    """Theorem 5.5 with Ḋ = 0: for W(t) = W + t·G and a fixed 0/1 diagonal D,
    d/dt ‖WᵀDa‖² at t = 0 equals 2 aᵀD G WᵀD a (`difference` expands to 0)."""
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

EIG_TOL = 1e-13   # relative accuracy asked of ‖W‖₂ (the vector error is about √(tol·λ/gap))


def top_eigpairs(matvec, shape: tuple[int, int], dim: int, *, like: torch.Tensor,
                 warm: torch.Tensor | None = None, tol: float = EIG_TOL) -> tuple[torch.Tensor, torch.Tensor]:
    """Top eigenvalue and unit eigenvector of K×n symmetric PSD operators (block Lanczos from
    `measures.top_eigenvalues`, warm-started from the previous GD step's vectors).
    matvec(V, idx) maps (K, n', 1, dim) → (K, n', 1, dim). Returns λ (K, n), v (K, n, dim)."""
    if warm is not None:
        warm = warm[:, :, None, :]
    lam, _, vecs, _ = top_eigenvalues(matvec, shape, dim, dtype=like.dtype, device=like.device,
                                      tol=tol, max_iter=dim, block=1, warm=warm)
    v = vecs[:, :, 0, :]
    return lam.clamp_min(0), v / v.norm(dim=-1, keepdim=True).clamp_min(1e-300)


def _gram_matvec(G: torch.Tensor):
    """matvec for Gram matrices G of shape (K, r, r) (one per member) or (K, n, r, r)."""
    def matvec(V, idx):
        if G.ndim == 3:
            return V @ G[:, None]
        return V @ (G if idx is None else G[:, idx])
    return matvec


def linear_spectral(G: torch.Tensor, side: str, W: torch.Tensor, warm: torch.Tensor | None = None):
    """Top singular triple of W (K, m, d) from its Gram on the smaller side (`side` 'm': G = WWᵀ,
    'd': G = WᵀW). Returns λ = ‖W‖₂² (K,), left vector v (K, m), right vector u (K, d), and the
    eigenvector to warm-start the next call."""
    K, r = G.shape[0], G.shape[-1]
    lam, e = top_eigpairs(_gram_matvec(G), (K, 1), r, like=G, warm=warm)
    lam, e = lam[:, 0], e[:, 0]
    sigma = lam.sqrt().clamp_min(1e-300)[:, None]
    if side == "m":
        v = e
        u = torch.einsum("kmd,km->kd", W, v) / sigma
    else:
        u = e
        v = torch.einsum("kmd,kd->km", W, u) / sigma
    return lam, v, u, e[:, None, :]


def linear_rate_terms(W: torch.Tensor, a: torch.Tensor, xt: torch.Tensor, *, W0: torch.Tensor | None = None,
                      s: torch.Tensor | None = None, eta: float = 1.0, spectral=None) -> dict[str, torch.Tensor]:
    """Exact rate of ϱ = ‖aᵀW‖/(‖a‖‖W‖₂) for stacked linear networks, along Ẇ = a x̃ᵀ.

    W (K, m, d), a (K, m), x̃ (K, d). dϱ/dt = η·C·ϱ for the GD flow Ẇ = η a x̃ᵀ, with
      C = aᵀẆWᵀa/‖aᵀW‖² − vᵀẆWᵀv/‖W‖²  (= half_dA/N_a − half_dW/N_W).
    With W0 and s (W = W0 + η a sᵀ) also returns ① (`term1`), ② (`term2`) and the
    decomposition residual half_dA − half_dW − ① − ②, which is zero up to rounding.
    `spectral` = (λ, v, u) if already known, else computed exactly with eigh.
    """
    if spectral is None:
        K, m, d = W.shape
        side = "m" if m <= d else "d"
        G = W @ W.transpose(1, 2) if side == "m" else W.transpose(1, 2) @ W
        evals, evecs = torch.linalg.eigh(G)
        lam, e = evals[:, -1].clamp_min(0), evecs[:, :, -1]
        sigma = lam.sqrt()[:, None]
        if side == "m":
            v, u = e, torch.einsum("kmd,km->kd", W, e) / sigma
        else:
            u, v = e, torch.einsum("kmd,kd->km", W, e) / sigma
    else:
        lam, v, u = spectral
    aa = (a * a).sum(-1)
    c = torch.einsum("km,kmd->kd", a, W)             # Wᵀa
    Na = (c * c).sum(-1)
    av = (a * v).sum(-1)
    half_dA = aa * (c * xt).sum(-1)                  # aᵀ(a x̃ᵀ)Wᵀa
    half_dW = av * lam.sqrt() * (u * xt).sum(-1)     # (vᵀa)(x̃ᵀWᵀv), Wᵀv = σu
    C = half_dA / Na - half_dW / lam
    rho = (Na / (aa * lam)).sqrt()
    out = {"rho": rho, "C": C, "pred": eta * C * rho, "N_a": Na, "N_W": lam, "aTv2": av**2 / aa,
           "half_dA": half_dA, "half_dW": half_dW}
    if W0 is not None and s is not None:
        W0x = torch.einsum("kmd,kd->km", W0, xt)
        acute = (s * xt).sum(-1)
        term1 = eta * (aa**2 - av**2) * acute
        term2 = (a * W0x).sum(-1) * aa - (v * W0x).sum(-1) * av
        out.update(acute=acute, term1=term1, term2=term2,
                   decomp_residual=half_dA - half_dW - term1 - term2,
                   bound=(term1 + term2) / lam, main_term=term1 / lam, rem_term=term2 / lam)
    return out


def relu_rate_terms(W: torch.Tensor, a: torch.Tensor, X: torch.Tensor, Gdir: torch.Tensor,
                    D: torch.Tensor | None = None, *, warm: torch.Tensor | None = None,
                    eta: float = 1.0) -> dict[str, torch.Tensor]:
    """RMS co-correlation of stacked ReLU networks and its exact rate along Ẇ = Gdir with the
    activation pattern D frozen (Theorem 5.5's Ḋ = 0).

    ϱ² = mean_x ‖aᵀD_xW‖² / (‖a‖² mean_x ‖D_xW‖₂²) over the rows of X (n, d), and
      C = mean Ṅ_a/(2 mean N_a) − mean Ṅ_W/(2 mean N_W),
      ½Ṅ_a(x) = aᵀD_x G WᵀD_x a,  ½Ṅ_W(x) = v_xᵀD_x G WᵀD_x v_x  (v_x: top left-singular
      vector of D_xW). D defaults to the pattern of W itself; passing another one evaluates
      ϱ with that pattern held fixed. Returns ϱ, C, pred = ηCϱ, the per-sample vectors (`vecs`,
      to warm-start the next call) and the pattern `D`.
    """
    K, m, d = W.shape
    n = X.shape[0]
    if D is None:
        D = activation_derivative(torch.einsum("nd,kmd->knm", X, W), "relu")
    Da = D * a[:, None, :]                                       # (K, n, m)
    c = Da @ W                                                   # WᵀD_x a, (K, n, d)
    Na = (c * c).sum(-1)
    side = "m" if m <= d else "d"
    if side == "m":
        H = W @ W.transpose(1, 2)

        def matvec(V, idx):
            Dm = (D if idx is None else D[:, idx])[:, :, None, :]
            Kk, nv, b, _ = V.shape
            return ((V * Dm).reshape(Kk, nv * b, m) @ H).reshape(Kk, nv, b, m) * Dm
        lam, e = top_eigpairs(matvec, (K, n), m, like=W, warm=warm)
        Dv = D * e                                               # = v_x (already supported on D)
        w = Dv @ W                                               # WᵀD_x v_x, (K, n, d)
    else:
        def matvec(V, idx):
            Dm = (D if idx is None else D[:, idx])[:, :, None, :]
            Kk, nv, b, _ = V.shape
            Z = (V.reshape(Kk, nv * b, d) @ W.transpose(1, 2)).reshape(Kk, nv, b, m) * Dm
            return (Z.reshape(Kk, nv * b, m) @ W).reshape(Kk, nv, b, d)
        lam, e = top_eigpairs(matvec, (K, n), d, like=W, warm=warm)
        sigma = lam.sqrt().clamp_min(1e-300)[..., None]
        Dv = D * (e @ W.transpose(1, 2)) / sigma                 # v_x = D_x W u_x / σ_x
        w = Dv @ W
    aa = (a * a).sum(-1)
    half_dNa = (Da * (c @ Gdir.transpose(1, 2))).sum(-1)
    half_dNW = (Dv * (w @ Gdir.transpose(1, 2))).sum(-1)
    mean_Na, mean_NW = Na.mean(1), lam.mean(1)
    C = half_dNa.mean(1) / mean_Na - half_dNW.mean(1) / mean_NW
    rho = (mean_Na / (aa * mean_NW)).sqrt()
    return {"rho": rho, "C": C, "pred": eta * C * rho, "N_a": Na, "N_W": lam,
            "vecs": e, "D": D}


# =====================================================================================
# Simulations (full-batch GD, BCE, theory head)
# =====================================================================================


def _bce_residual(u: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(y − sig(u)) and the mean BCE loss per member."""
    loss = (torch.nn.functional.softplus(u) - y * u).mean(-1)
    return y - torch.sigmoid(u), loss


def _check_sim_args(X, y, width, qs, seeds, eta, steps, probe_every, probe_scales):
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise ConfigError(f"X must be (n, d) and y (n,); got {tuple(X.shape)} and {tuple(y.shape)}.")
    check_range("width", width, lo=1, integer=True)
    check_range("eta", eta, lo=0.0, lo_open=True)
    check_range("steps", steps, lo=1, integer=True)
    check_range("probe_every", probe_every, lo=0, integer=True)
    if len(qs) != len(seeds) or not qs:
        raise ConfigError(f"qs and seeds must be non-empty and of one length; got {len(qs)} and {len(seeds)}.")
    for sc in probe_scales:
        check_range("probe_scales entry", sc, lo=0.0, hi=1.0, lo_open=True)


def _frame(width: int, qs, seeds, cols: dict[str, torch.Tensor], steps: int) -> pd.DataFrame:
    """(steps, K) tensors → long-by-member DataFrame with one row per (member, step)."""
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

    rho, drho (= ϱ(t+1) − ϱ(t)), pred (= η C(t) ϱ(t)), C, acute (Σ_{τ<t} x̃(τ)ᵀx̃(t)), term1 (①),
    term2 (②), decomp_residual, bound ((① + ②)/‖W‖²), main_term (①/‖W‖²), rem_term (②/‖W‖²),
    half_dA (½ d‖aᵀW‖²/dt per unit η), aTv2, N_W (‖W‖₂²), xt_norm, loss, rem_bound
    ((1/n)Σ‖W(0)xᵢ‖), and every `probe_every` steps err_1, err_<scale> = |ϱ(W + hηa x̃ᵀ) − ϱ −
    hηCϱ| for h = 1 and each probe scale (the one-step error at smaller step sizes).
    """
    _check_sim_args(X, y, width, qs, seeds, eta, steps, probe_every, probe_scales)
    dev = resolve_device(device)
    X, y = X.to(dev, torch.float64), y.to(dev, torch.float64)
    n, d = X.shape
    model = TwoLayerEnsemble.init(d, width, qs, seeds, head="theory", activation="linear",
                                  dtype=torch.float64, device=dev)
    W = model.W.detach().clone()
    a = model.A[:, 0, :].clone()
    W0 = W.clone()
    K, m, _ = W.shape
    side = "m" if m <= d else "d"
    G = W @ W.transpose(1, 2) if side == "m" else W.transpose(1, 2) @ W
    aa = (a * a).sum(-1)
    s = torch.zeros(K, d, dtype=W.dtype, device=dev)
    rem_bound = torch.einsum("nd,kmd->knm", X, W0).norm(dim=-1).mean(-1)
    keys = ("rho", "pred", "C", "acute", "term1", "term2", "decomp_residual", "bound", "main_term",
            "rem_term", "half_dA", "aTv2", "N_W", "xt_norm", "loss")
    rec = {k: torch.empty(steps + 1, K, dtype=W.dtype, device=dev) for k in keys}
    probes = {f"err_{sc:g}": torch.full((steps, K), float("nan"), dtype=W.dtype, device=dev)
              for sc in (1.0, *probe_scales)}
    warm = None
    for t in range(steps + 1):
        c = torch.einsum("km,kmd->kd", a, W)
        u = c @ X.T                                               # aᵀW x for every sample
        resid, loss = _bce_residual(u, y)
        xt = resid @ X / n                                        # x̃(t), (K, d)
        lam, v, uvec, warm = linear_spectral(G, side, W, warm)
        terms = linear_rate_terms(W, a, xt, W0=W0, s=s, eta=eta, spectral=(lam, v, uvec))
        for k in keys:
            if k == "xt_norm":
                rec[k][t] = xt.norm(dim=-1)
            elif k == "loss":
                rec[k][t] = loss
            else:
                rec[k][t] = terms[k]
        if t == steps:
            break
        Wx = torch.einsum("kmd,kd->km", W, xt)

        def gram_after(h: float) -> torch.Tensor:
            # exact Gram of W + h a x̃ᵀ (a rank-two change)
            if side == "m":
                return (G + h * (Wx[:, :, None] * a[:, None, :] + a[:, :, None] * Wx[:, None, :])
                        + h * h * (xt * xt).sum(-1)[:, None, None] * a[:, :, None] * a[:, None, :])
            return (G + h * (c[:, :, None] * xt[:, None, :] + xt[:, :, None] * c[:, None, :])
                    + h * h * aa[:, None, None] * xt[:, :, None] * xt[:, None, :])

        if probe_every and t % probe_every == 0 and probe_scales:
            hs = [eta * sc for sc in probe_scales]
            Gs = torch.stack([gram_after(h) for h in hs], 1)      # (K, S, r, r)
            lam_h, _ = top_eigpairs(_gram_matvec(Gs), (K, len(hs)), Gs.shape[-1], like=Gs,
                                    warm=warm.expand(K, len(hs), -1).clone())
            for j, (sc, h) in enumerate(zip(probe_scales, hs)):
                Na_h = ((c + h * aa[:, None] * xt) ** 2).sum(-1)
                rho_h = (Na_h / (aa * lam_h[:, j])).sqrt()
                probes[f"err_{sc:g}"][t] = (rho_h - terms["rho"] - h * terms["C"] * terms["rho"]).abs()
        G = gram_after(eta)
        W = W + eta * a[:, :, None] * xt[:, None, :]
        s = s + xt
    cols = {k: rec[k][:steps] for k in keys}
    cols["drho"] = rec["rho"][1:] - rec["rho"][:steps]
    if probe_every:
        idx = torch.arange(0, steps, probe_every, device=dev)
        probes["err_1"][idx] = (cols["drho"][idx] - cols["pred"][idx]).abs()
        cols.update(probes)
    cols["rem_bound"] = rem_bound[None].expand(steps, K)
    df = _frame(width, qs, seeds, cols, steps)
    df.insert(0, "activation", "linear")
    return df


@torch.no_grad()
def simulate_relu(X: torch.Tensor, y: torch.Tensor, *, width: int, qs: Sequence[float],
                  seeds: Sequence[int], eta: float, steps: int, probe_every: int = 10,
                  probe_scales: Sequence[float] = (0.5, 0.25), device="auto") -> pd.DataFrame:
    """Full-batch GD on BCE for K ReLU networks aᵀσ(Wx), recording Theorem 5.5's quantities
    at every step (ϱ is the RMS co-correlation over the training inputs):

    rho, drho (measured ϱ(t+1) − ϱ(t)), pred (ηCϱ with D frozen), C, drho_frozen (ϱ at W(t+1)
    evaluated with the old pattern D(t), minus ϱ(t)), flip_frac (fraction of (unit, sample)
    pairs whose activation flips in the step), loss, and every `probe_every` steps err_1,
    err_<scale>: the frozen-pattern one-step error |ϱ_D(W + hηG) − ϱ − hηCϱ|.
    """
    _check_sim_args(X, y, width, qs, seeds, eta, steps, probe_every, probe_scales)
    dev = resolve_device(device)
    X, y = X.to(dev, torch.float64), y.to(dev, torch.float64)
    n, d = X.shape
    model = TwoLayerEnsemble.init(d, width, qs, seeds, head="theory", activation="relu",
                                  dtype=torch.float64, device=dev)
    W = model.W.detach().clone()
    a = model.A[:, 0, :].clone()
    K = W.shape[0]
    keys = ("rho", "pred", "C", "drho_frozen", "flip_frac", "loss")
    rec = {k: torch.full((steps + 1, K), float("nan"), dtype=W.dtype, device=dev) for k in keys}
    probes = {f"err_{sc:g}": torch.full((steps, K), float("nan"), dtype=W.dtype, device=dev)
              for sc in (1.0, *probe_scales)}
    warm, D_prev = None, None
    for t in range(steps + 1):
        Z = torch.einsum("nd,kmd->knm", X, W)
        D = activation_derivative(Z, "relu")
        u = (torch.relu(Z) * a[:, None, :]).sum(-1)
        resid, loss = _bce_residual(u, y)
        Gdir = ((resid / n)[:, :, None] * D * a[:, None, :]).transpose(1, 2) @ X   # −∂L/∂W, (K, m, d)
        terms = relu_rate_terms(W, a, X, Gdir, D, warm=warm, eta=eta)
        warm = terms["vecs"]
        rec["rho"][t], rec["C"][t], rec["pred"][t], rec["loss"][t] = terms["rho"], terms["C"], terms["pred"], loss
        if D_prev is not None:
            rec["flip_frac"][t - 1] = (D != D_prev).to(W.dtype).mean((1, 2))
        if t == steps:
            break
        frozen = relu_rate_terms(W + eta * Gdir, a, X, Gdir, D, warm=warm)
        rec["drho_frozen"][t] = frozen["rho"] - terms["rho"]
        if probe_every and t % probe_every == 0:
            probes["err_1"][t] = (rec["drho_frozen"][t] - terms["pred"]).abs()
            for sc in probe_scales:
                h = eta * sc
                rho_h = relu_rate_terms(W + h * Gdir, a, X, Gdir, D, warm=warm)["rho"]
                probes[f"err_{sc:g}"][t] = (rho_h - terms["rho"] - h * terms["C"] * terms["rho"]).abs()
        D_prev = D
        W = W + eta * Gdir
    cols = {k: rec[k][:steps] for k in keys}
    cols["drho"] = rec["rho"][1:] - rec["rho"][:steps]
    if probe_every:
        cols.update(probes)
    df = _frame(width, qs, seeds, cols, steps)
    df.insert(0, "activation", "relu")
    return df


# =====================================================================================
# The book's runs
# =====================================================================================


@dataclass(frozen=True)
class DynamicsSettings:
    """Sizes of the theory-setting runs of the Theorem 5.3/5.5 pages."""

    linear_widths: tuple[int, ...]
    relu_widths: tuple[int, ...]
    qs: tuple[float, ...]
    n: int
    steps: int
    relu_steps: int
    eta: float
    seeds: int
    probe_every: int
    classes: tuple[int, int] = (0, 1)


def dynamics_settings(profile: str | None = None) -> DynamicsSettings:
    """quick: a few widths on two CPU cores; paper: the paper's width range (meant for a GPU)."""
    prof = get_profile(profile)
    if prof.name == "quick":
        return DynamicsSettings(linear_widths=(64, 512, 4096), relu_widths=(64, 256),
                                qs=(-0.1, 0.1, 0.25), n=prof.theory_n, steps=prof.theory_steps,
                                relu_steps=prof.theory_steps // 2, eta=1.0, seeds=1,
                                probe_every=max(1, prof.theory_steps // 20))
    return DynamicsSettings(linear_widths=tuple(2**k for k in range(4, 14)),
                            relu_widths=(64, 256, 1024, 4096), qs=tuple(prof.qs), n=prof.theory_n,
                            steps=prof.theory_steps, relu_steps=prof.theory_steps, eta=1.0,
                            seeds=prof.seeds, probe_every=max(1, prof.theory_steps // 50))


def _theory_data(st: DynamicsSettings):
    from .data import load_mnist_binary
    return load_mnist_binary("train", n=st.n, classes=st.classes, dtype=torch.float64)


def _run_all(activation: str, st: DynamicsSettings, device) -> pd.DataFrame:
    X, y = _theory_data(st)
    qs = [q for q in st.qs for _ in range(st.seeds)]
    seeds = [s for _ in st.qs for s in range(st.seeds)]
    sim = simulate_linear if activation == "linear" else simulate_relu
    widths = st.linear_widths if activation == "linear" else st.relu_widths
    steps = st.steps if activation == "linear" else st.relu_steps
    # one batched run per width (members of one width share one stacked W)
    return pd.concat([sim(X, y, width=w, qs=qs, seeds=seeds, eta=st.eta, steps=steps,
                          probe_every=st.probe_every, device=device) for w in widths],
                     ignore_index=True)


@lru_cache(maxsize=8)
def _table(activation: str, prof: str, device: str) -> pd.DataFrame:
    st = dynamics_settings(prof)
    params = dict(dataclasses.asdict(st), activation=activation)
    try:
        from .store import cached_table
    except ImportError:       # no store: compute directly
        return _run_all(activation, st, device)
    return cached_table(f"dynamics_{activation}", params, lambda: _run_all(activation, st, device),
                        profile=prof)


def linear_dynamics_table(profile: str | None = None, device="auto") -> pd.DataFrame:
    """Theorem 5.3's per-step records for every width and q of the profile (memoised)."""
    return _table("linear", profile_name(profile), str(device)).copy()


def relu_dynamics_table(profile: str | None = None, device="auto") -> pd.DataFrame:
    """Theorem 5.5's per-step records for every ReLU width and q of the profile (memoised)."""
    return _table("relu", profile_name(profile), str(device)).copy()


def loglog_slope(x: Sequence[float], y: Sequence[float]) -> float:
    """Least-squares slope of log y against log x (NaN with fewer than two positive points)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = (x > 0) & (y > 0) & np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 2:
        return math.nan
    return float(np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)[0])
