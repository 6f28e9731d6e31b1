"""Batched ensemble training equals separate training; divergence, history and errors."""
from __future__ import annotations

import math

import pandas as pd
import pytest
import torch
from torch import nn

from cocorr_core.ground.errors import ConfigError
from cocorr_core.models import TwoLayerEnsemble
from cocorr_core.training import TrainResult, train_ensemble, train_module

QS = (0.0, 0.25, -0.15)
SEEDS = (11, 12, 13)
D, WIDTH, N = 12, 16, 70          # 70 samples in batches of 32: the last batch is partial


def _data(loss: str, dtype=torch.float64):
    g = torch.Generator().manual_seed(0)
    X = torch.rand(N, D, generator=g, dtype=torch.float64).to(dtype)
    score = X[:, :3].sum(1) - X[:, 3:6].sum(1)
    if loss == "bce":
        return X, (score > 0).to(dtype)
    return X, (score > 0.5).long() + (score > -0.5).long()          # 3 classes


def _model(loss: str, qs=QS, seeds=SEEDS, dtype=torch.float64, device="cpu"):
    head = "theory" if loss == "bce" else "code"
    return TwoLayerEnsemble.init(D, WIDTH, qs, seeds, n_classes=3, head=head, dtype=dtype, device=device)


def _measure(epoch: int, model: TwoLayerEnsemble) -> dict:
    return {"w_norm": model.W.detach().flatten(1).norm(dim=1), "const": 1.5}


def _lr(optimizer: str) -> float:
    return 0.01 if optimizer == "adam" else 0.5


RUN = dict(batch_size=32, epochs=3)


@pytest.mark.parametrize("optimizer,loss,shuffle", [
    ("sgd", "ce", False), ("gd", "ce", False), ("adam", "ce", False),
    ("sgd", "bce", False), ("gd", "bce", False), ("adam", "bce", True), ("sgd", "ce", True),
])
def test_ensemble_matches_separate_runs(optimizer, loss, shuffle, device):
    X, y = _data(loss)
    ens = _model(loss, device=device)
    res = train_ensemble(ens, X, y, optimizer=optimizer, loss=loss, lr=_lr(optimizer), shuffle=shuffle,
                         seed=5, on_epoch=_measure, **RUN)
    assert res.failed_epoch == [None, None, None]
    for k, (q, seed) in enumerate(zip(QS, SEEDS)):
        alone = _model(loss, qs=[q], seeds=[seed], device=device)
        res1 = train_ensemble(alone, X, y, optimizer=optimizer, loss=loss, lr=_lr(optimizer),
                              shuffle=shuffle, seed=5, on_epoch=_measure, **RUN)
        torch.testing.assert_close(ens.W[k].detach(), alone.W[0].detach(), rtol=0, atol=1e-10)
        h_k = res.history[res.history.member == k].drop(columns="member").reset_index(drop=True)
        h_1 = res1.history.drop(columns="member").reset_index(drop=True)
        pd.testing.assert_frame_equal(h_k, h_1, check_exact=False, rtol=0, atol=1e-10)
    # training moved the weights and lowered every member's loss
    loss_table = res.metric("train_loss")
    assert (loss_table.loc[3] < loss_table.loc[0]).all()


def test_float32_ensemble_matches_separate_runs():
    X, y = _data("ce", torch.float32)
    ens = _model("ce", dtype=torch.float32)
    train_ensemble(ens, X, y, optimizer="sgd", loss="ce", lr=0.5, **RUN)
    for k, (q, seed) in enumerate(zip(QS, SEEDS)):
        alone = _model("ce", qs=[q], seeds=[seed], dtype=torch.float32)
        train_ensemble(alone, X, y, optimizer="sgd", loss="ce", lr=0.5, **RUN)
        torch.testing.assert_close(ens.W[k].detach(), alone.W[0].detach(), rtol=0, atol=1e-5)


