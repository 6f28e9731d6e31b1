"""Symbolic results of the theory chapter, checked against torch (autograd, Monte Carlo, exact
linear algebra) in float64 at random points."""
from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
import torch

from cocorr_core.ground.errors import ConfigError
from cocorr_core.linalg.stats import loglog_fit
from cocorr_core.models import TwoLayerEnsemble
from cocorr_core.papers.cocorrelation import theory as T
from cocorr_core.papers.cocorrelation.settings import log_checkpoints

DEVICES = ["cpu", "cuda"]


def _device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    return torch.device(name)


# ----------------------------------------------------------------- Theorem 4.5
@pytest.mark.parametrize("n_atoms", [2, 3, 4])
def test_theorem45_identity_is_symbolic_zero(n_atoms):
    assert T.theorem45_identity(n_atoms)["difference"] == 0


def test_theorem45_identity_at_random_numeric_atoms():
    res = T.theorem45_identity(3)
    model = T.discrete_norm_model(3)
    rng = np.random.default_rng(0)
    for _ in range(5):
        w = rng.dirichlet(np.ones(3))
        vals = {model["p"][0]: w[0], model["p"][1]: w[1]}
        for key in ("A", "B"):
            vals.update(dict(zip(model[key], rng.uniform(0.1, 3, 3))))
        vals.update({c: float(rng.uniform(0, 1)) * float(vals[a] * vals[b])
                     for c, a, b in zip(model["C"], model["A"], model["B"])})
        lhs, rhs = float(res["lhs_sq"].subs(vals)), float(res["rhs_sq"].subs(vals))
        assert math.isclose(lhs, rhs, rel_tol=1e-12)


def test_bounds_lagrange_and_submultiplicativity():
    assert T.cauchy_schwarz_lagrange(3)["difference"] == 0
    assert T.cocorrelation_gap(3)["difference"] == 0
    lin = T.linear_alignment_gap(3)
    assert lin["difference"] == 0
    # ϱ^2 - (a^T v)^2 is a sum of non-negative terms
    assert all(term.is_nonnegative for term in sp.Add.make_args(lin["cocorrelation_sq_minus_alignment"]))


def test_theorem45_factors_from_torch_norms():
    g = torch.Generator().manual_seed(1)
    outer = torch.rand(4, 50, generator=g, dtype=torch.float64) + 0.1
    inner = torch.rand(4, 50, generator=g, dtype=torch.float64) + 0.1
    full = outer * inner * torch.rand(4, 50, generator=g, dtype=torch.float64)
    f = T.theorem45_factors(full, outer, inner)
    torch.testing.assert_close(f["rhs"], f["S_full"], rtol=1e-12, atol=0)
    assert bool(((f["cocorrelation"] >= 0) & (f["cocorrelation"] <= 1)).all())
    assert bool(((f["norm_correlation"] >= 0) & (f["norm_correlation"] <= 1 + 1e-15)).all())


@pytest.mark.parametrize("m", [8, 40])   # both Gram branches (m <= d and m > d)
def test_linear_cocorrelation_matches_svd(m):
    g = torch.Generator().manual_seed(2)
    W = torch.randn(3, m, 20, generator=g, dtype=torch.float64)
    a = torch.randn(3, m, generator=g, dtype=torch.float64)
    a = a / a.norm(dim=1, keepdim=True)
    out = T.linear_cocorrelation(W, a)
    U, S, Vh = torch.linalg.svd(W, full_matrices=False)
    torch.testing.assert_close(out["spectral_norm"], S[:, 0], rtol=1e-10, atol=0)
    torch.testing.assert_close(out["cocorrelation"],
                               (W.transpose(1, 2) @ a[..., None]).norm(dim=(1, 2)) / S[:, 0],
                               rtol=1e-10, atol=0)
    torch.testing.assert_close(out["alignment"], torch.einsum("km,km->k", a, U[:, :, 0]) ** 2,
                               rtol=1e-8, atol=1e-12)
    assert bool((out["cocorrelation"] ** 2 >= out["alignment"] - 1e-12).all())


# ----------------------------------------------------------------- Theorem 4.1
def test_first_order_step_symbolic():
    res = T.first_order_step_symbolic(3)
    for key in ("taylor_difference", "lagrange_difference", "maximiser_difference", "jensen_difference"):
        assert res[key] == 0, key


def test_bce_gradient_symbolic_matches_sympy_diff():
    assert T.bce_input_gradient_symbolic(2, 2)["difference"] == sp.zeros(2, 1)


