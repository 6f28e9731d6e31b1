"""Attacks: ε conventions, PixelSpace, clean accuracy, batched PGD and AutoAttack against exact answers.

For an affine classifier s(x) = w·x + b the smallest perturbation that changes the decision has
L2 norm |s(x)|/‖w‖₂ and Linf norm |s(x)|/‖w‖₁ (as long as the moved point stays in the box, which
holds for interior points and small ε). Attacks must break every point closer than ε and can
never break a point farther away.
"""
from __future__ import annotations

import pytest
import torch
from torch import nn

from cocorr_core.attacks import (
    TwoLogits,
    autoattack_accuracy,
    autoattack_components,
    autoattack_robust,
    pgd_accuracy,
    pgd_attack,
    pixel_eps,
)
from cocorr_core.data import to_code_inputs as code_inputs
from cocorr_core.ground.errors import ConfigError
from cocorr_core.models import PixelSpace, TwoLayerEnsemble
from cocorr_core.training import clean_accuracy

D = 25  # viewed as 5×5 images by AutoAttack


# ---------------------------------------------------------------- conventions
def test_pixel_eps_conventions():
    assert pixel_eps(0.5) == 0.5
    assert pixel_eps(0.5, "authors") == 0.25
    assert pixel_eps(0.3, "authors", std=0.25) == pytest.approx(0.075)
    with pytest.raises(ConfigError, match="convention"):
        pixel_eps(0.5, "normalised")
    with pytest.raises(ConfigError, match="eps"):
        pixel_eps(-1.0)


def test_pixel_space_normalises_inside_the_model():
    ens = TwoLayerEnsemble.init(D, 8, [0.0, 0.1], [1, 2], n_classes=4, dtype=torch.float64)
    x = torch.rand(6, D, dtype=torch.float64)
    torch.testing.assert_close(PixelSpace(ens, member=1)(x), ens(2 * x - 1)[1])
    torch.testing.assert_close(code_inputs(x), 2 * x - 1)
    torch.testing.assert_close(PixelSpace(ens)(x), ens(2 * x - 1))         # the whole ensemble
    images = torch.rand(2, 3, 4, 4)
    per_channel = PixelSpace(nn.Identity(), mean=(0.1, 0.2, 0.3), std=(0.5, 0.25, 2.0))(images)
    torch.testing.assert_close(per_channel[:, 1], (images[:, 1] - 0.2) / 0.25)
    with pytest.raises(ConfigError, match="std"):
        PixelSpace(nn.Identity(), std=0.0)


def test_clean_accuracy_argmax_and_sign():
    ens = TwoLayerEnsemble.init(D, 8, [0.0, 0.1], [1, 2], n_classes=4, dtype=torch.float64)
    X = torch.rand(50, D, dtype=torch.float64)
    y = torch.randint(0, 4, (50,), generator=torch.Generator().manual_seed(0))
    expected = (ens(X).argmax(-1) == y).double().mean(1)
    torch.testing.assert_close(clean_accuracy(ens, X, y, batch_size=7), expected)
    torch.testing.assert_close(clean_accuracy(ens.as_classifier(1), X, y), expected[1:])
    torch.testing.assert_close(clean_accuracy(PixelSpace(ens), (X + 1) / 2, y), expected)
    # one output: class 1 iff the logit is > 0 (a zero logit is class 0)
    lin = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, -1.0]]))
    Xb = torch.tensor([[2.0, 1.0], [1.0, 2.0], [1.0, 1.0]])
    assert clean_accuracy(lin, Xb, torch.tensor([1, 0, 0])).item() == 1.0
    assert clean_accuracy(lin, Xb, torch.tensor([1, 0, 1])).item() == pytest.approx(2 / 3)
    with pytest.raises(ConfigError, match="labels outside"):
        clean_accuracy(ens, X, y + 4)


# ---------------------------------------------------------------- PGD
def _linear_ensemble(device: str) -> TwoLayerEnsemble:
    return TwoLayerEnsemble.init(D, 16, [0.0, 0.25], [3, 4], head="theory", activation="linear",
                                 dtype=torch.float64, device=device)


def _affine_in_pixels(ens: TwoLayerEnsemble) -> tuple[torch.Tensor, torch.Tensor]:
    """f_k(2x − 1) = w_k·x + b_k with w_k = 2 W_kᵀ a_k and b_k = −a_kᵀ W_k 1."""
    v = torch.einsum("km,kmd->kd", ens.A[:, 0], ens.W.detach())
    return 2 * v, -v.sum(1)


