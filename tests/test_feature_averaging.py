"""Feature-averaging chapter: data, networks, exact geometry, attacks and the ledger's criteria."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import sympy as sp
import torch

from cocorr_core.data import load_mnist32, multi_cluster, orthogonal_centres
from cocorr_core.ground.errors import ConfigError
from cocorr_core.models import BiasedTwoLayerEnsemble, ModuleEnsemble
from cocorr_core.papers import feature_averaging as fa
from cocorr_core.papers.feature_averaging import claims, experiments, geometry, networks


# ---------------------------------------------------------------- data and models
def test_multi_cluster_distribution():
    c = orthogonal_centres(200, 6, seed=1)
    torch.testing.assert_close(c @ c.T, 200.0 * torch.eye(6, dtype=torch.float64))
    X, y, j = multi_cluster(c, 6000, positive=(0, 2), seed=3)
    assert X.shape == (6000, 200) and set(y.tolist()) == {-1.0, 1.0}
    assert torch.equal(y, torch.where((j == 0) | (j == 2), 1.0, -1.0).to(y))
    noise = X - c[j]
    assert abs(noise.var().item() - 1.0) < 0.02 and abs(noise.mean().item()) < 0.01
    assert (torch.bincount(j, minlength=6) > 850).all()           # uniform clusters
    with pytest.raises(ConfigError, match="positive"):
        multi_cluster(c, 10, positive=tuple(range(6)))
    with pytest.raises(ConfigError, match="centres"):
        multi_cluster(c[0], 10)


def test_biased_ensemble_matches_members_and_reference():
    head = networks.signed_head(3)
    assert torch.allclose(head.sum(), torch.tensor(0.0, dtype=torch.float64))
    net = BiasedTwoLayerEnsemble.small_init(7, head, [0, 1], std=0.5, dtype=torch.float64, device="cpu")
    X = torch.randn(5, 7, dtype=torch.float64)
    out = net(X)
    for k in range(2):
        ref = torch.relu(X @ net.W[k].T + net.b[k]) @ net.A[k].T
        torch.testing.assert_close(out[k], ref)
        torch.testing.assert_close(net.as_classifier(k)(X), ref)
        torch.testing.assert_close(net.member(k)(X)[0], ref)
    with pytest.raises(ConfigError, match="biases"):
        BiasedTwoLayerEnsemble(net.W.detach(), torch.zeros(2, 5), net.A)


def test_fit_batched_equals_alone_and_matches_autograd_gd():
    c = orthogonal_centres(30, 4, seed=0)
    data = [multi_cluster(c, 40, seed=s) for s in range(2)]
    X = torch.stack([d[0] for d in data])
    y01 = torch.stack([(d[1] > 0).double() for d in data])
    kw = dict(std=1e-3, dtype=torch.float64, device="cpu")
    both = BiasedTwoLayerEnsemble.small_init(30, networks.signed_head(2), [5, 6], **kw)
    networks.fit(both, X, y01, loss="bce", lr=0.05, steps=5)
    alone = BiasedTwoLayerEnsemble.small_init(30, networks.signed_head(2), [6], **kw)
    W0, b0 = alone.W.detach().clone(), alone.b.detach().clone()
    networks.fit(alone, X[1:], y01[1:], loss="bce", lr=0.05, steps=5)
    torch.testing.assert_close(both.W[1], alone.W[0])
    # one hand-written GD step on the logistic loss log(1 + exp(−y f))
    W, b = W0[0].clone().requires_grad_(True), b0[0].clone().requires_grad_(True)
    ypm = 2 * y01[1] - 1
    f = torch.relu(X[1] @ W.T + b) @ networks.signed_head(2)[0]
    torch.nn.functional.softplus(-ypm * f).mean().backward()
    one = BiasedTwoLayerEnsemble(W0.clone(), b0.clone(), alone.A.clone())
    networks.fit(one, X[1:], y01[1:], loss="bce", lr=0.05, steps=1)
    torch.testing.assert_close(one.W[0], W0[0] - 0.05 * W.grad)
    torch.testing.assert_close(one.b[0], b0[0] - 0.05 * b.grad)


def test_readouts():
    net = BiasedTwoLayerEnsemble.small_init(6, networks.block_head(4, 2), [0], std=1.0, dtype=torch.float64,
                                            device="cpu")
    signs = networks.class_signs(4, (0, 1))
    X = torch.randn(9, 6, dtype=torch.float64)
    logits = net(X)[0]
    torch.testing.assert_close(networks.summed_readout(net, signs)(X)[0, :, 0], logits @ signs)
    two = networks.GroupMaxReadout(net, signs)(X)[0]
    torch.testing.assert_close(two[:, 1], logits[:, :2].amax(1))
    torch.testing.assert_close(two[:, 0], logits[:, 2:].amax(1))
    assert torch.equal(two.argmax(1) == 1, logits.argmax(1) < 2)


def test_cosines_and_crossing_radius():
    W = torch.tensor([[[1.0, 1.0, 0.0], [0.0, 0.0, 2.0]]], dtype=torch.float64)
    C = torch.eye(3, dtype=torch.float64) * 3
    cos = networks.cosines(W, C)[0]
    torch.testing.assert_close(cos, torch.tensor([[2**-0.5, 0], [2**-0.5, 0], [0, 1.0]], dtype=torch.float64))
    r = claims.crossing_radius(np.array([0, 1, 2, 3.0]), np.array([[1, 0.9, 0.3, 0.0], [1, 1, 1, 1.0]]))
    assert r[0] == pytest.approx(1 + 0.4 / 0.6) and np.isnan(r[1])


# ---------------------------------------------------------------- exact geometry
def test_sympy_results():
    assert geometry.cosine_signature()["general"] == 1 / sp.sqrt(sp.Symbol("s", positive=True))
    ar = geometry.averaged_radius()
    assert ar["equal"]
    th = geometry.threshold_radius()
    assert geometry.at(th["at_zero"], d=3072, L=5) == pytest.approx(math.sqrt(3072 / 6))
    assert geometry.argmax_radius()["equal"]
    assert geometry.rho_beta(3072, 5, 1536) == pytest.approx(math.sqrt(1536))
    assert geometry.rho_beta(3072, 5, 0) == pytest.approx(math.sqrt(3072 / 6))
    with pytest.raises(ValueError, match="beta"):
        geometry.rho_beta(10, 2, 6)


def test_geometry_checks_numerically():
    out = geometry.geometry_checks(d=32, k=4, seed=2, n_mc=40_000)
    assert max(out["cosine_err"], out["distance_rel_err"], out["attack_norm_err"]) < 1e-9
    assert out["attack_flips_at_radius"] and out["threshold_attack_flips_at_rho"]
    assert out["threshold_no_earlier_flip"] and out["threshold_optimiser_rel_err"] < 1e-6
    assert out["phi_max_abs_err"] < out["phi_tolerance"]


def test_targeted_attack_finds_the_averaged_boundary():
    """On f_FA the targeted attack breaks a centre exactly at √(d/k) and the argmax at √(d/2)."""
    d, k = 64, 4
    c = orthogonal_centres(d, k, seed=0)
    signs = networks.class_signs(k, (0, 1))
    X, y, j = c.clone(), signs.clone(), torch.arange(k)
    dirs = experiments.centre_directions(X, y, j, c, signs)
    sums = torch.stack([c[:2].sum(0), c[2:].sum(0)])[None] / d
    fa_net = BiasedTwoLayerEnsemble(sums, torch.zeros(1, 2, dtype=torch.float64),
                                    torch.tensor([[[1.0, -1.0]]], dtype=torch.float64))
    r = geometry.fa_radius(d, k)
    robust = experiments.targeted_robust(fa_net, X, y, dirs, np.array([r * 0.999, r * 1.001]))
    assert robust[0, :, 0].all() and not robust[0, :, 1].any()
    am = networks.GroupMaxReadout(BiasedTwoLayerEnsemble(c[None] / d, torch.zeros(1, k, dtype=torch.float64),
                                                         torch.eye(k, dtype=torch.float64)[None]), signs)
    r2 = geometry.optimal_radius(d)
    robust = experiments.targeted_robust(am, X, y, dirs, np.array([r2 * 0.999, r2 * 1.001]))
    assert robust[0, :, 0].all() and not robust[0, :, 1].any()


# ---------------------------------------------------------------- criteria on synthetic tables
def _cos_table(own: float, spread: float, seeds: int = 5, k: int = 10, m: int = 5, noise: float = 0.005,
               decoupled: float | None = None, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(seeds):
        for model in ("binary", "k-class"):
            for j in range(k):
                for r in range(2 * m if model == "binary" else k):
                    if model == "binary":
                        mine = (r < m) == (j < k // 2)
                        value = own * (1 + spread * ((j % (k // 2)) / (k // 2 - 1) - 0.5)) if mine else 0.0
                        if decoupled is not None:
                            value = decoupled if mine and (j % (k // 2)) == (r % m) else 0.0
                    else:
                        value = 0.99 if j == r else 0.0
                    rows.append({"model": model, "seed": s, "step": 100, "centre": j, "neuron": r,
                                 "cos": value + noise * rng.normal()})
    return pd.DataFrame(rows)


def test_averaging_and_decoupling_criteria():
    target = 1 / math.sqrt(5)
    cond, _ = claims.averaging_decision(claims.averaging_effects(_cos_table(target, 0.2), 10))
    assert all(cond.values())
    cond, _ = claims.averaging_decision(claims.averaging_effects(_cos_table(target, 0.0, decoupled=0.99), 10))
    assert not any(cond.values())                                  # decoupled neurons: the null table
    cond, _ = claims.averaging_decision(claims.averaging_effects(_cos_table(0.0, 0.0), 10))
    assert not cond[next(iter(cond))]                              # random neurons (cosines 0)
    cond, _ = claims.decoupling_decision(claims.decoupling_effects(_cos_table(target, 0.0)))
    assert all(cond.values())
    null = _cos_table(target, 0.0)
    null.loc[null["model"] == "k-class", "cos"] = 0.3
    cond, _ = claims.decoupling_decision(claims.decoupling_effects(null))
    assert not any(cond.values())


def _rob_table(ratio: float, predicted: float, seeds: int = 5) -> pd.DataFrame:
    radii = np.arange(0, 3 * predicted, predicted / 10)
    rows = [{"readout": "x", "attack": "both", "seed": s, "radius": r,
             "robust_accuracy": float(np.clip(0.5 - (r - ratio * predicted) / predicted, 0, 1))}
            for s in range(seeds) for r in radii]
    return pd.DataFrame(rows)


def test_cliff_and_gap_criteria():
    ratios = claims.cliff_ratios(_rob_table(1.0, 20.0), "x", 20.0)
    assert np.allclose(ratios, 1.0)
    assert all(claims.cliff_decision(ratios, "ρ")[0].values())
    low = claims.cliff_ratios(_rob_table(0.5, 20.0), "x", 20.0)
    assert not any(claims.cliff_decision(low, "ρ")[0].values())
    assert all(claims.gap_decision(np.array([0.2, 0.25, 0.22, 0.21, 0.23]))[0].values())
    assert not any(claims.gap_decision(np.array([0.02, -0.03, 0.01, -0.01, 0.0]))[0].values())


def test_power_false_reproduced_rate_at_the_boundary():
    """Effects exactly on each criterion's boundary, seed noise as in the quick runs (5 seeds):
    the false "reproduced" rate stays at or below 5% over 200 simulated grids per criterion."""
    rng = np.random.default_rng(0)
    seeds, grids = fa.get_profile("quick").seeds, 200
    cases = [
        (lambda v: claims.gap_decision(v)[0], 0.0, 0.02),
        (lambda v: claims.cliff_decision(v, "ρ")[0], claims.CLIFF_BAND[0], 0.02),
        (lambda v: claims.cliff_decision(v, "ρ")[0], claims.CLIFF_BAND[1], 0.02),
        (lambda v: claims.averaging_decision(pd.DataFrame({"gap": v, "spread": np.zeros_like(v)}))[0],
         claims.AVERAGING_TOL, 0.01),
        (lambda v: claims.decoupling_decision(pd.DataFrame({"diagonal": v, "off": np.zeros_like(v)}))[0],
         claims.DIAGONAL_MIN, 0.01),
    ]
    for decide, boundary, sd in cases:
        false = sum(all(decide(boundary + sd * rng.standard_normal(seeds)).values()) for _ in range(grids))
        assert false / grids <= 0.05, (boundary, false)


# ---------------------------------------------------------------- ResNet-18 on images (Figure 3)
def test_module_ensemble_readouts_and_pgd():
    """The ensemble of image classifiers: member k sees x[k] as images; readouts act on its logits;
    the core's PGD accepts it."""
    from cocorr_core.attacks import pgd_attack

    torch.manual_seed(0)
    members = [torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48, 10)) for _ in range(2)]
    ens = ModuleEnsemble(members, (3, 4, 4), 10, chunk=3)
    X = torch.rand(7, 48)
    z = ens(X)
    for k in range(2):
        torch.testing.assert_close(z[k], members[k](X.view(7, 3, 4, 4)))
    torch.testing.assert_close(ens(torch.stack([X, 2 * X]))[1], members[1]((2 * X).view(7, 3, 4, 4)))
    signs = networks.class_signs(10, (0, 2, 4, 6, 8)).float()
    summed = ens.read_as(lambda t: networks.summed_logit(t, signs), 1)
    torch.testing.assert_close(summed(X)[..., 0], z @ signs)
    two = ens.read_as(lambda t: networks.group_max_logits(t, signs > 0), 2)(X)
    assert torch.equal(two.argmax(-1) == 1, z.argmax(-1) % 2 == 0)
    y = (signs[z[0].argmax(-1)] > 0).long()
    _, robust = pgd_attack(two_model := ens.read_as(lambda t: networks.group_max_logits(t, signs > 0), 2),
                           X, y, eps=0.0, steps=2, preprocess=lambda x: x)
    assert robust[0].all() and two_model.n_outputs == 2
    with pytest.raises(ConfigError, match="shape"):
        ens(torch.rand(7, 5))