def test_history_layout_and_on_epoch_calls():
    X, y = _data("ce")
    seen = []

    def on_epoch(epoch, model):
        seen.append(epoch)
        assert model is ens
        return {"w_norm": model.W.detach().flatten(1).norm(dim=1)}

    ens = _model("ce")
    res = train_ensemble(ens, X, y, optimizer="sgd", loss="ce", lr=0.5, batch_size=32, epochs=4,
                         on_epoch=on_epoch, X_eval=X, y_eval=y)
    assert isinstance(res, TrainResult)
    assert seen == [0, 1, 2, 3, 4]
    assert list(res.history.columns) == ["epoch", "member", "metric", "value"]
    assert set(res.history.metric) == {"train_loss", "w_norm", "test_loss", "test_accuracy"}
    counts = res.history.groupby("metric").size()
    assert (counts == 5 * 3).all()          # epochs 0..4, three members
    # epoch 0 is the initialisation: full-data loss of the initial weights
    init = _model("ce")
    with torch.no_grad():
        ce0 = nn.functional.cross_entropy(init(X)[1], y)
    assert math.isclose(res.metric("train_loss").loc[0, 1], float(ce0), rel_tol=1e-12)
    # the test loss on the training data at the last epoch is the loss of the final weights
    with torch.no_grad():
        ce_end = nn.functional.cross_entropy(ens(X)[2], y)
    assert math.isclose(res.metric("test_loss").loc[4, 2], float(ce_end), rel_tol=1e-12)


def test_gd_train_loss_belongs_to_the_weights_of_the_epoch():
    X, y = _data("bce")
    ens = _model("bce")
    res = train_ensemble(ens, X, y, optimizer="gd", loss="bce", lr=0.5, batch_size=1, epochs=2)
    with torch.no_grad():
        final = nn.functional.binary_cross_entropy_with_logits(ens(X)[0, :, 0], y)
    assert math.isclose(res.metric("train_loss").loc[2, 0], float(final), rel_tol=1e-12)


def test_deterministic_reruns():
    X, y = _data("ce", torch.float32)
    runs = []
    for _ in range(2):
        ens = _model("ce", dtype=torch.float32)
        res = train_ensemble(ens, X, y, optimizer="adam", loss="ce", lr=0.01, batch_size=16, epochs=2,
                             shuffle=True, seed=3, on_epoch=_measure)
        runs.append((ens.W.detach().clone(), res.history))
    assert torch.equal(runs[0][0], runs[1][0])
    pd.testing.assert_frame_equal(runs[0][1], runs[1][1], check_exact=True)


def test_shuffle_changes_the_batches():
    X, y = _data("ce")
    a, b = _model("ce"), _model("ce")
    train_ensemble(a, X, y, optimizer="sgd", loss="ce", lr=0.5, batch_size=16, epochs=1, shuffle=False)
    train_ensemble(b, X, y, optimizer="sgd", loss="ce", lr=0.5, batch_size=16, epochs=1, shuffle=True)
    assert not torch.allclose(a.W, b.W)


def _separate(loss, k, optimizer, lr, epochs, **kw):
    alone = _model(loss, qs=[QS[k]], seeds=[SEEDS[k]])
    X, y = _data(loss)
    train_ensemble(alone, X, y, optimizer=optimizer, loss=loss, lr=lr, batch_size=32, epochs=epochs, **kw)
    return alone.W[0].detach()


def test_member_non_finite_at_init_is_frozen_and_others_train():
    X, y = _data("ce")
    ens = _model("ce")
    with torch.no_grad():
        ens.W[1, 0, 0] = float("inf")
    start = ens.W.detach().clone()
    res = train_ensemble(ens, X, y, optimizer="adam", loss="ce", lr=0.01, batch_size=32, epochs=3)
    assert res.failed_epoch == [None, 0, None]
    assert torch.equal(ens.W[1].detach(), start[1])
    for k in (0, 2):
        torch.testing.assert_close(ens.W[k].detach(), _separate("ce", k, "adam", 0.01, 3), rtol=0, atol=1e-10)


