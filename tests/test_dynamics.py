"""Theorems 5.3 and 5.5: symbolic derivations against autograd and finite differences,
the rank-two eigen solver against eigh, and the simulations against plain gradient descent."""
import numpy as np
import pandas as pd
import pytest
import sympy as sp
import torch

from cocorr_core.data import unit_norm_binary
from cocorr_core.ground.errors import ConfigError
from cocorr_core.measures import summarize, two_layer_norms
from cocorr_core.models import TwoLayerEnsemble
from cocorr_core.papers.cocorrelation import dynamics as dy
from cocorr_core.papers.cocorrelation.claims_dynamics import (
    check_fixed_pattern_table,
    check_rate_formula_table,
)

F64 = torch.float64


def _gen(seed):
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------ symbolic identities
@pytest.mark.parametrize("n", [1, 3])
def test_log_derivative_identity(n):
    assert dy.rho_log_derivative(n)["difference"] == 0


def test_hellmann_feynman_closed_form():
    r = dy.hellmann_feynman_2x2()
    assert r["difference"] == 0
    assert r["eigen_residual"] == sp.zeros(2, 1)


def test_decomposition_expands_to_zero():
    r = dy.linear_rate_decomposition(3, 2)
    assert r["residual"] == 0
    aa = (r["a"].T * r["a"])[0]
    # with ‖a‖ = 1 the general ① is the paper's η(1 − (aᵀv)²)Σx̃ᵀx̃
    diff = sp.expand(r["term1"] - r["term1_paper"])
    assert sp.simplify(diff.subs(r["a"][2] ** 2, 1 - r["a"][0] ** 2 - r["a"][1] ** 2)) == 0
    assert sp.expand(aa - 1) != 0  # the identity itself did not assume ‖a‖ = 1


def test_bound_gap_factorisation():
    r = dy.bound_gap_symbolic()
    assert sp.simplify(r["gap"] - r["claimed_gap"]) == 0


def test_frozen_pattern_derivative_symbolic():
    assert dy.frozen_pattern_derivative(3, 2)["difference"] == 0


def test_hellmann_feynman_against_autograd():
    g = _gen(1)
    M0 = torch.randn(6, 6, generator=g, dtype=F64)
    M0 = M0 + M0.T
    M1 = torch.randn(6, 6, generator=g, dtype=F64)
    M1 = M1 + M1.T
    t = torch.zeros((), dtype=F64, requires_grad=True)
    lam = torch.linalg.eigvalsh(M0 + t * M1)[-1]
    (grad,) = torch.autograd.grad(lam, t)
    v = torch.linalg.eigh(M0)[1][:, -1]
    assert torch.allclose(grad, v @ M1 @ v, rtol=1e-10, atol=1e-12)


def test_closed_form_rate_matches_autograd_and_torch():
    r = dy.linear_rate_closed_form(d=3)
    syms = list(r["W"]) + list(r["a"]) + list(r["xt"])
    f_sym = sp.lambdify(syms, r["d_cocorrelation_dh"])
    f_thm = sp.lambdify(syms, r["cocorrelation_C"])
    g = _gen(2)
    for _ in range(3):
        W = torch.randn(2, 3, generator=g, dtype=F64)
        a = torch.randn(2, generator=g, dtype=F64)
        xt = torch.randn(3, generator=g, dtype=F64)
        vals = [float(x) for x in list(W.reshape(-1)) + list(a) + list(xt)]
        h = torch.zeros((), dtype=F64, requires_grad=True)
        Wh = W + h * torch.outer(a, xt)
        rho = (a @ Wh).norm() / (a.norm() * torch.linalg.matrix_norm(Wh, ord=2))
        (auto,) = torch.autograd.grad(rho, h)
        terms = dy.linear_rate_terms(W[None], a[None], xt[None])
        assert f_sym(*vals) == pytest.approx(float(auto), rel=1e-8, abs=1e-12)
        assert f_thm(*vals) == pytest.approx(float(auto), rel=1e-8, abs=1e-12)
        assert float(terms["pred"][0]) == pytest.approx(float(auto), rel=1e-8, abs=1e-12)


