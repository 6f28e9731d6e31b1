"""Models: q-initialisation statistics, heads, deeper MLPs, ResNet splits, argument checks."""
from __future__ import annotations

import pytest
import torch

from cocorr_core.ground.errors import ConfigError
from cocorr_core.models import MLP, TwoLayerEnsemble, build_resnet, resnet_split

DEVICES = ["cpu",
           pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU"))]


@pytest.mark.parametrize("q", [-0.15, 0.0, 0.25])
def test_init_variance_matches_q_scaling(q):
    m, d = 512, 200
    model = TwoLayerEnsemble.init(d, m, [q], [7], n_classes=10, dtype=torch.float64, device="cpu")
    target = m ** -(1 + 2 * q)
    # the sample variance of N i.i.d. normals has relative sd sqrt(2/N); allow 6 of them
    W = model.W.detach().flatten()
    assert abs(float(W.var()) / target - 1) <= 6 * (2 / W.numel()) ** 0.5
    assert abs(float(W.mean())) <= 6 * (target / W.numel()) ** 0.5
    A = model.A.flatten()
    assert abs(float(A.var()) / target - 1) <= 6 * (2 / A.numel()) ** 0.5


def test_theory_head_is_plus_minus_one_over_sqrt_m():
    m = 300
    model = TwoLayerEnsemble.init(5, m, [0.0, 0.25], [0, 1], head="theory", dtype=torch.float64, device="cpu")
    assert model.A.shape == (2, 1, m)
    assert torch.allclose(model.A.abs(), torch.full_like(model.A, m**-0.5))
    assert 0.35 < float((model.A > 0).double().mean()) < 0.65   # both signs, roughly balanced
    assert torch.allclose(model.A.square().sum(-1), torch.ones(2, 1, dtype=torch.float64))


def test_member_equals_network_built_alone():
    ens = TwoLayerEnsemble.init(8, 16, [0.0, 0.25], [11, 12], dtype=torch.float64, device="cpu")
    alone = TwoLayerEnsemble.init(8, 16, [0.25], [12], dtype=torch.float64, device="cpu")
    assert torch.equal(ens.W.detach()[1], alone.W.detach()[0])
    assert torch.equal(ens.A[1], alone.A[0])


@pytest.mark.parametrize("device", DEVICES)
def test_mlp_one_layer_equals_two_layer_member(device):
    mlp = MLP(12, [20], 4, "relu", 0.25, 5, dtype=torch.float64, device=device)
    ens = TwoLayerEnsemble.init(12, 20, [0.25], [5], n_classes=4, dtype=torch.float64, device=device)
    x = torch.randn(6, 12, dtype=torch.float64, device=device)
    assert torch.allclose(mlp(x), ens(x)[0], rtol=1e-12, atol=1e-14)


def test_mlp_split_composes_and_head_is_frozen():
    mlp = MLP(30, [64, 48, 32], 10, "relu", 0.0, 0, dtype=torch.float64, device="cpu")
    x = torch.randn(4, 30, dtype=torch.float64)
    for cut in (1, 2, 3):
        inner, outer = mlp.split(cut)
        assert torch.allclose(outer(inner(x)), mlp(x))
    assert not mlp.head.weight.requires_grad
    assert all(lin.weight.requires_grad for lin in mlp.hidden_layers)
    big = MLP(100, [400, 300], 10, "relu", 0.25, 1, dtype=torch.float64, device="cpu")
    w2 = big.hidden_layers[1].weight.detach().flatten()
    assert abs(float(w2.var()) / 300 ** -1.5 - 1) <= 6 * (2 / w2.numel()) ** 0.5


def test_resnet_split_forward():
    net = resnet_split("resnet50", cut="stem", n_classes=10, seed=0, device="cpu").eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        z = net.inner(x)
        assert z.shape == (2, 64, 8, 8)
        out = net.outer(z)
        assert out.shape == (2, 10)
        assert torch.allclose(net.full(x), out)
        assert torch.allclose(net(x), out)
    assert not any(p.requires_grad for p in net.outer[-1].parameters())  # frozen fc
    pool = resnet_split("resnet50", cut="pool", seed=0, device="cpu").eval()
    with torch.no_grad():
        assert pool.inner(x).shape == (2, 2048, 1, 1)
        assert torch.allclose(pool(x), out, atol=1e-5)   # same seed, same network, another cut


def test_bad_arguments_raise_config_error():
    with pytest.raises(ConfigError, match="width"):
        TwoLayerEnsemble.init(10, -4, [0.0], [0])
    with pytest.raises(ConfigError, match="activation"):
        TwoLayerEnsemble.init(10, 4, [0.0], [0], activation="tanh")
    with pytest.raises(ConfigError, match="head"):
        TwoLayerEnsemble(torch.zeros(1, 4, 10), torch.zeros(1, 3, 5))
    with pytest.raises(ConfigError, match="widths"):
        MLP(10, [8, -1], 3)
    with pytest.raises(ConfigError, match="activation"):
        MLP(10, [8], 3, activation="gelu")
    with pytest.raises(ConfigError, match="cut_index"):
        MLP(10, [8, 8], 3).split(3)
    with pytest.raises(ConfigError, match=r"cut='middle'.*\('stem', 'pool'\)"):
        resnet_split("resnet50", cut="middle")
    with pytest.raises(ConfigError, match="arch"):
        resnet_split("resnet34")


def test_resnet18_trains_its_classifier_only_when_asked():
    frozen = build_resnet("resnet18", n_classes=2, seed=0, device="cpu")
    free = build_resnet("resnet18", n_classes=2, seed=0, device="cpu", freeze_fc=False)
    assert not any(p.requires_grad for p in frozen.fc.parameters())
    assert all(p.requires_grad for p in free.fc.parameters())
    assert torch.equal(frozen.fc.weight, free.fc.weight)      # same seed, same draw
    assert free(torch.zeros(2, 3, 32, 32)).shape == (2, 2)