def test_image_curves_on_a_fake_cifar_tensor():
    """The code path of the CIFAR-10 panel (and of MNIST) end to end on 10 random 32×32 images."""
    g = torch.Generator().manual_seed(0)
    X, c = torch.rand(10, 3, 32, 32, generator=g), torch.arange(10)
    radii = (0.0, 0.4)
    t = experiments.image_curves(X, c, X[:6], c[:6], experiments.POSITIVE["cifar10"], seeds=1,
                                 arch="resnet18", epochs=1, lr=1e-3, batch_size=10, radii=radii,
                                 pgd_steps=2, attack_n=4)
    assert set(t["readout"]) == set(experiments.IMAGE_READOUTS)
    assert set(t["attack"]) == {"PGD", "targeted", "both"} and set(t["radius"]) == set(radii)
    assert len(t) == 3 * 3 * len(radii) and t["clean_accuracy"].between(0, 1).all()
    wide = t.pivot_table(index=["readout", "radius"], columns="attack", values="robust_accuracy")
    assert (wide["both"] <= np.minimum(wide["PGD"], wide["targeted"]) + 1e-12).all()
    for _, g_ in t.groupby(["readout", "attack"]):
        assert (np.diff(g_.sort_values("radius")["robust_accuracy"].to_numpy()) <= 1e-12).all()