# ------------------------------------------------------------------ numeric rates
@pytest.mark.parametrize("m,d", [(7, 5), (4, 9)])
def test_linear_rate_terms_autograd_and_decomposition(m, d):
    g = _gen(3)
    K, eta = 3, 0.3
    W0 = torch.randn(K, m, d, generator=g, dtype=F64) / m**0.5
    a = (torch.randint(0, 2, (K, m), generator=g) * 2 - 1).to(F64) / m**0.5
    s = torch.randn(K, d, generator=g, dtype=F64)
    xt = torch.randn(K, d, generator=g, dtype=F64)
    W = W0 + eta * a[:, :, None] * s[:, None, :]
    terms = dy.linear_rate_terms(W, a, xt, W0=W0, s=s, eta=eta)
    h = torch.zeros((), dtype=F64, requires_grad=True)
    Wh = W + h * eta * a[:, :, None] * xt[:, None, :]
    rho = torch.einsum("km,kmd->kd", a, Wh).norm(dim=-1) / torch.linalg.matrix_norm(Wh, ord=2)
    grads = torch.stack([torch.autograd.grad(rho[k], h, retain_graph=True)[0] for k in range(K)])
    assert torch.allclose(terms["pred"], grads, rtol=1e-8, atol=1e-12)
    # ① + ② = ½(d‖aᵀW‖²/dt − d‖W‖²/dt), the latter two by autograd along Ẇ = a x̃ᵀ
    h2 = torch.zeros((), dtype=F64, requires_grad=True)
    Wh = W + h2 * a[:, :, None] * xt[:, None, :]
    NA = torch.einsum("km,kmd->kd", a, Wh).square().sum(-1)
    NW = torch.linalg.matrix_norm(Wh, ord=2).square()
    half = torch.stack([0.5 * torch.autograd.grad(NA[k] - NW[k], h2, retain_graph=True)[0] for k in range(K)])
    assert torch.allclose(terms["term1"] + terms["term2"], half, rtol=1e-8, atol=1e-12)
    assert terms["decomp_residual"].abs().max() < 1e-12
    # the bound C ≥ (① + ②)/‖W‖² holds exactly where d‖aᵀW‖²/dt ≥ 0
    holds = terms["C"] >= terms["bound"] - 1e-12
    assert bool((holds | (terms["half_dA"] < 0)).all())


@pytest.mark.parametrize("side_m", [True, False])
def test_top_eig_rank2_matches_eigh(side_m):
    g = _gen(4)
    K, r = 4, 12
    A = torch.randn(K, r, r + 3, generator=g, dtype=F64)
    G0 = A @ A.transpose(1, 2)
    lam0, V0 = torch.linalg.eigh(G0)
    B = torch.randn(K, r, 2, generator=g, dtype=F64)
    B[0] = 0.0                               # no update: handled by the dense fallback
    x = torch.rand(K, generator=g, dtype=F64) + 0.1
    one = torch.ones(K, dtype=F64)
    Q = torch.stack([torch.stack([x if side_m else 0 * one, one], -1),
                     torch.stack([one, 0 * one if side_m else x], -1)], -2)
    lam, vec = dy.top_eig_rank2(lam0, V0, B, Q)
    ev, evec = torch.linalg.eigh(G0 + B @ Q @ B.transpose(1, 2))
    assert torch.allclose(lam, ev[:, -1], rtol=1e-11)
    assert torch.allclose((vec * evec[:, :, -1]).sum(-1).abs(), torch.ones(K, dtype=F64), atol=1e-9)


@pytest.mark.parametrize("m,d", [(5, 9), (11, 6)])
def test_linear_spectrum_matches_dense(m, d):
    g = _gen(5)
    K = 3
    W0 = torch.randn(K, m, d, generator=g, dtype=F64)
    a = torch.randn(K, m, generator=g, dtype=F64)
    gv = 2 * torch.randn(K, d, generator=g, dtype=F64)
    lam, v, u = dy.LinearSpectrum(W0, a)(gv)
    W = W0 + a[:, :, None] * gv[:, None, :]
    U, S, Vh = torch.linalg.svd(W)
    assert torch.allclose(lam, S[:, 0] ** 2, rtol=1e-11)
    assert torch.allclose((v * U[:, :, 0]).sum(-1).abs(), torch.ones(K, dtype=F64), atol=1e-9)
    assert torch.allclose((u * Vh[:, 0]).sum(-1).abs(), torch.ones(K, dtype=F64), atol=1e-9)