def test_member_corrupted_during_training_fails_at_that_epoch():
    X, y = _data("ce")

    def corrupt(epoch, model):  # overflow member 1 after epoch 1: its next step sees a non-finite loss
        if epoch == 1:
            with torch.no_grad():
                model.W[1] *= float("inf")
        return None

    ens = _model("ce")
    res = train_ensemble(ens, X, y, optimizer="sgd", loss="ce", lr=0.5, batch_size=32, epochs=4,
                         on_epoch=corrupt)
    assert res.failed_epoch == [None, 2, None]
    for k in (0, 2):
        torch.testing.assert_close(ens.W[k].detach(), _separate("ce", k, "sgd", 0.5, 4), rtol=0, atol=1e-10)
    losses = res.metric("train_loss")
    assert losses[[0, 2]].map(math.isfinite).all().all()


@pytest.mark.parametrize("optimizer", ["gd", "sgd"])
def test_step_that_overflows_is_undone(optimizer):
    """A huge head makes member 1's gradient ~1e200; with lr 1e150 its step overflows to inf,
    while member 0's step (gradient O(1)) stays finite."""
    X, y = _data("ce")
    ens = _model("ce", qs=QS[:2], seeds=SEEDS[:2])
    with torch.no_grad():
        ens.A[1] *= 1e200
    start = ens.W.detach().clone()
    res = train_ensemble(ens, X, y, optimizer=optimizer, loss="ce", lr=1e150, batch_size=32, epochs=1)
    assert res.failed_epoch == [None, 1]
    assert torch.equal(ens.W[1].detach(), start[1])           # the overflowing step was masked out
    assert torch.isfinite(ens.W).all()
    torch.testing.assert_close(ens.W[0].detach(), _separate("ce", 0, optimizer, 1e150, 1), rtol=1e-12, atol=0)


def test_bad_names_and_inputs_raise_config_error():
    X, y = _data("ce")
    ens = _model("ce")
    with pytest.raises(ConfigError, match="optimizer"):
        train_ensemble(ens, X, y, optimizer="rmsprop", loss="ce", lr=0.1, batch_size=8, epochs=1)
    with pytest.raises(ConfigError, match="loss"):
        train_ensemble(ens, X, y, optimizer="sgd", loss="mse", lr=0.1, batch_size=8, epochs=1)
    with pytest.raises(ConfigError, match="single-output"):
        train_ensemble(ens, X, y.double(), optimizer="sgd", loss="bce", lr=0.1, batch_size=8, epochs=1)
    with pytest.raises(ConfigError, match="labels outside"):
        train_ensemble(ens, X, y + 5, optimizer="sgd", loss="ce", lr=0.1, batch_size=8, epochs=1)
    with pytest.raises(ConfigError, match="lr"):
        train_ensemble(ens, X, y, optimizer="sgd", loss="ce", lr=0.0, batch_size=8, epochs=1)
    with pytest.raises(ConfigError, match="shape"):
        train_ensemble(ens, X[:, :5], y, optimizer="sgd", loss="ce", lr=0.1, batch_size=8, epochs=1)
    with pytest.raises(ConfigError, match="on_epoch value"):
        train_ensemble(ens, X, y, optimizer="sgd", loss="ce", lr=0.1, batch_size=8, epochs=1,
                       on_epoch=lambda e, m: {"bad": torch.zeros(2)})


def test_train_module_matches_ensemble_and_switches_modes():
    X, y = _data("ce")
    a, b = _model("ce", qs=[0.0], seeds=[1]), _model("ce", qs=[0.0], seeds=[1])
    modes = []

    def on_epoch(epoch, module):
        modes.append(module.training)
        return {"w_norm": float(a.W.detach().norm())}

    net = a.as_classifier(0)
    res = train_module(net, X, y, optimizer="sgd", lr=0.5, batch_size=32, epochs=3, on_epoch=on_epoch,
                       device="cpu")
    res_b = train_ensemble(b, X, y, optimizer="sgd", loss="ce", lr=0.5, batch_size=32, epochs=3)
    torch.testing.assert_close(a.W.detach(), b.W.detach(), rtol=0, atol=1e-10)
    assert modes == [False] * 4 and net.training
    assert res.failed_epoch == [None] and set(res.history.member) == {0}
    ours = res.metric("train_loss").loc[1:, 0].to_numpy()
    theirs = res_b.metric("train_loss").loc[1:, 0].to_numpy()
    assert ours == pytest.approx(theirs, rel=1e-10)
    assert list(res.metric("w_norm").index) == [0, 1, 2, 3]