def test_cifar_stand_in_is_mnist32_with_cifars_split():
    """The stand-in's images are MNIST-32's, its split is CIFAR-10's, and its name says stand-in."""
    X, c, Xt, ct = experiments.image_data("cifar_stand_in", 20, 10)
    X32, c32 = load_mnist32("train", n=20)
    assert torch.equal(X, X32) and torch.equal(c, c32) and Xt.shape == (10, 3, 32, 32)
    assert experiments.POSITIVE["cifar_stand_in"] == experiments.POSITIVE["cifar10"]
    prof = fa.get_profile("quick")
    assert experiments.image_schedule("cifar_stand_in", prof) == (prof.resnet_epochs, prof.mnist_radii)
    assert experiments.image_schedule("cifar10", prof) == (prof.cifar_epochs, prof.cifar_radii)
    assert fa.sizes_text("quick", "cifar_stand_in").startswith("stand-in for CIFAR-10")


def test_image_runs_reject_bad_input():
    X, c = torch.rand(4, 3, 32, 32), torch.arange(4)
    kw = dict(seeds=1, epochs=1, lr=1e-3, batch_size=4, pgd_steps=1, attack_n=2)
    with pytest.raises(ConfigError, match=r"arch='resnet7'.*resnet18"):
        experiments.image_curves(X, c, X, c, (0, 1), arch="resnet7", radii=(0.0,), **kw)
    with pytest.raises(ConfigError, match=r"radius=-0.1"):
        experiments.image_curves(X, c, X, c, (0, 1), arch="resnet18", radii=(0.0, -0.1), **kw)
    with pytest.raises(ConfigError, match=r"dataset='svhn'.*cifar10"):
        experiments.resnet_table("svhn", "quick")


