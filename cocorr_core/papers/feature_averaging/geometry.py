"""Exact geometry of the multi-cluster problem (Sec. 4 of Li et al. 2025, re-derived).

Centres μ_1..μ_k are orthogonal with ‖μ_j‖² = d; J₊, J₋ split them; u = Σ_j s_j μ_j with s_j = ±1
the class sign of cluster j. The averaged network is f_FA(x) = ReLU(⟨Σ_{J₊} μ, x⟩) − ReLU(⟨Σ_{J₋} μ, x⟩),
the decoupled networks are read out with thresholds, F_β(x) = Σ_j s_j ReLU(⟨μ_j, x⟩ − β), or by
the argmax of ⟨μ_j, x⟩. Every formula is derived with sympy here and checked numerically in
float64 (autograd, a constrained optimiser, Monte Carlo) by `geometry_checks`.
"""

from __future__ import annotations

import math

import numpy as np
import sympy as sp
import torch
from scipy import optimize, stats

from ...data import multi_cluster, orthogonal_centres


# ---------------------------------------------------------------- sympy derivations
def cosine_signature() -> dict:
    """cos(Σ_{j∈J} μ_j, μ_i) for i ∈ J, |J| = s: derived for symbolic d, s and, explicitly, for
    k = 4 centres √d e_j with J = {1, 2, 3}. Returns the expressions and their simplified values."""
    d, s = sp.symbols("d s", positive=True)
    general = sp.simplify(d / (sp.sqrt(s * d) * sp.sqrt(d)))  # ⟨Σμ, μ_i⟩ = d, ‖Σμ‖² = s d
    mu = [sp.sqrt(d) * sp.Matrix(sp.eye(4)[:, j]) for j in range(4)]
    avg = mu[0] + mu[1] + mu[2]
    explicit = sp.simplify((avg.T * mu[0])[0] / (sp.sqrt((avg.T * avg)[0]) * sp.sqrt((mu[0].T * mu[0])[0])))
    return {
        "general": general,
        "explicit_k4_s3": explicit,
        "matches": sp.simplify(general.subs(s, 3) - explicit) == 0,
    }


def averaged_radius() -> dict:
    """Distance from a centre to the boundary of f_FA: min a² + b² subject to
    a√(p d) + b√(q d) = d (a lowers the own ReLU, b raises the other; p = |J_y|, q = |J_−y|),
    solved with a Lagrange multiplier; and the projection ⟨u, μ_i⟩/‖u‖ with ‖u‖² = k d."""
    a, b, lam, d, p, q = sp.symbols("a b lambda d p q", positive=True)
    lagrangian = a**2 + b**2 - lam * (a * sp.sqrt(p * d) + b * sp.sqrt(q * d) - d)
    sol = sp.solve([sp.diff(lagrangian, v) for v in (a, b, lam)], [a, b, lam], dict=True)[0]
    radius_sq = sp.simplify((a**2 + b**2).subs(sol))
    k = sp.symbols("k", positive=True)
    projection = sp.simplify(d / sp.sqrt(k * d))
    return {
        "radius_sq": radius_sq,
        "radius": sp.sqrt(radius_sq),
        "projection": projection,
        "equal": sp.simplify(radius_sq.subs(q, k - p) - projection**2) == 0,
        "attack_coefficients": sol,
    }


def threshold_radius() -> dict:
    """Radius of the thresholded sum readout F_β when an attack lowers the own neuron by a√d and
    raises L' opposite neurons by b√d each: min a² + L' b² s.t. a√d + L'b√d = d + (L'−1)β."""
    a, b, lam, d, beta, L = sp.symbols("a b lambda d beta L", positive=True)
    budget = d + (L - 1) * beta
    lagrangian = a**2 + L * b**2 - lam * (a * sp.sqrt(d) + L * b * sp.sqrt(d) - budget)
    sol = sp.solve([sp.diff(lagrangian, v) for v in (a, b, lam)], [a, b, lam], dict=True)[0]
    radius_sq = sp.factor(sp.simplify((a**2 + L * b**2).subs(sol)))
    return {
        "radius_sq": radius_sq,
        "radius": sp.sqrt(radius_sq),
        "a": sp.factor(sol[a]),
        "b": sp.factor(sol[b]),
        "at_half_d": sp.simplify(sp.sqrt(radius_sq).subs(beta, d / 2)),
        "at_zero": sp.simplify(sp.sqrt(radius_sq).subs(beta, 0)),
    }