@pytest.mark.parametrize("dense_max", [64, 0])
def test_relu_rate_matches_finite_differences_of_measures(dense_max, monkeypatch):
    monkeypatch.setattr(dy, "DENSE_MAX", dense_max)   # 0: the Lanczos path
    X, _ = unit_norm_binary(9, 6, seed=1)
    model = TwoLayerEnsemble.init(6, 8, [0.1, 0.25], [0, 1], head="theory", activation="relu", dtype=F64)
    W = model.W.detach().clone()
    a = model.A[:, 0, :].clone()
    Gdir = torch.randn(W.shape, generator=_gen(6), dtype=F64)
    terms = dy.relu_rate_terms(W, a, X, Gdir)

    def rho_of(Wx):
        m = TwoLayerEnsemble(Wx, model.A.clone(), "relu")
        return summarize(two_layer_norms(m, X, tol=1e-12))["cocorrelation"]

    assert torch.allclose(terms["cocorrelation"], rho_of(W), rtol=1e-9)
    h = 1e-6
    fd = (rho_of(W + h * Gdir) - rho_of(W - h * Gdir)) / (2 * h)
    assert torch.allclose(terms["pred"], fd, rtol=1e-5, atol=1e-9)


# ------------------------------------------------------------------ simulations
def test_linear_simulation_matches_plain_gd():
    X, y = unit_norm_binary(24, 10, seed=2)
    df = dy.simulate_linear(X, y, width=16, qs=[0.1, 0.25], seeds=[0, 1], eta=0.5, steps=4, probe_every=0,
                            device="cpu")
    model = TwoLayerEnsemble.init(10, 16, [0.1, 0.25], [0, 1], head="theory", activation="linear", dtype=F64)
    W = model.W.detach().clone()
    a = model.A[:, 0, :]
    for t in range(4):
        rho = torch.einsum("km,kmd->kd", a, W).norm(dim=-1) / torch.linalg.matrix_norm(W, ord=2)
        got = df[df.step == t].sort_values("q")["cocorrelation"].to_numpy()
        np.testing.assert_allclose(got, rho.numpy(), rtol=1e-10)
        Wg = W.clone().requires_grad_(True)
        u = torch.einsum("km,kmd,nd->kn", a, Wg, X)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(u, y.expand_as(u),
                                                                    reduction="none").mean(1).sum()
        (grad,) = torch.autograd.grad(loss, Wg)
        W = W - 0.5 * grad


def test_one_step_error_is_second_order_linear(device):
    X, y = unit_norm_binary(32, 12, seed=3)
    df = dy.simulate_linear(X, y, width=24, qs=[0.0, 0.25], seeds=[0, 0], eta=0.2, steps=6, probe_every=1,
                            device=device)
    ratio4 = (df["err_0.25"] / df["err_1"]).median()
    ratio2 = (df["err_0.5"] / df["err_1"]).median()
    assert ratio4 < 0.1 and ratio2 < 0.35
    assert df["decomp_residual"].abs().max() < 1e-12
    assert (df["term2"].abs() <= df["rem_bound"]).all()


def test_one_step_error_is_second_order_relu(device):
    X, y = unit_norm_binary(32, 12, seed=4)
    df = dy.simulate_relu(X, y, width=16, qs=[0.0, 0.25], seeds=[0, 0], eta=0.2, steps=5, probe_every=1,
                          device=device)
    assert (df["err_0.25"] / df["err_1"]).median() < 0.1
    assert ((df["flip_frac"] >= 0) & (df["flip_frac"] <= 1)).all()
    # with no flips the frozen-pattern step is the actual step
    same = df["flip_frac"] == 0
    np.testing.assert_allclose(df.loc[same, "d_cocorrelation"], df.loc[same, "d_cocorrelation_frozen"],
                               rtol=1e-9, atol=1e-14)


def test_bad_inputs_raise():
    X, y = unit_norm_binary(8, 4, seed=0)
    with pytest.raises(ConfigError, match="eta"):
        dy.simulate_linear(X, y, width=4, qs=[0.1], seeds=[0], eta=-1.0, steps=2)
    with pytest.raises(ConfigError, match="qs and seeds"):
        dy.simulate_relu(X, y, width=4, qs=[0.1, 0.2], seeds=[0], eta=0.1, steps=2)
    with pytest.raises(ConfigError, match="X must be"):
        dy.simulate_linear(X, y[:3], width=4, qs=[0.1], seeds=[0], eta=0.1, steps=2)


