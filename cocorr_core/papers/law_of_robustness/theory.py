"""The proved cases of the law of robustness, as computations we can check.

* The gradient formula ∇f(x) = Wᵀ(a ⊙ σ′(Wx)) of a two-layer net (sympy against autograd).
* The projection argument for n ≈ d [our reconstruction]: f depends on x only through P_V x,
  V = the row space of W (dim ≤ k). Some positive and some negative training point have
  ‖P_V x‖² ≤ k‖X‖²_op / n_class, and f differs by at least 2 between them, so
  Lip(f) ≥ 2/(‖P_V x₊‖ + ‖P_V x₋‖) ≥ √(n_min / (k‖X‖²_op)). With ‖X‖²_op ≈ (1 + √(n/d))² this is
  of order √(n/k) when n ≈ d, and only √(d/k) when n ≫ d.
* Degree-2 activations with n ≈ d² [our reconstruction]: f(x) = xᵀMx with rank M ≤ k, and on the
  unit ball Lip(f) = 2‖M‖_op exactly. From n ≤ Σ y_i f(x_i) = ⟨M, S⟩ ≤ ‖M‖_*‖S‖_op ≤ k‖M‖_op‖S‖_op,
  S = Σ y_i x_i x_iᵀ, it follows that Lip ≥ 2n/(k‖S‖_op).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import sympy as sp
import torch

from ... import data
from ...lipschitz import gradient_ascent, gradient_norms, sphere_points, two_layer_function
from .experiments import fit_to_margin, margin_normalised, projection_bound
from .settings import Profile, get_profile, store_table


# ---------------------------------------------------------------- symbolic
def gradient_formula_check(k: int = 3, d: int = 2, seed: int = 0) -> float:
    """Largest |sympy ∇f − autograd ∇f| for f = Σ a_ℓ relu(w_ℓ·x) at a random point (float64)."""
    x = sp.symbols(f"x0:{d}", real=True)
    rng = np.random.default_rng(seed)
    W, a, x0 = rng.normal(size=(k, d)), rng.normal(size=k), rng.normal(size=d)
    f = sum(float(a[i]) * sp.Max(0, sum(float(W[i, j]) * x[j] for j in range(d))) for i in range(k))
    sym = np.array([float(sp.diff(f, xj).subs(dict(zip(x, x0)))) for xj in x])
    fn = two_layer_function(torch.tensor(W)[None], torch.tensor(a)[None])
    xt = torch.tensor(x0)[None, None].requires_grad_(True)
    (auto,) = torch.autograd.grad(fn(xt).sum(), xt)
    return float(np.abs(sym - auto[0, 0].numpy()).max())


def projection_bound_symbolic() -> dict[str, sp.Expr]:
    """The n ≈ d bound √(n/2 / (k(1+√(n/d))²)) over √(n/k): at n = d, and as n/d → ∞ (times √(n/d))."""
    n, d, k = sp.symbols("n d k", positive=True)
    bound = sp.sqrt((n / 2) / (k * (1 + sp.sqrt(n / d)) ** 2))
    ratio = sp.simplify(bound / sp.sqrt(n / k))
    return {"bound": bound, "ratio": ratio, "ratio_at_n_eq_d": sp.simplify(ratio.subs(n, d)),
            "bound_times_sqrt_k_over_d_as_n_grows": sp.limit(bound * sp.sqrt(k / d), n, sp.oo)}


# ---------------------------------------------------------------- n ≈ d
def witness(model, X: torch.Tensor, y: torch.Tensor) -> dict[str, np.ndarray]:
    """The projection argument's pair on margin-normalised members: name → (K,).

    witness_quotient = (f(P x₊) − f(P x₋)) / ‖P x₊ − P x₋‖ (a certified lower bound on Lip),
    witness_bound = 2 / (‖P x₊‖ + ‖P x₋‖), x± the points of each class with the smallest ‖P x‖."""
    W = model.W.detach()
    Xd, yd = X.to(W.device, torch.float64), y.to(W.device, torch.float64)
    Q = torch.linalg.svd(W, full_matrices=False).Vh                      # (K, r, d) row-space basis
    tol = 1e-10 * torch.linalg.matrix_norm(W, ord=2)
    S = torch.linalg.svdvals(W)
    Q = Q * (S > tol[:, None])[..., None]
    P = torch.einsum("nd,krd->knr", Xd, Q) @ Q                           # P_V x_i (K, n, d)
    pn = P.norm(dim=-1)
    big = torch.full_like(pn, float("inf"))
    ip = torch.where(yd > 0, pn, big).argmin(1)
    im = torch.where(yd < 0, pn, big).argmin(1)
    K = W.shape[0]
    xp, xm = P[torch.arange(K), ip], P[torch.arange(K), im]
    with torch.no_grad():
        f = model(torch.stack([xp, xm], 1))[..., 0]
    quotient = (f[:, 0] - f[:, 1]) / (xp - xm).norm(dim=-1)
    bound = 2 / (xp.norm(dim=-1) + xm.norm(dim=-1))
    return {"witness_quotient": quotient.cpu().numpy(), "witness_bound": bound.cpu().numpy()}


def nd_table(profile: str | None = None) -> pd.DataFrame:
    """n = d: widths 4, 8, …, d, `seeds` members each; witness, bounds and the Lipschitz bracket.

    The head's signs are random, so a narrow member whose signs all agree cannot fit ±1 labels; such
    members stop at max_epochs with fitted = False and are left out of the checks."""
    prof = get_profile(profile)

    def compute() -> pd.DataFrame:
        from .experiments import measure
        rows = []
        for d in prof.nd_dims:
            X, y = data.sphere_random_labels(d, d, seed=100 + d)
            k = 4
            while k <= d:
                model, info = fit_to_margin(X, y, k, [7000 + 10 * k + s for s in range(prof.seeds)],
                                            max_epochs=prof.max_epochs)
                net = margin_normalised(model, X, y)
                res = {**measure(net, X, prof, seed=k), **witness(net, X, y)}
                res["proj_bound"] = projection_bound(net.W, X, y).cpu().numpy()
                for j in range(prof.seeds):
                    rows.append({"n": d, "d": d, "width": k, "seed": j,
                                 **{key: float(v[j]) for key, v in info.items()},
                                 **{key: float(v[j]) for key, v in res.items()}})
                k *= 2
        df = pd.DataFrame(rows)
        df["fitted"] = df["fitted"].astype(bool)
        df["law"] = np.sqrt(df["n"] / df["width"])
        return df

    # every setting `measure` reads is in the key, so a changed ascent never reuses an old table
    params = {"dims": list(prof.nd_dims), "seeds": prof.seeds, "max_epochs": prof.max_epochs,
              "n_random": prof.n_random, "ascent": [prof.ascent_starts, prof.ascent_steps]}
    return store_table("n_eq_d", params, compute, profile=prof.name)


# ---------------------------------------------------------------- degree 2, n ≈ d²
def quadratic_fit(d: int, seed: int = 0, ascent_steps: int = 50) -> dict[str, float]:
    """The minimum-Frobenius-norm quadratic interpolant xᵀMx of n = d(d+1)/4 random ±1 labels.

    Returns n, d, rank k, the exact Lip on the unit ball 2‖M‖_op, the bound 2n/(k‖S‖_op), the
    largest residual, and the Lip lower estimate of `lipschitz.gradient_ascent` on the width-k
    network Σ λ_ℓ (v_ℓ·x)² (its eigen-decomposition)."""
    n = d * (d + 1) // 4
    X, y = data.sphere_random_labels(n, d, seed=200 + seed)
    iu = torch.triu_indices(d, d)
    weight = torch.where(iu[0] == iu[1], 1.0, 2.0).double()
    feats = (X[:, iu[0]] * X[:, iu[1]]) * weight                        # ⟨M, x xᵀ⟩ = feats · m_upper
    m = torch.linalg.lstsq(feats, y[:, None]).solution[:, 0]
    M = torch.zeros(d, d, dtype=torch.float64)
    M[iu[0], iu[1]] = m
    M = M + M.T - torch.diag(torch.diag(M))
    lam, V = torch.linalg.eigh(M)
    keep = lam.abs() > 1e-10 * lam.abs().max()
    k = int(keep.sum())
    S = (X.T * y) @ X
    fn = two_layer_function(V.T[keep][None], lam[keep][None], activation=torch.square)
    resid = float((fn(X[None])[0] - y).abs().max())
    starts = sphere_points(1, 64, d, seed=seed)
    _, best = gradient_ascent(fn, starts, steps=ascent_steps, step_size=0.1)
    start_norms = gradient_norms(fn, starts)
    return {"n": n, "d": d, "width": k, "lip_exact": float(2 * lam.abs().max()),
            "bound": float(2 * n / (k * torch.linalg.matrix_norm(S, ord=2))), "max_residual": resid,
            "lip_ascent": float(best.max()), "lip_random": float(start_norms.max()),
            "law": float(np.sqrt(n / k))}


def quadratic_table(profile: str | None = None) -> pd.DataFrame:
    """`quadratic_fit` for every d of the profile and `seeds` data draws."""
    prof: Profile = get_profile(profile)
    return store_table("quadratic", {"dims": list(prof.quadratic_dims), "seeds": prof.seeds},
                       lambda: pd.DataFrame([{"seed": s, **quadratic_fit(d, s)} for d in prof.quadratic_dims
                                             for s in range(prof.seeds)]), profile=prof.name)
