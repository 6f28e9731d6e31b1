"""Jacobian norms: closed forms and Lanczos against materialised autograd Jacobians (float64)."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.func import jacrev, vmap

from cocorr_core.ground.errors import ConfigError
from cocorr_core.measures import (
    NormSample,
    authors_power_iteration,
    spectral_norms,
    split_norms,
    summarize,
    top_eigenvalues,
    two_layer_norms,
)
from cocorr_core.models import MLP, TwoLayerEnsemble

DEVICES = ["cpu",
           pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU"))]


def jac_norms(fn, X):
    """Exact per-sample operator norms from materialised Jacobians."""
    J = vmap(jacrev(lambda x: fn(x[None])[0]))(X)
    return torch.linalg.matrix_norm(J.reshape(X.shape[0], -1, X[0].numel()), ord=2)


def rel_err(a, b):
    return float(((a - b) / b).detach().abs().max())


def reference(model: TwoLayerEnsemble, X):
    full, inner, outer = [], [], []
    for k in range(model.n_models):
        W, A = model.W.detach()[k], model.A[k]
        act = torch.relu if model.activation == "relu" else (lambda z: z)
        full.append(jac_norms(lambda x: act(x @ W.T) @ A.T, X))
        inner.append(jac_norms(lambda x: act(x @ W.T), X))
        outer.append(jac_norms(lambda h: h @ A.T, act(X @ W.T)))
    return torch.stack(full), torch.stack(outer), torch.stack(inner)


# d, m, exact_dim: the first two take the exact eigvalsh path, the last the Lanczos path
SIZES = [(12, 40, 128), (60, 9, 128), (70, 150, 8)]


@pytest.mark.parametrize("activation", ["relu", "linear"])
@pytest.mark.parametrize("head", ["code", "theory"])
@pytest.mark.parametrize("d,m,exact_dim", SIZES)
def test_two_layer_closed_forms_match_autograd(activation, head, d, m, exact_dim):
    model = TwoLayerEnsemble.init(d, m, [0.0, 0.25, -0.15], [3, 4, 5], n_classes=4, head=head,
                                  activation=activation, dtype=torch.float64, device="cpu")
    X = torch.randn(9, d, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    ns = two_layer_norms(model, X, exact_dim=exact_dim)
    full, outer, inner = reference(model, X)
    assert ns.full.shape == (3, 9)
    assert rel_err(ns.full, full) <= 1e-6
    assert rel_err(ns.outer, outer) <= 1e-6
    assert rel_err(ns.inner, inner) <= 1e-6
    assert ns.max_rel_bound <= 1e-6


def test_two_layer_per_member_inputs_and_warm_start():
    model = TwoLayerEnsemble.init(80, 120, [0.0, 0.1], [0, 1], dtype=torch.float64, device="cpu")
    X = torch.randn(2, 6, 80, dtype=torch.float64)
    ns = two_layer_norms(model, X, exact_dim=8)
    for k in range(2):
        one = two_layer_norms(model.member(k), X[k], exact_dim=8)
        assert rel_err(ns.inner[k], one.inner[0]) <= 2e-6
    # a warm start from the solution converges at least as fast and agrees
    again = two_layer_norms(model, X, exact_dim=8, warm=ns.state)
    assert again.iterations <= ns.iterations
    assert rel_err(again.inner, ns.inner) <= 2e-6


@pytest.mark.parametrize("device", DEVICES)
def test_two_layer_norms_on_device(device):
    model = TwoLayerEnsemble.init(30, 50, [0.0], [0], dtype=torch.float32, device=device)
    X = torch.randn(5, 30, device=device)
    ns = two_layer_norms(model, X)
    ref = two_layer_norms(TwoLayerEnsemble(model.W.detach().cpu().double(), model.A.cpu().double()),
                          X.cpu().double())
    assert ns.full.device.type == device
    assert rel_err(ns.inner.cpu().double(), ref.inner) <= 1e-4


def test_lanczos_certificate_on_known_spectrum():
    g = torch.Generator().manual_seed(0)
    dim, n = 60, 8
    Qm, _ = torch.linalg.qr(torch.randn(n, dim, dim, generator=g, dtype=torch.float64))
    evals = torch.rand(n, dim, generator=g, dtype=torch.float64)
    evals[:, 0] = 1.5
    M = (Qm * evals[:, None, :]) @ Qm.transpose(-1, -2)

    def matvec(V, idx):
        Mi = M if idx is None else M[idx]
        return V @ Mi[None]

    lam, bound, vecs, _ = top_eigenvalues(matvec, (1, n), dim, dtype=torch.float64,
                                          device=torch.device("cpu"), tol=1e-8, block=2)
    assert rel_err(lam[0], torch.full((n,), 1.5, dtype=torch.float64)) <= 2e-8
    assert bool((bound <= 2.01e-8).all())
    # the returned vector is the top eigenvector
    v = vecs[0, :, 0]
    Mv = (M @ v[..., None])[..., 0]
    assert float((Mv - 1.5 * v).norm(dim=-1).max()) <= 1e-3


def test_generic_estimator_on_mlp_split():
    model = MLP(40, [50, 45], 6, "relu", 0.0, 2, dtype=torch.float64, device="cpu")
    inner, outer = model.split(1)
    X = torch.randn(7, 40, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    tol = 1e-7
    ns = split_norms(inner, outer, X, tol=tol, exact_dim=4)   # force the Lanczos path everywhere
    Z = inner(X).detach()
    assert rel_err(ns.full[0], jac_norms(lambda x: outer(inner(x)), X)) <= tol
    assert rel_err(ns.inner[0], jac_norms(inner, X)) <= tol
    assert rel_err(ns.outer[0], jac_norms(outer, Z)) <= tol
    exact = split_norms(inner, outer, X)                        # output side 6 ≤ exact_dim: materialised
    assert rel_err(exact.full[0], jac_norms(lambda x: outer(inner(x)), X)) <= 1e-10


def small_convnet():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(6, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5)).double()
    net.train()
    with torch.no_grad():
        net(torch.randn(16, 3, 8, 8, dtype=torch.float64))  # non-trivial running statistics
    return net.eval()


def test_generic_estimator_on_small_convnet_with_batchnorm():
    net = small_convnet()
    inner, outer = net[:4], net[4:]
    X = torch.randn(5, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    tol = 1e-6
    norms, state = spectral_norms(inner, X, tol=tol)
    assert state["side"] in ("in", "out")
    assert rel_err(norms, jac_norms(inner, X)) <= tol
    ns = split_norms(inner, outer, X, tol=tol)
    assert rel_err(ns.full[0], jac_norms(net, X)) <= tol
    warm = spectral_norms(inner, X, tol=tol, warm=state)[0]
    assert rel_err(warm, norms) <= 2 * tol
    net.train()
    with pytest.raises(ConfigError, match="BatchNorm"):
        spectral_norms(net, X)


def test_authors_power_iteration_is_a_lower_bound_close_to_exact():
    net = small_convnet()
    X = torch.randn(5, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    exact = jac_norms(net, X)
    est = authors_power_iteration(net, X, iters=200, tol=1e-12)
    assert bool((est <= exact * (1 + 1e-9)).all())
    assert rel_err(est, exact) <= 1e-3


def test_theorem45_identity_and_ranges_on_random_networks():
    for seed in range(3):
        model = TwoLayerEnsemble.init(25, 60, [-0.15, 0.0, 0.25], [seed, seed + 10, seed + 20], n_classes=3,
                                      dtype=torch.float64, device="cpu")
        X = torch.randn(40, 25, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
        s = summarize(two_layer_norms(model, X))
        assert torch.allclose(s["theorem45_rhs"], s["dirichlet_full"], rtol=1e-12, atol=0)
        assert bool(((s["cocorrelation"] >= 0) & (s["cocorrelation"] <= 1 + 1e-12)).all())
        assert bool(((s["norm_correlation"] >= 0) & (s["norm_correlation"] <= 1 + 1e-12)).all())


def test_summarize_formulas():
    g = torch.Generator().manual_seed(0)
    A = torch.rand(2, 50, generator=g, dtype=torch.float64) + 0.5
    B = torch.rand(2, 50, generator=g, dtype=torch.float64) + 0.5
    F = A * B * torch.rand(2, 50, generator=g, dtype=torch.float64)
    s = summarize(NormSample(F, A, B))
    AB = A * B
    assert torch.allclose(s["cocorrelation"], (F**2).mean(1).sqrt() / (AB**2).mean(1).sqrt())
    assert torch.allclose(s["norm_correlation"], AB.mean(1) / ((A**2).mean(1).sqrt() * (B**2).mean(1).sqrt()))
    assert torch.allclose(s["var"], ((AB - AB.mean(1, keepdim=True)) ** 2).mean(1))
    assert torch.allclose(s["rel_spread"],
                          ((AB - AB.mean(1, keepdim=True)) ** 2).sum(1).div(49).sqrt() / AB.mean(1))
    assert torch.allclose(s["theorem45_rhs"], s["dirichlet_full"])
    # the product belongs inside one expectation: a per-factor RMS denominator gives another number
    other = (F**2).mean(1).sqrt() / ((A**2).mean(1).sqrt() * (B**2).mean(1).sqrt())
    assert not torch.allclose(s["cocorrelation"], other)


def test_bad_arguments():
    model = TwoLayerEnsemble.init(10, 20, [0.0], [0], dtype=torch.float64, device="cpu")
    with pytest.raises(ConfigError, match="features"):
        two_layer_norms(model, torch.randn(3, 11, dtype=torch.float64))
    with pytest.raises(ConfigError, match="tol"):
        two_layer_norms(model, torch.randn(3, 10, dtype=torch.float64), tol=-1.0)
    with pytest.raises(ConfigError, match="TwoLayerEnsemble"):
        two_layer_norms(nn.Linear(3, 3), torch.randn(2, 3))


def clustered_inputs(n, d, seed):
    """Inputs sharing a common background, as MNIST images do, so their ReLU masks overlap."""
    g = torch.Generator().manual_seed(seed)
    common = torch.randn(d, generator=g, dtype=torch.float64)
    return common + 0.7 * torch.randn(n, d, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("tol,shared_start", [(1e-1, 0), (1e-2, 16), (1e-4, 16), (1e-6, 0)])
def test_inner_norms_certified_at_every_tolerance(tol, shared_start):
    # d = 60 < m = 180 and exact_dim = 8: the d-side Lanczos path, where the shared start applies
    model = TwoLayerEnsemble.init(60, 180, [0.0, 0.25], [1, 2], dtype=torch.float64, device="cpu")
    X = clustered_inputs(16, 60, seed=5)
    ns = two_layer_norms(model, X, tol=tol, exact_dim=8, shared_start=shared_start)
    _, _, inner = reference(model, X)
    err = (inner - ns.inner) / inner
    assert ns.max_rel_bound <= tol
    assert float(err.abs().max()) <= ns.max_rel_bound + 1e-12       # the certificate holds
    assert bool((err >= -1e-12).all())                              # sqrt(Ritz value): a lower bound


def test_shared_start_saves_steps_and_agrees():
    model = TwoLayerEnsemble.init(60, 180, [0.0], [3], dtype=torch.float64, device="cpu")
    X = clustered_inputs(16, 60, seed=6)
    cold = two_layer_norms(model, X, exact_dim=8, shared_start=0)
    shared = two_layer_norms(model, X, exact_dim=8, shared_start=16)
    assert rel_err(shared.inner, cold.inner) <= 2e-6
    assert shared.iterations <= cold.iterations
    with pytest.raises(ConfigError, match="shared_start"):
        two_layer_norms(model, X, exact_dim=8, shared_start=-1)


def test_exact_norms_of_rank_deficient_float32_grams_match_float64():
    from cocorr_core.measures import _lam_max_psd
    gen = torch.Generator().manual_seed(3)
    B = torch.randn(64, 128, 3, generator=gen, dtype=torch.float64)
    B[:, 64:] = B[:, :64]                          # repeated rows: many zero and equal eigenvalues
    G = B @ B.transpose(1, 2)
    top = _lam_max_psd(G.float())
    assert top.dtype == torch.float32
    torch.testing.assert_close(top.double(), torch.linalg.eigvalsh(G)[:, -1], rtol=1e-5, atol=1e-5)