def _image_table(gap: float, seeds: int, clean: float = 0.995, sd: float = 0.0,
                 seed: int = 0) -> pd.DataFrame:
    """An image_curves table whose 10-class readouts beat the binary model by `gap` (plus seed noise)."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(seeds):
        shift = gap + sd * rng.standard_normal()
        for readout in experiments.IMAGE_READOUTS:
            for attack in ("PGD", "targeted", "both"):
                for r in (0.0, 0.5, 1.0, 1.5):
                    base = max(0.0, 1.0 - 0.4 * r)
                    acc = base if readout == "binary" or r == 0 else min(1.0, base + shift)
                    rows.append({"readout": readout, "attack": attack, "seed": s, "radius": r,
                                 "robust_accuracy": acc, "clean_accuracy": clean})
    return pd.DataFrame(rows)


def test_image_decision_on_known_tables():
    verdict, _, numbers = claims.image_decision(_image_table(0.2, 5, sd=0.02), "mnist")
    assert verdict == "reproduced" and numbers["seeds"] == 5
    assert numbers["gap_sum"].startswith("0.2")
    verdict, _, _ = claims.image_decision(_image_table(0.0, 5, sd=0.03), "mnist")    # null table
    assert verdict != "reproduced"
    verdict, _, _ = claims.image_decision(_image_table(-0.2, 5, sd=0.02), "mnist")   # binary more robust
    assert verdict == "not reproduced"
    # outside the paper's regime: low clean accuracy, or too few seeds
    assert claims.image_decision(_image_table(0.2, 5, clean=0.95), "mnist")[0] == "not run"
    assert claims.image_decision(_image_table(0.2, 5, clean=0.965), "cifar10")[0] == "reproduced"
    assert claims.image_decision(_image_table(0.2, 3), "mnist")[0] == "not run"


def test_power_image_gap_at_the_paper_seeds():
    """A null gap (true effect 0, seed noise) at the paper profile's ResNet seeds: the gap criterion
    says "reproduced" in at most 5% of 400 simulated grids."""
    rng = np.random.default_rng(1)
    seeds = fa.get_profile("paper").resnet_seeds
    assert seeds >= claims.MIN_IMAGE_SEEDS
    false = sum(all(claims.gap_decision(0.03 * rng.standard_normal(seeds))[0].values()) for _ in range(400))
    assert false / 400 <= 0.05, false


def test_cifar_claim_is_not_run_and_ids_are_prefixed():
    assert fa.claim("li25.fig3.cifar10").check("quick").verdict == "not run"
    assert all(c.id.startswith("li25.") for c in fa.CLAIMS)
    assert {c.kind for c in fa.CLAIMS} == {"claim", "check"}
