"""The arc-cosine recursions of the ReLU NTK derived with sympy, and the numerical checks of the
analytic kernel (`kernels.relu_ntk`) against Monte Carlo, autograd and wide finite networks.

For a centred Gaussian pair (u, v) with variances q₁, q₂ and correlation cos ϑ, write
u = √q₁ r cos φ, v = √q₂ r cos(φ − ϑ) with (r, φ) the polar coordinates of a standard Gaussian
vector. Then E[relu(u)relu(v)] and E[relu′(u)relu′(v)] split into a radial and an angular
integral, both of which sympy evaluates in closed form.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import sympy as sp
import torch

from ...kernels import NTKMLP, empirical_ntk, relu_ntk
from .settings import get_profile, store_table


def arc_cosine_derivation() -> dict[str, sp.Expr]:
    """κ₁ = E[relu(u)relu(v)], κ₀ = E[relu′(u)relu′(v)] by symbolic integration (unit variances):
    returns the integrals, the closed forms, their differences (0), dκ₁/dcos ϑ − κ₀ (0) and the
    values at ϑ = 0 (1/2, 1/2)."""
    r, phi = sp.symbols("r phi", nonnegative=True)
    theta = sp.symbols("theta", positive=True)
    density = r * sp.exp(-(r**2) / 2) / (2 * sp.pi)  # polar density of N(0, I₂)
    radial1 = sp.integrate(r**2 * density, (r, 0, sp.oo))  # the factor r² of relu(u)relu(v)
    radial0 = sp.integrate(density, (r, 0, sp.oo))
    # both u > 0 and v > 0 ⇔ φ ∈ (ϑ − π/2, π/2) for ϑ ∈ (0, π)
    angular1 = sp.integrate(sp.cos(phi) * sp.cos(phi - theta), (phi, theta - sp.pi / 2, sp.pi / 2))
    angular0 = (sp.pi / 2) - (theta - sp.pi / 2)
    k1 = sp.simplify(radial1 * angular1)
    k0 = sp.simplify(radial0 * angular0)
    k1_closed = (sp.sin(theta) + (sp.pi - theta) * sp.cos(theta)) / (2 * sp.pi)
    k0_closed = (sp.pi - theta) / (2 * sp.pi)
    c = sp.symbols("c")
    k1_c = k1_closed.subs(theta, sp.acos(c))
    k0_c = k0_closed.subs(theta, sp.acos(c))
    return {
        "kappa1": k1,
        "kappa0": k0,
        "kappa1_closed": k1_closed,
        "kappa0_closed": k0_closed,
        "kappa1_difference": sp.simplify(sp.expand_trig(k1 - k1_closed)),
        "kappa0_difference": sp.simplify(k0 - k0_closed),
        "derivative_identity": sp.simplify(sp.diff(k1_c, c) - k0_c),
        "kappa1_at_0": sp.limit(k1_closed, theta, 0),
        "kappa0_at_0": sp.limit(k0_closed, theta, 0),
        "theta": theta,
        "c": c,
        "kappa1_of_c": k1_c,
        "kappa0_of_c": k0_c,
    }


def one_layer_ntk_symbolic() -> dict[str, sp.Expr]:
    """Θ(x, x') of one hidden layer as a sympy expression in s = x·x'/d₀, p = ‖x‖²/d₀, p' = ‖x'‖²/d₀
    (σ_w², σ_b² symbolic): Θ = σ_w² κ₁ + σ_b² + σ_w² κ₀ Σ¹."""
    s, p, pp = sp.symbols("s p p'", real=True)
    sw2, sb2 = sp.symbols("sigma_w2 sigma_b2", positive=True)
    q1, q2, s12 = sw2 * p + sb2, sw2 * pp + sb2, sw2 * s + sb2
    norm = sp.sqrt(q1 * q2)
    c = s12 / norm
    theta = sp.acos(c)
    k1 = norm * (sp.sqrt(1 - c**2) + (sp.pi - theta) * c) / (2 * sp.pi)
    k0 = (sp.pi - theta) / (2 * sp.pi)
    return {"ntk": sw2 * k1 + sb2 + sw2 * k0 * s12, "nngp": sw2 * k1 + sb2, "symbols": (s, p, pp, sw2, sb2)}


def symbolic_vs_torch(points: int = 5, seed: int = 0) -> pd.DataFrame:
    """At random input pairs (float64): the sympy Θ and its gradient in x (by the chain rule through
    s, p) against `relu_ntk` and its autograd gradient, and against central finite differences.
    Columns: point, value_err, grad_err_autograd, grad_err_fd (relative errors)."""
    sym = one_layer_ntk_symbolic()
    s, p, pp, sw2, sb2 = sym["symbols"]
    expr = sym["ntk"].subs({sw2: 2, sb2: sp.Rational(1, 100)})
    f = sp.lambdify((s, p, pp), expr, "math")
    ds = sp.lambdify((s, p, pp), sp.diff(expr, s), "math")
    dp = sp.lambdify((s, p, pp), sp.diff(expr, p), "math")
    g = torch.Generator().manual_seed(seed)
    rows = []
    d = 7
    for i in range(points):
        x = torch.rand(d, generator=g, dtype=torch.float64)
        x2 = torch.rand(d, generator=g, dtype=torch.float64)
        args = (float(x @ x2) / d, float(x @ x) / d, float(x2 @ x2) / d)
        exact_grad = torch.tensor(
            [ds(*args) * x2[j].item() / d + dp(*args) * 2 * x[j].item() / d for j in range(d)],
            dtype=torch.float64,
        )
        xg = x.clone().requires_grad_(True)
        val = relu_ntk(xg[None], x2[None])[0, 0]
        (auto,) = torch.autograd.grad(val, xg)
        h = 1e-6
        fd = torch.stack(
            [
                (relu_ntk((x + h * e)[None], x2[None]) - relu_ntk((x - h * e)[None], x2[None]))[0, 0]
                / (2 * h)
                for e in torch.eye(d, dtype=torch.float64)
            ]
        )
        scale = exact_grad.norm().item()
        rows.append(
            {
                "point": i,
                "value_err": abs(val.item() - f(*args)) / abs(f(*args)),
                "grad_err_autograd": (auto - exact_grad).norm().item() / scale,
                "grad_err_fd": (fd - exact_grad).norm().item() / scale,
            }
        )
    return pd.DataFrame(rows)


def monte_carlo_kappas(samples: int = 400_000, seed: int = 0) -> pd.DataFrame:
    """κ₁, κ₀ by Monte Carlo over Gaussian pairs at a few correlations, with the closed forms and
    standard errors. Columns: cos, kappa1_mc, kappa1, kappa1_se, kappa0_mc, kappa0, kappa0_se."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(2, samples, generator=g, dtype=torch.float64)
    rows = []
    for cos in (-0.9, -0.3, 0.0, 0.5, 0.95):
        u = z[0]
        v = cos * z[0] + math.sqrt(1 - cos**2) * z[1]
        a, b = torch.relu(u) * torch.relu(v), ((u > 0) & (v > 0)).double()
        theta = math.acos(cos)
        rows.append(
            {
                "cos": cos,
                "kappa1_mc": a.mean().item(),
                "kappa1": (math.sin(theta) + (math.pi - theta) * cos) / (2 * math.pi),
                "kappa1_se": a.std().item() / math.sqrt(samples),
                "kappa0_mc": b.mean().item(),
                "kappa0": (math.pi - theta) / (2 * math.pi),
                "kappa0_se": b.std().item() / math.sqrt(samples),
            }
        )
    return pd.DataFrame(rows)


def _width_table(widths: tuple[int, ...], seeds: int, depths: tuple[int, ...], deep_max: int) -> pd.DataFrame:
    g = torch.Generator().manual_seed(7)
    X = torch.rand(5, 10, generator=g, dtype=torch.float64)
    rows = []
    for depth in depths:
        exact = relu_ntk(X, X, depth=depth)
        for width in widths:
            if depth > 1 and width > deep_max:  # the hidden-to-hidden matrix grows like width²
                continue
            for seed in range(seeds):
                net = NTKMLP(10, width, depth=depth, seed=seed, dtype=torch.float64, device="cpu")
                emp = empirical_ntk(net, X, chunk_size=5, method="vmap")  # outputs are (E, n, c)
                rows.append(
                    {
                        "depth": depth,
                        "width": width,
                        "seed": seed,
                        "rel_err": ((emp - exact).norm() / exact.norm()).item(),
                    }
                )
    return pd.DataFrame(rows)


def width_table(profile: str | None = None) -> pd.DataFrame:
    """Relative Frobenius error ‖Θ_emp − Θ‖/‖Θ‖ of the empirical NTK of NTK-parameterised ReLU nets
    (one and two hidden layers, float64) against the analytic kernel, on 5 random inputs in [0, 1]¹⁰.
    Columns: depth, width, seed, rel_err."""
    prof = get_profile(profile)
    params = {
        "widths": list(prof.check_widths),
        "seeds": prof.check_seeds,
        "depths": [1, 2],
        "deep_max": prof.check_deep_max,
    }
    return store_table(
        "ntk_width_check",
        params,
        lambda: _width_table(prof.check_widths, prof.check_seeds, (1, 2), prof.check_deep_max),
        prof.name,
    )


def width_scaling(df: pd.DataFrame) -> dict[str, float]:
    """Per depth: log–log slope of the mean relative error against width, and the largest
    error·√width (the fluctuations of the empirical NTK are O(1/√width))."""
    out = {}
    for depth, g in df.groupby("depth"):
        mean = g.groupby("width")["rel_err"].mean()
        w = mean.index.to_numpy(float)
        out[f"depth{depth}_slope"] = float(np.polyfit(np.log(w), np.log(mean.to_numpy()), 1)[0])
        out[f"depth{depth}_max_err_sqrt_width"] = float((mean * np.sqrt(w)).max())
    return out