def argmax_radius() -> dict:
    """Distance from μ_i to the argmax boundary ⟨μ_i − μ_l, x⟩ = 0, and from μ_i to the midpoint
    of μ_i and μ_l (the bound for every classifier): both √(d/2)."""
    d = sp.symbols("d", positive=True)
    gap = d  # ⟨μ_i − μ_l, μ_i⟩
    boundary = sp.simplify(gap / sp.sqrt(2 * d))
    midpoint = sp.simplify(sp.sqrt(2 * d) / 2)  # ‖μ_i − μ_l‖ / 2
    return {"argmax": boundary, "midpoint": midpoint, "equal": sp.simplify(boundary - midpoint) == 0}


def at(expr: sp.Expr, **values: float) -> float:
    """A sympy expression evaluated at named symbol values, as a float."""
    return float(expr.subs({sym: values[sym.name] for sym in expr.free_symbols if sym.name in values}))


# ---------------------------------------------------------------- numbers
def fa_radius(d: float, k: int) -> float:
    """√(d/k): the distance of every centre to the boundary of the averaged network."""
    return math.sqrt(d / k)


def optimal_radius(d: float) -> float:
    """√(d/2): no classifier is robust beyond it at both of two opposite centres."""
    return math.sqrt(d / 2)


def rho_beta(d: float, n_opposite: int, beta: float) -> float:
    """min over 1 ≤ L' ≤ n_opposite of (d + (L'−1)β)/√((L'+1)d): the attack radius at a centre of the
    thresholded sum readout F_β, 0 ≤ β ≤ d/2 (a flip means the opposite sign strictly)."""
    if not 0 <= beta <= d / 2:
        raise ValueError(f"beta={beta!r} must lie in [0, d/2] = [0, {d / 2}]")
    Ls = np.arange(1, n_opposite + 1)
    return float(((d + (Ls - 1) * beta) / np.sqrt((Ls + 1) * d)).min())


def robust_accuracy_fa(rho: np.ndarray | float, d: float, k: int) -> np.ndarray:
    """Φ(√(d/k) − ρ): robust accuracy of the linear boundary ⟨u, x⟩ = 0 under noise N(0, I_d),
    since y⟨u, x⟩/‖u‖ ~ N(√(d/k), 1)."""
    return stats.norm.cdf(fa_radius(d, k) - np.asarray(rho, float))


def averaged_network(centres: torch.Tensor, signs: torch.Tensor):
    """f_FA as a function of x (..., d) → (...,): ReLU(⟨Σ_{J₊}μ, x⟩) − ReLU(⟨Σ_{J₋}μ, x⟩)."""
    plus = (centres * (signs > 0)[:, None]).sum(0)
    minus = (centres * (signs < 0)[:, None]).sum(0)
    return lambda x: torch.relu(x @ plus) - torch.relu(x @ minus)


def thresholded_network(centres: torch.Tensor, signs: torch.Tensor, beta: float):
    """F_β(x) = Σ_j s_j ReLU(⟨μ_j, x⟩ − β) for x (..., d) → (...,)."""
    return lambda x: torch.relu(x @ centres.T - beta) @ signs.to(x)