# ------------------------------------------------------------------ ledger checks on fakes
def test_rate_check_detects_first_order_error():
    base = pd.DataFrame({"step": range(4), "d_cocorrelation": [1.0] * 4, "pred": [1.0] * 4,
                         "err_1": [1.0] * 4, "err_0.5": [0.5] * 4, "err_0.25": [0.25] * 4})
    assert check_rate_formula_table(base).verdict == "partly"      # error only first order
    good = base.assign(**{"err_0.5": 0.25, "err_0.25": 1 / 16})
    assert check_rate_formula_table(good).verdict == "reproduced"


def test_pattern_check_on_fakes():
    relu = pd.DataFrame({"d_cocorrelation": [1.0, 1.0], "pred": [0.5, 0.5],
                         "d_cocorrelation_frozen": [0.5, 0.5],
                         "flip_frac": [0.001, 0.002], "err_1": [1.0, 1.0], "err_0.25": [0.06, 0.06]})
    out = check_fixed_pattern_table(relu)
    assert out.verdict == "partly" and out.numbers["median_error_share_from_flips"] == pytest.approx(1.0)


# ------------------------------------------------------------------ Theorem 5.5's main term
def test_relu_main_term_matches_brute_force():
    """x̃_*, aᵀv, E_x‖D_xW‖₂² and the main-term numerator of `simulate_relu` against plain loops
    (autograd GD, per-pair α, per-input matrix norms, and the double sum over τ), in float64."""
    X, y = unit_norm_binary(10, 5, seed=7)
    qs, seeds, eta, steps, n_eval, m = [0.1, 0.25], [0, 1], 0.5, 4, 4, 6
    df = dy.simulate_relu(X, y, width=m, qs=qs, seeds=seeds, eta=eta, steps=steps, probe_every=0,
                          n_eval=n_eval, device="cpu")
    model = TwoLayerEnsemble.init(5, m, qs, seeds, head="theory", activation="relu", dtype=F64)
    for k in range(len(qs)):
        W = model.W.detach()[k].clone()
        a = model.A[k, 0, :].clone()
        xs, avs = [], []
        for t in range(steps):
            pre = X @ W.T                                              # (n, m)
            D = (pre > 0).to(F64)
            u = torch.relu(pre) @ a
            res = y - torch.sigmoid(u)
            xstar = torch.zeros(n_eval, 5, dtype=F64)
            for e in range(n_eval):
                for i in range(X.shape[0]):
                    alpha = float((D[e] * D[i]).sum()) / m
                    xstar[e] += alpha * float(res[i]) * X[i] / X.shape[0]
            U, S, Vh = torch.linalg.svd(W)
            av = abs(float(a @ U[:, 0]))
            xs.append(xstar)
            avs.append(av)
            num = sum((1 - avs[tau] * av) * float((xs[tau] * xstar).sum(-1).mean()) for tau in range(t + 1))
            energy = float(torch.stack([torch.linalg.matrix_norm(torch.diag(D[e]) @ W, ord=2) ** 2
                                        for e in range(n_eval)]).mean())
            row = df[(df.q == qs[k]) & (df.seed == seeds[k]) & (df.step == t)].iloc[0]
            assert row["aTv"] == pytest.approx(av, rel=1e-9)
            assert row["energy_sq"] == pytest.approx(energy, rel=1e-9)
            assert row["main_num"] == pytest.approx(num, rel=1e-9, abs=1e-15)
            assert row["main_term"] == pytest.approx(eta * num / energy, rel=1e-9, abs=1e-15)
            Wg = W.clone().requires_grad_(True)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(torch.relu(X @ Wg.T) @ a, y)
            (grad,) = torch.autograd.grad(loss, Wg)
            W = W - eta * grad


def test_relu_main_term_running_sums_symbolic():
    """The two running sums give Σ_{τ≤t}(1 − c_τc_t) s_τ·s_t exactly (sympy, three steps)."""
    c = sp.symbols("c0:3", real=True)
    s = sp.symbols("s0:3", real=True)        # scalar stand-ins for E_x[x̃_*(τ)ᵀx̃_*(t)] per pair
    t = 2
    direct = sum((1 - c[tau] * c[t]) * s[tau] * s[t] for tau in range(t + 1))
    s1 = sum(s[tau] for tau in range(t + 1))
    s2 = sum(c[tau] * s[tau] for tau in range(t + 1))
    sums = s1 * s[t] - c[t] * s2 * s[t]
    assert sp.expand(direct - sums) == 0