@pytest.mark.parametrize("norm,eps", [("L2", 0.1), ("Linf", 0.02)])
def test_pgd_on_linear_models_matches_the_exact_distance(norm, eps, device):
    ens = _linear_ensemble(device)
    g = torch.Generator().manual_seed(1)
    X = (0.3 + 0.4 * torch.rand(120, D, generator=g, dtype=torch.float64)).to(device)   # interior points
    y = torch.randint(0, 2, (120,), generator=g).to(device)
    w, b = _affine_in_pixels(ens)
    s = X @ w.T + b                                                  # (n, K)
    dual = 1 if norm == "Linf" else 2                                # ‖·‖ dual to the attack norm
    dist = (s.abs() / w.norm(p=dual, dim=1)).T                       # (K, n)
    correct = ((s.T > 0).long() == y)
    X_adv, robust = pgd_attack(ens, X, y, eps=eps, norm=norm, steps=30, seed=0)
    far, near = dist > eps, dist < 0.9 * eps
    assert (near & correct).any() and (far & correct).any()          # both cases occur
    assert torch.equal(robust[far], correct[far])                    # unbreakable: robust iff correct
    assert not robust[near].any()                                    # within reach: all broken
    # ε = 0 is the clean accuracy; the accuracy is the mean of the per-sample verdicts
    clean = clean_accuracy(ens, code_inputs(X), y)
    torch.testing.assert_close(pgd_accuracy(ens, X, y, eps=0.0, norm=norm), clean)
    acc = pgd_accuracy(ens, X, y, eps=eps, norm=norm, steps=30, seed=0, batch_size=1000)
    torch.testing.assert_close(acc, robust.double().mean(1).cpu())
    # the same attack through PixelSpace(ensemble), whose normalisation is the default 2x − 1
    torch.testing.assert_close(pgd_accuracy(PixelSpace(ens), X, y, eps=eps, norm=norm, steps=30), acc)
    assert (acc < clean).all()


@pytest.mark.parametrize("norm,eps", [("L2", 0.8), ("Linf", 0.05)])
def test_pgd_respects_ball_and_box(norm, eps):
    ens = TwoLayerEnsemble.init(D, 32, [0.0, -0.1, 0.25], [5, 6, 7], n_classes=3, dtype=torch.float64)
    g = torch.Generator().manual_seed(2)
    X = torch.rand(64, D, generator=g, dtype=torch.float64)
    X[:, :5] = (X[:, :5] > 0.5).double()                             # pixels on the box faces
    y = torch.randint(0, 3, (64,), generator=g)
    X_adv, robust = pgd_attack(ens, X, y, eps=eps, norm=norm, steps=10, seed=3)
    delta = X_adv - X
    size = delta.abs().amax(-1) if norm == "Linf" else delta.norm(dim=-1)
    assert float(size.max()) <= eps + 1e-12
    assert float(X_adv.min()) >= 0.0 and float(X_adv.max()) <= 1.0
    # the returned examples carry the verdicts: broken ones are misclassified, robust ones are not
    pred = ens(code_inputs(X_adv)).argmax(-1)
    assert torch.equal(pred == y, robust)
    assert not robust.all()
    # deterministic for a seed
    X_adv2, robust2 = pgd_attack(ens, X, y, eps=eps, norm=norm, steps=10, seed=3)
    assert torch.equal(X_adv, X_adv2) and torch.equal(robust, robust2)


def test_pgd_rejects_bad_input():
    ens = _linear_ensemble("cpu")
    X, y = torch.rand(4, D, dtype=torch.float64), torch.tensor([0, 1, 0, 1])
    with pytest.raises(ConfigError, match="norm"):
        pgd_accuracy(ens, X, y, eps=0.1, norm="L1")
    with pytest.raises(ConfigError, match="box"):
        pgd_accuracy(ens, 2 * X - 1.5, y, eps=0.1)
    with pytest.raises(ConfigError, match="eps"):
        pgd_accuracy(ens, X, y, eps=-0.1)
    with pytest.raises(ConfigError, match="TwoLayerEnsemble"):
        pgd_accuracy(nn.Linear(D, 2), X, y, eps=0.1)
    with pytest.raises(ConfigError, match="preprocess"):
        pgd_accuracy(PixelSpace(ens), X, y, eps=0.1, preprocess=code_inputs)
    with pytest.raises(ConfigError, match="member"):
        autoattack_accuracy(PixelSpace(ens), X, y, eps=0.1)