def geometry_checks(d: int = 64, k: int = 6, seed: int = 0, n_mc: int = 200_000) -> dict:
    """Numerical float64 checks of every formula above at random points; returns the errors."""
    rng = np.random.default_rng(seed)
    centres = orthogonal_centres(d, k, seed=seed)
    positive = tuple(range(k // 2))
    signs = -torch.ones(k, dtype=torch.float64)
    signs[list(positive)] = 1.0
    out: dict = {"d": d, "k": k}
    # cosine signature
    cos_err = 0.0
    for s in (1.0, -1.0):
        avg = centres[signs == s].sum(0)
        cos = centres[signs == s] @ avg / (avg.norm() * centres[signs == s].norm(dim=1))
        cos_err = max(cos_err, float((cos - 1 / math.sqrt(int((signs == s).sum()))).abs().max()))
    out["cosine_err"] = cos_err
    # boundary distance: autograd |f|/‖∇f‖ at random points equals y⟨u, x⟩/‖u‖ from sympy
    f = averaged_network(centres, signs)
    X, y, _ = multi_cluster(centres, 256, positive, seed=seed + 1)
    x = X.clone().requires_grad_(True)
    val = f(x)
    (grad,) = torch.autograd.grad(val.sum(), x)
    u = (signs[:, None] * centres).sum(0)
    both_on = ((X @ centres[signs > 0].sum(0)) > 0) & ((X @ centres[signs < 0].sum(0)) > 0)
    auto = val.detach().abs() / grad.norm(dim=1)
    formula = (X @ u).abs() / u.norm()
    out["distance_points"] = int(both_on.sum())
    out["distance_rel_err"] = float(((auto - formula).abs() / formula)[both_on].max())
    expr = averaged_radius()
    out["radius_symbolic"] = str(expr["radius"])
    p = len(positive)
    radius_num = at(expr["radius"], d=d, p=p, q=k - p)
    out["radius_err"] = abs(radius_num - fa_radius(d, k))
    # minimal attack δ* = −(y_i/k) u flips exactly at √(d/k)
    eps = 1e-6
    flips = []
    for i in range(k):
        delta = -(signs[i] / k) * u
        out.setdefault("attack_norm_err", 0.0)
        out["attack_norm_err"] = max(out["attack_norm_err"], abs(float(delta.norm()) - fa_radius(d, k)))
        inside = signs[i] * f(centres[i] + (1 - eps) * delta)
        outside = signs[i] * f(centres[i] + (1 + eps) * delta)
        flips.append(bool(inside > 0) and bool(outside < 0))
    out["attack_flips_at_radius"] = all(flips)
    # Φ(√(d/k) − ρ) against Monte Carlo of the linear margin y⟨u, x⟩/‖u‖
    Xm, ym, _ = multi_cluster(centres, n_mc, positive, seed=seed + 2)
    margin = (ym * (Xm @ u) / u.norm()).numpy()
    radii = np.linspace(0, 2 * fa_radius(d, k), 9)
    mc = (margin[None, :] > radii[:, None]).mean(1)
    out["phi_max_abs_err"] = float(np.abs(mc - robust_accuracy_fa(radii, d, k)).max())
    out["phi_tolerance"] = float(4 * math.sqrt(0.25 / n_mc))
    # ρ(β): the Lagrange solution against a constrained optimiser, and no random direction flips earlier
    th = threshold_radius()
    opt_err, search_ok, construct_ok = 0.0, True, True
    L = k - p
    for beta in rng.uniform(0, d / 2, size=3):
        for Lp in range(1, L + 1):
            budget = d + (Lp - 1) * beta
            res = optimize.minimize(
                lambda v: v[0] ** 2 + Lp * v[1] ** 2,
                x0=[1.0, 1.0],
                method="SLSQP",
                constraints=[{"type": "eq", "fun": lambda v: math.sqrt(d) * (v[0] + Lp * v[1]) - budget}],
            )
            symbolic = at(th["radius"], d=d, beta=beta, L=Lp)
            opt_err = max(opt_err, abs(math.sqrt(res.fun) - symbolic) / symbolic)
        F = thresholded_network(centres, signs, float(beta))
        rho = rho_beta(d, L, float(beta))
        # the constructed attack at the best L' flips just beyond ρ
        Ls = np.arange(1, L + 1)
        best = int(Ls[np.argmin((d + (Ls - 1) * beta) / np.sqrt((Ls + 1) * d))])
        unit = centres / math.sqrt(d)
        direction = -unit[0] + unit[p : p + best].sum(0)
        direction = direction / direction.norm()
        construct_ok &= bool(F(centres[0] + rho * (1 + 1e-6) * direction) < 0)
        construct_ok &= bool(F(centres[0] + rho * (1 - 1e-6) * direction) > 0)
        # random directions in the span of the centres (the rest does not change F at μ_0) never
        # reach a strictly negative F before ρ
        g = torch.Generator().manual_seed(seed + 3)
        coef = torch.randn(4000, k, generator=g, dtype=torch.float64)
        dirs = coef / coef.norm(dim=1, keepdim=True) @ unit
        search_ok &= bool((F(centres[0] + rho * (1 - 1e-6) * dirs) > -1e-9).all())
    out["threshold_optimiser_rel_err"] = opt_err
    out["threshold_attack_flips_at_rho"] = construct_ok
    out["threshold_no_earlier_flip"] = search_ok
    # argmax readout and the midpoint bound
    mid = (centres[0] + centres[p]) / 2
    out["midpoint_distance_err"] = abs(float((mid - centres[0]).norm()) - optimal_radius(d))
    out["argmax_distance_err"] = abs(
        float((centres[0] - centres[p]) @ centres[0] / (centres[0] - centres[p]).norm()) - optimal_radius(d)
    )
    return out
