"""The NTK chapter: kernels (analytic, empirical), predictors, attacks through the kernel, and the
ledger criteria on synthetic tables with known answers (null tables and a power test included)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from cocorr_core import kernels as K
from cocorr_core.ground.errors import ConfigError
from cocorr_core.papers import ntk
from cocorr_core.papers.ntk import claims as C
from cocorr_core.papers.ntk import theory

ROOT = Path(__file__).resolve().parents[1]
f64 = torch.float64


# ---------------------------------------------------------------- the analytic kernel
def test_sympy_derivation_gives_the_arc_cosine_closed_forms():
    der = theory.arc_cosine_derivation()
    assert der["kappa1_difference"] == 0 and der["kappa0_difference"] == 0
    assert der["derivative_identity"] == 0
    assert der["kappa1_at_0"] == pytest.approx(0.5) and der["kappa0_at_0"] == pytest.approx(0.5)


def test_torch_kernel_and_its_gradient_match_sympy_and_finite_differences():
    df = theory.symbolic_vs_torch(points=3, seed=1)
    assert df["value_err"].max() < 1e-12
    assert df["grad_err_autograd"].max() < 1e-10
    assert df["grad_err_fd"].max() < 1e-6


def test_arc_cosine_values_match_monte_carlo():
    mc = theory.monte_carlo_kappas(samples=200_000, seed=3)
    assert ((mc["kappa1_mc"] - mc["kappa1"]).abs() / mc["kappa1_se"]).max() < 4.5
    assert ((mc["kappa0_mc"] - mc["kappa0"]).abs() / mc["kappa0_se"]).max() < 4.5


def test_one_layer_diagonal_is_exact():
    x = torch.ones(1, 784, dtype=f64)
    assert K.relu_ntk(x, x).item() == pytest.approx(2 * 2.01 + 0.01, rel=1e-12)
    assert K.relu_ntk(x, x, nngp=True).item() == pytest.approx(2.01 + 0.01, rel=1e-12)


def test_relu_ntk_keeps_leading_axes_and_is_symmetric():
    g = torch.Generator().manual_seed(0)
    X = torch.rand(6, 5, generator=g, dtype=f64)
    Kxx = K.relu_ntk(X, X, depth=3)
    assert torch.allclose(Kxx, Kxx.T, atol=1e-12)
    assert torch.linalg.eigvalsh(Kxx).min() > 0
    batch = K.relu_ntk(X[None].expand(2, 6, 5), X)
    assert batch.shape == (2, 6, 6) and torch.allclose(batch[1], K.relu_ntk(X, X))


@pytest.mark.parametrize("depth", [1, 2])
def test_empirical_ntk_of_wide_nets_approaches_the_analytic_kernel(depth):
    g = torch.Generator().manual_seed(2)
    X = torch.rand(4, 6, generator=g, dtype=f64)
    exact = K.relu_ntk(X, X, depth=depth)
    widths = (64, 2048) if depth == 2 else (64, 16384)
    errs = []
    for w in widths:
        nets = [K.NTKMLP(6, w, depth=depth, seed=s, dtype=f64, device="cpu") for s in range(3)]
        e = [((K.empirical_ntk(net, X, method="vmap") - exact).norm() / exact.norm()).item() for net in nets]
        errs.append(float(np.mean(e)))
        assert errs[-1] < 6 / math.sqrt(w)        # O(1/√width) fluctuations
    assert errs[1] < errs[0] / 3


def test_wide_limit_check_reads_the_width_table():
    rows = [{"depth": d, "width": w, "seed": s, "rel_err": 1.5 / math.sqrt(w)}
            for d in (1, 2) for w in (64, 512, 4096) for s in range(2)]
    assert C.check_wide_limit(pd.DataFrame(rows)).verdict == "reproduced"
    flat = [dict(r, rel_err=0.3) for r in rows]
    assert C.check_wide_limit(pd.DataFrame(flat)).verdict == "not reproduced"


# ---------------------------------------------------------------- the empirical kernel
class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.a = nn.Linear(3, 4).double()
        self.b = nn.Linear(4, 2).double()

    def forward(self, x):
        return self.b(torch.tanh(self.a(x)))


def explicit_jacobian(model: nn.Module, X: torch.Tensor) -> torch.Tensor:
    """(n·c, P): rows are d f_k(x_a)/dθ by autograd, one output at a time."""
    params = [p for p in model.parameters()]
    rows = []
    for x in X:
        out = model(x[None])[0]
        for k in range(out.shape[0]):
            grads = torch.autograd.grad(out[k], params, retain_graph=True)
            rows.append(torch.cat([gr.reshape(-1) for gr in grads]))
    return torch.stack(rows)


@pytest.mark.parametrize("cache, method", [(0, "batch"), (1 << 30, "batch"), (0, "vmap")])
def test_empirical_ntk_equals_the_explicit_jacobian_contraction(cache, method):
    model = Tiny()
    g = torch.Generator().manual_seed(1)
    X1, X2 = torch.randn(5, 3, generator=g, dtype=f64), torch.randn(3, 3, generator=g, dtype=f64)
    expected = explicit_jacobian(model, X1) @ explicit_jacobian(model, X2).T
    got = K.empirical_ntk(model, X1, X2, chunk_size=2, max_cache_bytes=cache, method=method)
    assert got.shape == (5, 3, 2, 2)
    assert torch.allclose(K.flatten_blocks(got), expected, atol=1e-12)
    traced = K.empirical_ntk(model, X1, X2, chunk_size=2, trace=True)
    assert torch.allclose(traced, got.diagonal(dim1=-2, dim2=-1).sum(-1), atol=1e-12)
    same = K.empirical_ntk(model, X1, chunk_size=2)
    J = explicit_jacobian(model, X1)
    assert torch.allclose(K.flatten_blocks(same), J @ J.T, atol=1e-12)


def test_empirical_ntk_rejects_bad_input():
    with pytest.raises(ConfigError, match="one shape"):
        K.empirical_ntk(Tiny(), torch.randn(2, 3, dtype=f64), torch.randn(2, 4, dtype=f64))
    frozen = Tiny().requires_grad_(False)
    with pytest.raises(ConfigError, match="no trainable"):
        K.empirical_ntk(frozen, torch.randn(2, 3, dtype=f64))
    with pytest.raises(ConfigError, match="one d"):
        K.relu_ntk(torch.rand(2, 3), torch.rand(2, 4))


def test_ntkmlp_members_are_independent_networks():
    X = torch.rand(5, 7, dtype=f64)
    net = K.NTKMLP(7, 16, members=3, seed=4, dtype=f64, device="cpu")
    alone = K.NTKMLP(7, 16, members=1, seed=5, dtype=f64, device="cpu")
    assert torch.allclose(net(X)[1], alone(X)[0])
    per_member = net(X.expand(3, 5, 7))
    assert torch.allclose(per_member, net(X))


# ---------------------------------------------------------------- predictors
def _problem(n=12, m=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    X, Xt = torch.rand(n, 8, generator=g, dtype=f64), torch.rand(m, 8, generator=g, dtype=f64)
    Y = torch.where(torch.rand(n, generator=g) > 0.5, 1.0, -1.0).to(f64)
    return K.relu_ntk(X, X), K.relu_ntk(Xt, X), Y


def test_gradient_flow_starts_at_zero_and_ends_at_kernel_regression():
    Kxx, Ktx, Y = _problem()
    coef = K.flow_coefficients(Kxx, Y, [0.0, 1e9, math.inf])
    reg = Ktx @ torch.linalg.solve(Kxx, Y)
    assert (Ktx @ coef[:, 0]).abs().max() == 0
    assert torch.allclose(Ktx @ coef[:, 2], reg, atol=1e-9)
    assert torch.allclose(Ktx @ coef[:, 1], reg, atol=1e-6)
    assert torch.allclose(Ktx @ K.kernel_regression_coefficients(Kxx, Y), reg, atol=1e-9)


def test_flow_is_a_weighted_sum_of_eigen_features():
    Kxx, Ktx, Y = _problem()
    lam, Cf = K.eigen_feature_coefficients(Kxx, Y)
    assert torch.all(lam[:-1] >= lam[1:])
    feats = Ktx @ Cf
    assert torch.allclose(feats.sum(1), Ktx @ torch.linalg.solve(Kxx, Y), atol=1e-9)
    assert torch.allclose((Kxx @ Cf).sum(1), Y, atol=1e-9)
    t = 0.3
    ft = Ktx @ K.flow_coefficients(Kxx, Y, [t])[:, 0]
    assert torch.allclose(ft, feats @ K.learning_weights(lam, t), atol=1e-10)
    # a training-set feature is the projection of the labels onto one eigenvector
    v = K.spectrum(Kxx)[1][:, 3]
    assert torch.allclose(Kxx @ Cf[:, 3], v * (v @ Y), atol=1e-10)


def test_predictors_reject_bad_input():
    Kxx, _, Y = _problem()
    with pytest.raises(ConfigError, match="square"):
        K.kernel_regression_coefficients(Kxx[:, :3], Y)
    with pytest.raises(ConfigError, match="rows"):
        K.flow_coefficients(Kxx, Y[:3], [1.0])
    with pytest.raises(ConfigError, match=">= 0"):
        K.flow_coefficients(Kxx, Y, [-1.0])
    with pytest.raises(ConfigError, match="positive definite"):
        K.kernel_regression_coefficients(torch.ones(3, 3, dtype=f64), torch.ones(3, dtype=f64))


def test_kernel_distance_and_top_mass():
    g = torch.Generator().manual_seed(0)
    A = torch.randn(6, 6, generator=g, dtype=f64)
    A = A @ A.T
    B = torch.randn(6, 6, generator=g, dtype=f64)
    B = B @ B.T
    D = K.kernel_distance(torch.stack([A, 3 * A, B]))
    assert D[0, 1].abs() < 1e-12 and D.diagonal().abs().max() < 1e-12 and D[0, 2] > 0
    assert torch.allclose(D, D.T)
    v = torch.randn(6, generator=g, dtype=f64)
    assert K.top_eigen_mass(torch.outer(v, v), 1).item() == pytest.approx(1.0)
    lam = torch.linalg.eigvalsh(A)
    assert K.top_eigen_mass(A, 2).item() == pytest.approx(float((lam[-2:] ** 2).sum() / (lam**2).sum()))
    assert torch.allclose(K.top_truncation(A, 6), A, atol=1e-10)


# ---------------------------------------------------------------- attacks
def test_fgsm_on_a_linear_predictor_has_the_closed_form():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(10, generator=g, dtype=f64)
    X = torch.rand(7, 10, generator=g, dtype=f64)
    y = torch.where(torch.rand(7, generator=g) > 0.5, 1.0, -1.0).to(f64)
    adv = ntk.sign_attack(lambda x: x @ w, X, y, eps=0.1, steps=1, step_size=0.1)
    expected = (X - 0.1 * y[:, None] * w.sign()).clamp(0, 1)
    assert torch.allclose(adv, expected)


def test_pgd_stays_in_the_ball_and_the_box_and_attacks_many_predictors():
    Kxx, _, Y = _problem(n=10)
    g = torch.Generator().manual_seed(3)
    Xtr = torch.rand(10, 8, generator=g, dtype=f64)
    Xt = torch.rand(6, 8, generator=g, dtype=f64)
    y = torch.where(torch.rand(6, generator=g) > 0.5, 1.0, -1.0).to(f64)
    lam, Cf = K.eigen_feature_coefficients(K.relu_ntk(Xtr, Xtr), Y)
    fn = ntk.kernel_logits(Xtr, Cf[:, :3])
    adv = ntk.sign_attack(fn, Xt.expand(3, 6, 8), y, eps=0.05, steps=5, step_size=0.02)
    assert (adv - Xt).abs().max() <= 0.05 + 1e-12 and adv.min() >= 0 and adv.max() <= 1
    loss = lambda x: torch.nn.functional.softplus(-y * fn(x)).sum(-1)  # noqa: E731
    assert torch.all(loss(adv) >= loss(Xt.expand(3, 6, 8)) - 1e-12)
    single = ntk.sign_attack(ntk.kernel_logits(Xtr, Cf[:, 1]), Xt, y, eps=0.05, steps=5, step_size=0.02)
    assert torch.allclose(single, adv[1])


def test_sign_attack_rejects_bad_input():
    with pytest.raises(ConfigError, match="box"):
        ntk.sign_attack(lambda x: x.sum(-1), torch.full((2, 3), 2.0), torch.ones(2), eps=0.1, steps=1,
                        step_size=0.1)
    with pytest.raises(ConfigError, match="labels"):
        ntk.sign_attack(lambda x: x.sum(-1), torch.rand(2, 3), torch.ones(3), eps=0.1, steps=1, step_size=0.1)


# ---------------------------------------------------------------- criteria on synthetic tables
SEEDS = ntk.get_profile("quick").seeds
FEATURES = ntk.get_profile("quick").feature_indices


def features_frame(fgsm: np.ndarray, clean: np.ndarray, majority: float = 0.5) -> pd.DataFrame:
    rows = []
    for s in range(fgsm.shape[0]):
        for j, f in enumerate(FEATURES):
            rows.append({"seed": s, "feature": f, "eigenvalue": 1.0 / (f + 1), "clean_acc": clean[s, j],
                         "fgsm_acc": fgsm[s, j], "majority": majority})
    return pd.DataFrame(rows)


def flow_frame(clean: np.ndarray, pgd: np.ndarray) -> pd.DataFrame:
    times = list(ntk.get_profile("quick").flow_times)
    rows = [{"seed": s, "time_lmax": t, "clean_acc_attacked_set": clean[s, j], "pgd_acc": pgd[s, j],
             "fgsm_acc": pgd[s, j], "clean_acc": clean[s, j]}
            for s in range(clean.shape[0]) for j, t in enumerate(times)]
    return pd.DataFrame(rows)


def transfer_frame(clean: np.ndarray, adv: np.ndarray, distance: float = 0.05) -> pd.DataFrame:
    widths = ntk.get_profile("quick").transfer_widths
    return pd.DataFrame([{"seed": s, "width": w, "net_clean_acc_attacked_set": clean[s, j],
                          "net_on_ntk_adv_acc": adv[s, j], "net_whitebox_acc": adv[s, j],
                          "rel_distance": distance}
                         for s in range(clean.shape[0]) for j, w in enumerate(widths)])


def dynamics_frame(late: np.ndarray, tail: np.ndarray) -> pd.DataFrame:
    rows = []
    for s in range(len(late)):
        for regime, dl, tl in (("clean", 0.5, 0.1), ("pgd", 0.5 + late[s], 0.1 + tail[s])):
            rows.append({"seed": s, "regime": regime, "epoch": 1, "epoch2": 3, "metric": "distance_clean",
                         "value": dl})
            rows.append({"seed": s, "regime": regime, "epoch": 3, "metric": "top_mass_clean",
                         "value": 1 - tl})
    return pd.DataFrame(rows)


def test_robust_top_on_known_tables():
    rng = np.random.default_rng(0)
    decay = np.linspace(0.6, 0.0, len(FEATURES))[None] + 0.02 * rng.normal(size=(SEEDS, len(FEATURES)))
    assert C.check_robust_top(features_frame(decay, decay)).verdict == "reproduced"
    null = rng.uniform(0, 0.5, size=(SEEDS, len(FEATURES)))
    assert C.check_robust_top(features_frame(null, null)).verdict != "reproduced"
    rising = decay[:, ::-1]
    assert C.check_robust_top(features_frame(rising, rising)).verdict == "not reproduced"


def test_useful_nonrobust_on_known_tables():
    rng = np.random.default_rng(1)
    fgsm = np.zeros((SEEDS, len(FEATURES)))
    useful = 0.62 + 0.01 * rng.normal(size=fgsm.shape)
    assert C.check_useful_nonrobust(features_frame(fgsm, useful)).verdict == "reproduced"
    chance = 0.5 + 0.01 * rng.normal(size=fgsm.shape)
    assert C.check_useful_nonrobust(features_frame(fgsm, chance)).verdict == "not reproduced"
    assert C.check_useful_nonrobust(features_frame(fgsm + 0.5, useful)).verdict == "not run"


def test_kernel_nonrobust_and_early_robust_on_known_tables():
    T = len(ntk.get_profile("quick").flow_times)
    clean = np.tile(np.linspace(0.85, 0.96, T), (SEEDS, 1))
    noise = 0.01 * np.random.default_rng(2).normal(size=(SEEDS, T))
    pgd = np.tile(np.linspace(0.7, 0.3, T), (SEEDS, 1)) + noise
    table = flow_frame(clean, pgd)
    assert C.check_kernel_nonrobust(table).verdict == "reproduced"
    assert C.check_early_robust(table).verdict == "reproduced"
    robust = flow_frame(clean, clean - 0.01)
    assert C.check_kernel_nonrobust(robust).verdict == "partly"       # accurate, not fooled
    assert C.check_early_robust(robust).verdict == "not reproduced"


def test_transfer_on_known_tables():
    W = len(ntk.get_profile("quick").transfer_widths)
    clean = np.full((SEEDS, W), 0.93)
    fooled = 0.5 + 0.02 * np.random.default_rng(3).normal(size=(SEEDS, W))
    assert C.check_transfer(transfer_frame(clean, fooled)).verdict == "reproduced"
    assert C.check_transfer(transfer_frame(clean, clean - 0.01)).verdict == "not reproduced"
    assert C.check_transfer(transfer_frame(clean, fooled, distance=0.5)).verdict == "not run"


def test_dynamics_needs_cifar10_for_a_verdict():
    late, tail = -np.full(SEEDS, 0.1), -np.full(SEEDS, 0.05)
    late = late + 0.01 * np.arange(SEEDS)
    table = dynamics_frame(late, tail)
    assert C.check_dynamics(table, "cifar10").verdict == "reproduced"
    stand_in = C.check_dynamics(table, "mnist")
    assert stand_in.verdict == "not run" and stand_in.numbers["stand_in_outcome"] == "reproduced"
    assert C.check_dynamics(dynamics_frame(-late, -tail), "cifar10").verdict == "not reproduced"


def test_power_false_reproduced_rate_on_null_grids():
    """≥ 200 null grids at the quick profile's seeds and sizes: no criterion says "reproduced" in more
    than 5 % of them."""
    rng = np.random.default_rng(20221011)
    n_grids, F, T = 200, len(FEATURES), len(ntk.get_profile("quick").flow_times)
    W = len(ntk.get_profile("quick").transfer_widths)
    false = {"robust_top": 0, "useful_nonrobust": 0, "early_robust": 0, "transfer": 0, "dynamics": 0,
             "nonrobust": 0}
    se = math.sqrt(0.25 / 128)                 # binomial noise of an accuracy on 128 test images
    for _ in range(n_grids):
        acc = rng.uniform(0.0, 0.6, size=(SEEDS, F))      # robustness unrelated to the index
        false["robust_top"] += C.check_robust_top(features_frame(acc, acc)).verdict == "reproduced"
        clean = 0.5 + se * rng.normal(size=(SEEDS, F))    # features at chance
        false["useful_nonrobust"] += C.check_useful_nonrobust(
            features_frame(np.zeros((SEEDS, F)), clean)).verdict == "reproduced"
        level = 0.9 + se * rng.normal(size=(SEEDS, T))      # accuracy and robustness flat in time
        robust = 0.6 + se * rng.normal(size=(SEEDS, T))
        table = flow_frame(level, robust)
        false["early_robust"] += C.check_early_robust(table).verdict == "reproduced"
        false["nonrobust"] += C.check_kernel_nonrobust(flow_frame(level, level + se * rng.normal(
            size=(SEEDS, T)))).verdict == "reproduced"
        nets = 0.93 + se * rng.normal(size=(SEEDS, W))
        false["transfer"] += C.check_transfer(transfer_frame(nets, nets + se * rng.normal(
            size=(SEEDS, W)))).verdict == "reproduced"
        false["dynamics"] += C.check_dynamics(dynamics_frame(0.02 * rng.normal(size=SEEDS),
                                                             0.02 * rng.normal(size=SEEDS)),
                                              "cifar10").verdict == "reproduced"
    rates = {k: v / n_grids for k, v in false.items()}
    assert all(r <= 0.05 for r in rates.values()), rates


# ---------------------------------------------------------------- the front and the book
def test_front_exports_and_claims():
    assert ntk.PAPER == "ntk" and ntk.BIBKEY == "tsilivis2022ntk" and ntk.FIGURES == ()
    assert all(c.id.startswith("tk22.") for c in ntk.CLAIMS)
    pages = {c.page for c in ntk.CLAIMS}
    assert pages == {"ntk_kernels", "ntk_attacks_features", "ntk_dynamics"}
    for page in pages:
        assert (ROOT / "notebooks" / f"{page}.md").is_file()
    assert {c.kind for c in ntk.CLAIMS} == {"claim", "check"}
    with pytest.raises(ConfigError):
        ntk.claim("tk22.nonexistent")
    assert "tsilivis2022ntk" in (ROOT / "book" / "references.bib").read_text()
    toc = (ROOT / "_toc.yml").read_text()
    assert all(f"notebooks/{p}" in toc for p in pages)