def test_train_module_with_batchnorm_updates_running_stats():
    torch.manual_seed(0)
    X, y = _data("ce", torch.float32)
    net = nn.Sequential(nn.Linear(D, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    before = net[1].running_mean.clone()
    res = train_module(net, X, y, lr=1e-2, batch_size=32, epochs=2, device="cpu",
                       on_epoch=lambda e, m: {"frozen_bn": float(not m[1].training)})
    assert not torch.equal(before, net[1].running_mean)
    assert (res.metric("frozen_bn")[0] == 1.0).all()
    with pytest.raises(ConfigError, match="optimizer"):
        train_module(net, X, y, optimizer="lbfgs", epochs=1, device="cpu")


@pytest.mark.parametrize("activation", ["linear", "relu"])
def test_theory_gd_matches_the_trainer_in_float64(activation):
    """The closed-form GD of the theory setting equals autograd GD of the one training loop."""
    from cocorr_core.training import theory_gd

    g = torch.Generator().manual_seed(9)
    X = torch.randn(30, 12, generator=g, dtype=torch.float64)
    X = X / X.norm(dim=1, keepdim=True)
    y = (torch.rand(30, generator=g) > 0.5).to(torch.float64)
    model = TwoLayerEnsemble.init(12, 10, [0.0, 0.25], [0, 1], head="theory", activation=activation,
                                  dtype=torch.float64, device="cpu")
    steps = list(theory_gd(model, X, y, lr=0.7, steps=6))
    assert [s.t for s in steps] == list(range(7))
    res = train_ensemble(model, X, y, optimizer="gd", loss="bce", lr=0.7, batch_size=30, epochs=6)
    torch.testing.assert_close(steps[-1].W, model.W.detach(), rtol=1e-12, atol=1e-14)
    losses = torch.tensor(res.metric("train_loss").to_numpy())          # (epochs + 1, K)
    torch.testing.assert_close(torch.stack([s.loss for s in steps]), losses, rtol=1e-12, atol=0)


def test_theory_gd_direction_is_minus_the_autograd_gradient():
    from cocorr_core.training import bce_loss, theory_gd

    g = torch.Generator().manual_seed(3)
    X = torch.randn(20, 7, generator=g, dtype=torch.float64)
    y = (torch.rand(20, generator=g) > 0.5).to(torch.float64)
    for activation in ("linear", "relu"):
        model = TwoLayerEnsemble.init(7, 5, [0.1], [2], head="theory", activation=activation,
                                      dtype=torch.float64, device="cpu")
        step = next(theory_gd(model, X, y, lr=0.1, steps=0))
        W = model.W.detach().clone().requires_grad_(True)
        Z = torch.einsum("nd,kmd->knm", X, W)
        u = ((torch.relu(Z) if activation == "relu" else Z) * model.A[:, 0, None, :]).sum(-1)
        (grad,) = torch.autograd.grad(bce_loss(u, y).mean(-1).sum(), W)
        torch.testing.assert_close(step.direction, -grad, rtol=1e-12, atol=1e-15)


def test_theory_gd_refuses_a_code_head():
    from cocorr_core.training import theory_gd

    model = TwoLayerEnsemble.init(4, 3, [0.0], [0], head="code", activation="relu", device="cpu")
    with pytest.raises(ConfigError, match="head='theory'"):
        next(theory_gd(model, torch.zeros(2, 4), torch.zeros(2), lr=0.1, steps=1))


def test_stop_when_ends_training_after_the_epoch_it_returns_true():
    import torch

    from cocorr_core.models import TwoLayerEnsemble
    from cocorr_core.training import train_ensemble
    X = torch.randn(64, 5, generator=torch.Generator().manual_seed(0))
    y = (X[:, 0] > 0).long()
    seen = []
    model = TwoLayerEnsemble.init(5, 8, [0.0, 0.0], [0, 1], head="code", activation="relu")
    result = train_ensemble(model, X, y, lr=0.1, batch_size=64, epochs=10,
                            stop_when=lambda epoch, m: seen.append(epoch) or epoch == 3)
    assert seen == [1, 2, 3]
    assert result.history["epoch"].max() == 3