# ---------------------------------------------------------------- AutoAttack
def _hyperplane_points(eps: float):
    """Interior points at signed distances t from the hyperplane of a unit-norm affine model."""
    g = torch.Generator().manual_seed(0)
    w = torch.where(torch.rand(D, generator=g) < 0.5, -0.2, 0.2)    # ‖w‖ = 1, |w_i| = 0.2
    b = -0.5 * w.sum()                                              # the plane passes through the centre
    ts = torch.tensor([0.05, 0.1, 0.18, 0.42, 0.5, 0.7]) * eps / 0.3
    ts = torch.cat([ts, -ts]).repeat(2)
    x0 = 0.5 + 0.05 * (2 * torch.rand(len(ts), D, generator=g) - 1)
    X = x0 - (x0 @ w + b)[:, None] * w + ts[:, None] * w            # w·x + b = t exactly
    y = (ts > 0).long()
    y[:3] = 1 - y[:3]                                               # three wrong labels: never robust
    expected = (y == (ts > 0).long()) & (ts.abs() > eps)
    return w, b, X, y, expected


@pytest.mark.parametrize("outputs,dtype", [(1, torch.float32), (2, torch.float32), (1, torch.float64)])
def test_autoattack_on_a_linear_model_matches_the_exact_distance(outputs, dtype):
    eps = 0.3
    w, b, X, y, expected = _hyperplane_points(eps)
    model = nn.Linear(D, outputs, dtype=dtype)
    with torch.no_grad():  # one logit s, or two logits (−s/2, s/2)
        model.weight.copy_(w[None] if outputs == 1 else torch.stack([-w / 2, w / 2]))
        model.bias.copy_(b[None] if outputs == 1 else torch.stack([-b / 2, b / 2]))
    X = X.to(dtype)
    rng = torch.get_rng_state()
    robust = autoattack_robust(model, X, y, eps=eps, attacks=("apgd-ce", "fab-t"), device="cpu")
    assert torch.equal(robust, expected)
    assert torch.equal(torch.get_rng_state(), rng)                  # caller's RNG untouched
    assert model.training                                           # mode restored


def test_two_logits_is_bce():
    s = torch.randn(10, 1)
    y = torch.randint(0, 2, (10,))
    ce = nn.functional.cross_entropy(TwoLogits(nn.Identity())(s), y)
    bce = nn.functional.binary_cross_entropy_with_logits(s[:, 0], y.float())
    torch.testing.assert_close(ce, bce)


def test_standard_autoattack_on_a_ten_class_network():
    """The library's AutoAttack itself (≥ 4 classes): at a large radius it breaks every point;
    at ε = 0 it returns the clean accuracy."""
    ens = TwoLayerEnsemble.init(D, 32, [0.0], [9], n_classes=10)
    X = torch.rand(20, D, generator=torch.Generator().manual_seed(4))
    classifier = PixelSpace(ens, member=0)
    y = classifier(X).argmax(1)                                     # all correct before the attack
    assert autoattack_components(10) == ["apgd-ce", "apgd-t", "fab-t", "square"]
    assert autoattack_accuracy(classifier, X, y, eps=0.0, device="cpu") == 1.0
    assert autoattack_accuracy(classifier, X, y, eps=3.0, device="cpu") == 0.0


def test_autoattack_rejects_bad_input():
    model = nn.Linear(D, 10)
    X, y = torch.rand(4, D), torch.tensor([0, 1, 2, 3])
    with pytest.raises(ConfigError, match="norm"):
        autoattack_accuracy(model, X, y, norm="L1")
    with pytest.raises(ConfigError, match="version"):
        autoattack_accuracy(model, X, y, version="fast")
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        autoattack_accuracy(model, 2 * X - 1, y)
    with pytest.raises(ConfigError, match="5×5"):
        autoattack_accuracy(nn.Linear(16, 10), torch.rand(4, 16), y)
    with pytest.raises(ConfigError, match="at least 4 classes"):
        autoattack_accuracy(nn.Linear(D, 2), X, torch.tensor([0, 1, 0, 1]), attacks=("apgd-t",))
    assert autoattack_components(2) == ["apgd-ce", "fab-t", "square"]
    assert autoattack_components(3, "rand") == ["apgd-ce", "apgd-dlr"]