def test_bce_gradient_symbolic_lambdified_matches_autograd():
    """The closed form with sigma = tanh, evaluated by sympy, against torch autograd."""
    res = T.bce_input_gradient_symbolic(2, 3)
    closed = res["closed_form"].replace(sp.Function("sigma"), sp.tanh).doit()
    syms = list(res["W"]) + list(res["a"]) + list(res["x"]) + [res["y"]]
    f = sp.lambdify(syms, closed, "numpy")
    g = torch.Generator().manual_seed(3)
    W = torch.randn(2, 3, generator=g, dtype=torch.float64)
    a = torch.randn(2, generator=g, dtype=torch.float64)
    x = torch.randn(3, generator=g, dtype=torch.float64, requires_grad=True)
    y = 1.0
    u = a @ torch.tanh(W @ x)
    loss = T.bce_loss(u, torch.tensor(y, dtype=torch.float64))
    (grad,) = torch.autograd.grad(loss, x)
    ours = np.asarray(f(*W.flatten().tolist(), *a.tolist(), *x.detach().tolist(), y), float).ravel()
    np.testing.assert_allclose(ours, grad.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("activation", ["relu", "linear"])
def test_bce_input_gradient_matches_autograd(device, activation):
    dev = _device(device)
    model = TwoLayerEnsemble.init(6, 9, [0.0, 0.25], [0, 1], head="theory", activation=activation,
                                  dtype=torch.float64, device=dev)
    g = torch.Generator().manual_seed(4)
    X = torch.randn(7, 6, generator=g, dtype=torch.float64).to(dev).requires_grad_(True)
    y = (torch.rand(7, generator=g) > 0.5).to(torch.float64).to(dev)
    loss = T.bce_loss(model(X)[..., 0], y)                     # (K, n)
    (grad,) = torch.autograd.grad(loss.sum(), X)                # sums the members' gradients
    ours = T.bce_input_gradient(model.W.detach(), model.A[:, 0, :], X.detach(), y, activation)
    torch.testing.assert_close(ours.sum(0), grad, rtol=1e-12, atol=1e-14)
    # per member, through a single-member view
    for k in range(2):
        Xk = X.detach().clone().requires_grad_(True)
        (gk,) = torch.autograd.grad(T.bce_loss(model.as_classifier(k)(Xk)[:, 0], y).sum(), Xk)
        torch.testing.assert_close(ours[k], gk, rtol=1e-12, atol=1e-14)


def test_worst_case_loss_linear_model_is_exact():
    """For a linear logit the worst loss on the ball is the loss at x + r g/||g|| (convex,
    monotone in the logit): the ascent must find it and never exceed it."""
    g = torch.Generator().manual_seed(5)
    w = torch.randn(5, generator=g, dtype=torch.float64)
    X = torch.randn(6, 5, generator=g, dtype=torch.float64)
    y = (torch.rand(6, generator=g) > 0.5).to(torch.float64)
    radii = [0.0, 0.1, 1.0]

    def loss_fn(Z):
        return T.bce_loss(Z @ w, y)

    worst = T.worst_case_loss(loss_fn, X, radii, steps=40,
                              init=torch.randn(6, 5, generator=g, dtype=torch.float64))
    sign = torch.where(y > 0, -1.0, 1.0).to(torch.float64)     # the loss grows with -y' u
    exact = torch.stack([T.bce_loss(X @ w + sign * r * w.norm(), y) for r in radii])
    torch.testing.assert_close(worst, exact, rtol=1e-5, atol=1e-12)
    assert bool((worst <= exact * (1 + 1e-12)).all())
    with pytest.raises(ConfigError):
        T.worst_case_loss(loss_fn, X, [-1.0])


def test_bound_crossover_interpolates():
    assert T.bound_crossover([1, 2, 3], [0, 1, 3], [1, 2, 2]) == pytest.approx(2.5)
    assert math.isnan(T.bound_crossover([1, 2], [0, 0], [1, 1]))
    assert T.bound_crossover([1, 2], [2, 3], [1, 1]) == 1.0


def test_first_order_curve():
    nat = torch.tensor([1.0, 3.0], dtype=torch.float64)
    gn = torch.tensor([3.0, 4.0], dtype=torch.float64)
    c = T.first_order_bound_curve(nat, gn, [0.0, 2.0])
    torch.testing.assert_close(c["bound"],
                               torch.tensor([2.0, 2.0 + 2 * math.sqrt(12.5)], dtype=torch.float64))
    torch.testing.assert_close(c["first_order"], torch.tensor([2.0, 9.0], dtype=torch.float64))


# ----------------------------------------------------------------- Lemma B.2
def test_chi_mean_symbolic_and_expansion():
    res = T.chi_mean_symbolic()
    assert res["mean_difference"] == 0
    assert sp.simplify(res["second_moment"] - res["m"] * res["sigma"] ** 2) == 0
    m = res["m"]
    assert sp.expand(res["expansion"] - (1 - 1 / (4 * m) + 1 / (32 * m**2) + sp.Rational(5, 128) / m**3)) == 0
    # numeric: closed form vs the scipy-free log-gamma helper and vs the expansion at m = 50
    f = sp.lambdify([m, res["sigma"]], res["closed_form"], "math")
    assert f(50, 0.3) == pytest.approx(float(T.chi_mean(50, 0.3)), rel=1e-12)
    assert f(50, 1.0) / math.sqrt(50) == pytest.approx(float(res["expansion"].subs(m, 50)), rel=1e-6)


@pytest.mark.parametrize("device", DEVICES)
def test_chi_mean_vs_monte_carlo(device):
    dev = _device(device)
    g = torch.Generator(device=dev).manual_seed(6)
    for m, q in [(4, 0.25), (64, -0.15)]:
        sigma = m ** (-(1 + 2 * q) / 2)
        z = sigma * torch.randn(200_000, m, generator=g, dtype=torch.float64, device=dev)
        norms = z.norm(dim=1)
        se = float(norms.std()) / math.sqrt(norms.numel())
        assert abs(float(norms.mean()) - float(T.chi_mean(m, sigma))) < 5 * se
        assert float((norms**2).mean()) == pytest.approx(m ** (-2 * q), rel=0.01)


def test_lemmaB2_simulation_shapes_and_inputs():
    g = torch.Generator().manual_seed(7)
    X = torch.randn(8, 5, generator=g, dtype=torch.float64)
    X = X / X.norm(dim=1, keepdim=True)
    df = T.lemmaB2_simulation(X, [4, 16], [2, 8], [0.25], trials=5, device="cpu")
    assert len(df) == 2 * 2 * 2 * 5
    assert (df["target"] == df["width"] ** (-df["q"])).all()
    with pytest.raises(ConfigError):
        T.lemmaB2_simulation(2 * X, [4], [2], [0.25], trials=2, device="cpu")


def test_lemmaB2_correlated_sampling_matches_direct_product():
    """sigma G L^T has the law of W X^T: compare second moments with the exact sigma^2 X X^T."""
    g = torch.Generator().manual_seed(8)
    X = torch.randn(3, 4, generator=g, dtype=torch.float64)
    X = X / X.norm(dim=1, keepdim=True)
    df = T.lemmaB2_simulation(X, [2000], [3], [0.0], trials=1, device="cpu")
    # mean norm of W x_i over 2000 rows scaled by 1/sqrt(m): each ||W x_i||^2 ~ chi^2_m / m
    assert df.loc[df.setting == "inputs", "mean_norm"].iloc[0] == pytest.approx(1.0, abs=0.05)


# ----------------------------------------------------------------- Properties
def test_gordon_bound_formula():
    assert T.gordon_bound(16, 784, 0.0) == pytest.approx((4 + 28) / 4)
    assert T.gordon_bound(100, 100, 0.5) == pytest.approx(20 * 100 ** -1.0)


def test_rise_rates_and_loglog_fit():
    import pandas as pd

    dyn = pd.DataFrame({"width": [8, 8, 16, 16], "q": [0.0] * 4, "step": [0, 2, 0, 2],
                        "cocorrelation": [0.5, 0.6, 0.4, 0.8], "spectral_norm": [2.0, 2.0, 1.0, 1.0]})
    rr = T.rise_rates(dyn, 2, 0.5)
    assert rr.set_index("width")["rise"].to_dict() == pytest.approx({8: 0.1, 16: 0.4})
    fit = loglog_fit([1, 10, 100], [2, 20, 200])
    assert fit["slope"] == pytest.approx(1.0) and fit["spearman"] == pytest.approx(1.0)
    with pytest.raises(ConfigError):
        T.rise_rates(dyn, 5, 0.5)


def test_log_checkpoints():
    pts = log_checkpoints(200, 10, early=3)
    assert pts[:4] == [0, 1, 2, 3] and pts[-1] == 200 and pts == sorted(set(pts))


# ----------------------------------------------------------------- Theorem 4.1 with random starts
def test_worst_case_loss_random_restarts_batched_members():
    """From random starts (no gradient hint) the ascent still finds the exact worst loss of a
    linear logit, for a batch of K = 2 models with inputs (K, n, d)."""
    g = torch.Generator().manual_seed(9)
    w = torch.randn(2, 5, generator=g, dtype=torch.float64)
    X = torch.randn(6, 5, generator=g, dtype=torch.float64).expand(2, 6, 5)
    y = (torch.rand(6, generator=g) > 0.5).to(torch.float64)
    radii = [0.05, 0.5]

    def loss_fn(Z):
        return T.bce_loss((Z * w[:, None, :]).sum(-1), y)

    worst = T.worst_case_loss(loss_fn, X, radii, steps=40, restarts=3, seed=4)
    assert worst.shape == (2, 2, 6)
    sign = torch.where(y > 0, -1.0, 1.0).to(torch.float64)
    exact = torch.stack([T.bce_loss((X * w[:, None, :]).sum(-1) + sign * r * w.norm(dim=-1, keepdim=True), y)
                         for r in radii])
    torch.testing.assert_close(worst, exact, rtol=1e-5, atol=1e-12)
    with pytest.raises(ConfigError):
        T.worst_case_loss(loss_fn, X, radii, restarts=0)


def test_thm41_experiment_seeds_and_proof_steps():
    g = torch.Generator().manual_seed(10)
    X = torch.randn(24, 6, generator=g, dtype=torch.float64)
    X = X / X.norm(dim=1, keepdim=True)
    y = (X[:, 0] > 0).to(torch.float64)
    df = T.thm41_experiment(X, y, X[:8], y[:8], width=8, q=0.25, steps=5, lr=1.0, radii=[1e-3, 0.5],
                            attack_steps=20, seeds=[0, 1, 2], restarts=2, device="cpu")
    assert sorted(df["seed"].unique()) == [0, 1, 2] and len(df) == 6
    assert (df["jensen_gap"] >= 0).all() and df["sup_gap"].abs().max() < 1e-3
    small = df[df["radius"] == 1e-3]
    ratio = (small["robust_risk"] - small["natural_risk"]) / (small["first_order"] - small["natural_risk"])
    assert ((ratio - 1).abs() < 0.05).all()
    assert len(T.crossover_radii(df)) == 3


# ----------------------------------------------------------------- Lemma B.2, parts 2 and 3
def test_lemmaB2_part_rates_and_columns():
    c = 8 * math.log(2 / 0.05)
    expected_sq = max(c / (16**1.5 * 4), math.sqrt(c / (16**2 * 4)))
    assert T.lemmaB2_rate_sq(16, 4, 0.25, 0.05) == pytest.approx(expected_sq)
    assert T.lemmaB2_rate_rms(16, 4, 0.25, 0.05) == pytest.approx(math.sqrt(c / (16**1.5 * 4)))
    g = torch.Generator().manual_seed(11)
    X = torch.randn(8, 5, generator=g, dtype=torch.float64)
    X = X / X.norm(dim=1, keepdim=True)
    df = T.lemmaB2_simulation(X, [64], [8], [0.25], trials=200, device="cpu")
    iid = df[df.setting == "iid"]
    # E (1/n)Σ‖z‖² = m^-2q exactly: the Monte Carlo mean agrees within 4 standard errors
    se = iid["mean_sq_norm"].std() / math.sqrt(len(iid))
    assert abs(iid["mean_sq_norm"].mean() - 64**-0.5) < 4 * se
    np.testing.assert_allclose(df["rms_norm"], np.sqrt(df["mean_sq_norm"]))
    assert iid[["within", "within_sq", "within_rms"]].to_numpy().mean() > 0.95


def test_linear_trajectories_one_row_per_seed():
    g = torch.Generator().manual_seed(12)
    X = torch.randn(12, 6, generator=g, dtype=torch.float64)
    X = X / X.norm(dim=1, keepdim=True)
    y = (X[:, 1] > 0).to(torch.float64)
    dyn = T.linear_trajectories(X, y, [4, 8], [0.0, 0.25], steps=3, lr=0.5, checkpoints=[0, 2, 3],
                                seeds=[0, 1], device="cpu")
    assert len(dyn) == 2 * 2 * 2 * 3
    rr = T.rise_rates(dyn, 2, 0.5)
    assert len(rr) == 8 and set(rr.columns) >= {"seed", "rise", "inv_norm_sq"}
