"""Training: a whole ensemble of two-layer networks as one batched computation, and ordinary modules.

`train_ensemble` trains the K members of a `TwoLayerEnsemble` together. The loss that is
differentiated is the sum over members of each member's mean loss on the batch; since members
share no parameters, member k receives exactly the gradient it would receive if trained alone.
All members see the same batches in the same order, so member k of an ensemble equals the same
network trained alone (K = 1) up to floating-point rounding of the batched matmuls.

Optimisers: "gd" (full batch, one plain step per epoch; the theory setting), "sgd" (mini-batches,
plain SGD without momentum or weight decay, as `torch.optim.SGD(lr)` in the authors' code) and
"adam" (`torch.optim.Adam(lr)` with default betas). The authors' data loader was not shuffled,
so `shuffle=False` is the default; `shuffle=True` draws one seeded permutation per epoch, shared
by all members.

Losses: "ce" (cross-entropy on the c logits, integer labels; the code setting) and "bce"
(binary cross-entropy with logits on a single output, labels in {0, 1}; the theory setting).

Divergence: after every step each member's loss and weights are checked for finiteness. A member
that turns non-finite keeps its last finite weights, is frozen (its later updates are masked out),
and the epoch is recorded in `failed_epoch` (0: non-finite already at initialisation); the other
members go on unaffected.

History: a tidy DataFrame with columns epoch, member, metric, value. Epoch 0 is the initialisation.
"train_loss" is, for "sgd"/"adam", the mean of the member's batch losses during the epoch (each
taken before the batch's step, the usual running-loss convention) and at epoch 0 the loss on the
whole training set; for "gd" it is the full-batch loss of the weights reached at the end of the
epoch, so that the value at epoch t belongs to W(t). Whatever `on_epoch(epoch, model)` returns is
recorded at epochs 0..E.

TF32: on Ampere or newer GPUs PyTorch may run float32 matmuls and convolutions in TF32, which keeps
only 10 mantissa bits. Training of the two-layer networks and every `on_epoch` measurement run
inside `exact_float32()`, which switches TF32 off for matmuls and cuDNN and restores the previous
settings afterwards. `train_module` runs its own ResNet steps with the global settings as they are
(cuDNN convolutions may use TF32, PyTorch's default), since the steps are not measurements.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from .ground.devices import exact_float32, resolve_device
from .ground.errors import ConfigError, check_choice, check_range
from .models import PixelSpace, TwoLayerEnsemble

OPTIMIZERS = ("gd", "sgd", "adam")
LOSSES = ("bce", "ce")

OnEpoch = Callable[[int, nn.Module], "dict[str, torch.Tensor | float] | None"]
HISTORY_COLUMNS = ["epoch", "member", "metric", "value"]


@dataclass
class TrainResult:
    """What a training run leaves behind: the trained model, its history and per-member failures."""

    model: nn.Module
    history: pd.DataFrame
    failed_epoch: list[int | None] = field(default_factory=list)

    def metric(self, name: str) -> pd.DataFrame:
        """One metric of the history (epoch, member, metric, value) as a wide table: index epoch,
        one column per member, the metric's values in the cells."""
        h = self.history[self.history["metric"] == name]
        if h.empty:
            known = sorted(self.history["metric"].unique())
            raise ConfigError(f"metric {name!r} is not in the history; recorded metrics: {known}.")
        return h.pivot(index="epoch", columns="member", values="value")


# ---------------------------------------------------------------- losses
def member_losses(logits: torch.Tensor, y: torch.Tensor, loss: str | None = None,
                  reduction: str = "mean") -> torch.Tensor:
    """Loss of every member over its samples: logits (K, n, c), labels (n,) → (K,).

    `loss`: "ce" (cross-entropy, integer labels) or "bce" (BCE with logits on one output, labels
    in {0, 1}); None picks "bce" for one output and "ce" otherwise. `reduction`: "mean" or "sum"
    over the n samples."""
    K, n, c = logits.shape
    loss = loss or ("bce" if c == 1 else "ce")
    if loss == "ce":
        # cross_entropy takes (N, C, d1) inputs with (N, d1) targets: here N = K, d1 = n.
        per = F.cross_entropy(logits.transpose(1, 2), y.expand(K, n), reduction="none")
    else:
        per = F.binary_cross_entropy_with_logits(logits[..., 0], y.to(logits.dtype).expand(K, n),
                                                 reduction="none")
    return per.mean(1) if reduction == "mean" else per.sum(1)


def _check_common(optimizer: str, loss: str, lr: float, batch_size: int, epochs: int) -> None:
    check_choice("optimizer", optimizer, OPTIMIZERS)
    check_choice("loss", loss, LOSSES)
    check_range("lr", lr, lo=0.0, lo_open=True)
    check_range("batch_size", batch_size, lo=1, integer=True)
    check_range("epochs", epochs, lo=0, integer=True)


def check_labels(y: torch.Tensor, n: int, n_outputs: int, device: torch.device, *, loss: str | None = None,
                 dtype: torch.dtype | None = None, name: str = "y") -> torch.Tensor:
    """Labels (n,) checked against a model with `n_outputs` logits and moved to `device`.

    loss None (prediction): integer classes in [0, max(n_outputs, 2) − 1], returned as long.
    loss "ce": integer classes in [0, n_outputs − 1] (n_outputs ≥ 2), long.
    loss "bce": labels in {0, 1} for a single output, returned in `dtype`."""
    y = torch.as_tensor(y)
    if y.ndim != 1 or y.shape[0] != n:
        raise ConfigError(f"{name} must have shape ({n},) to match the inputs; got {tuple(y.shape)}.")
    if loss == "bce":
        if n_outputs != 1:
            raise ConfigError("loss='bce' needs a single-output model (head='theory'); "
                              f"this one has {n_outputs}.")
        y = y.to(device=device, dtype=dtype)
        if n and not bool(((y == 0) | (y == 1)).all()):
            raise ConfigError(f"{name} must hold labels in {{0, 1}} for loss='bce'.")
        return y
    if loss == "ce" and n_outputs < 2:
        raise ConfigError("loss='ce' needs a model with at least 2 outputs; use loss='bce' for one output.")
    if y.is_floating_point() and not torch.equal(y, y.round()):
        what = "for loss='ce'" if loss == "ce" else "(0/1 for a single-output model)"
        raise ConfigError(f"{name} must hold integer class labels {what}.")
    y = y.to(device=device, dtype=torch.long)
    top = n_outputs - 1 if loss == "ce" else max(n_outputs, 2) - 1
    if n and (int(y.min()) < 0 or int(y.max()) > top):
        raise ConfigError(f"{name} has labels outside [0, {top}] for a model with {n_outputs} output(s).")
    return y


def _prepare_inputs(X: torch.Tensor, d: int, device: torch.device, dtype: torch.dtype,
                    name: str = "X") -> torch.Tensor:
    X = torch.as_tensor(X)
    X = X.reshape(X.shape[0], -1) if X.ndim > 2 else X
    if X.ndim != 2 or X.shape[1] != d:
        raise ConfigError(f"{name} must have shape (n, {d}) (or images with {d} pixels); "
                          f"got {tuple(X.shape)}.")
    return X.to(device=device, dtype=dtype)


def _batches(n: int, batch_size: int, perm: torch.Tensor | None) -> list[slice | torch.Tensor]:
    """Index sets of one epoch, in order; the last batch may be smaller (no drop_last)."""
    starts = range(0, n, batch_size)
    if perm is None:
        return [slice(s, min(s + batch_size, n)) for s in starts]
    return [perm[s:s + batch_size] for s in starts]


class _History:
    """Collects (epoch, member, metric, value) rows, one vector of K values at a time."""

    def __init__(self, n_members: int):
        self.K = n_members
        self.epochs: list[np.ndarray] = []
        self.metrics: list[np.ndarray] = []
        self.values: list[np.ndarray] = []

    def add(self, epoch: int, name: str, value: Any) -> None:
        if isinstance(value, torch.Tensor):
            v = value.detach().to("cpu", torch.float64).reshape(-1).numpy()
        else:
            v = np.asarray(value, dtype=np.float64).reshape(-1)
        if v.size == 1:
            v = np.repeat(v, self.K)
        if v.size != self.K:
            raise ConfigError(f"on_epoch value {name!r} has {v.size} entries; "
                              f"expected a float or {self.K} (one per member).")
        self.epochs.append(np.full(self.K, epoch))
        self.metrics.append(np.full(self.K, name, dtype=object))
        self.values.append(v)

    def add_dict(self, epoch: int, values: dict | None) -> None:
        if values is None:
            return
        if not isinstance(values, dict):
            raise ConfigError("on_epoch must return a dict name → Tensor(K,) or float (or None); "
                              f"got {type(values).__name__}.")
        for name, value in values.items():
            self.add(epoch, str(name), value)

    def frame(self) -> pd.DataFrame:
        if not self.values:
            return pd.DataFrame({c: pd.Series(dtype=t) for c, t in
                                 zip(HISTORY_COLUMNS, ("int64", "int64", "object", "float64"))})
        df = pd.DataFrame({
            "epoch": np.concatenate(self.epochs).astype(np.int64),
            "member": np.tile(np.arange(self.K), len(self.values)).astype(np.int64),
            "metric": np.concatenate(self.metrics),
            "value": np.concatenate(self.values),
        })
        return df.sort_values(["epoch", "metric", "member"], kind="stable").reset_index(drop=True)


@torch.no_grad()
def _full_loss(model: TwoLayerEnsemble, X: torch.Tensor, y: torch.Tensor, loss: str,
               chunk: int) -> torch.Tensor:
    """Loss of every member on all of (X, y), evaluated in chunks to bound memory: (K,)."""
    total = torch.zeros(model.n_models, dtype=model.W.dtype, device=X.device)
    for idx in _batches(X.shape[0], chunk, None):
        total += member_losses(model(X[idx]), y[idx], loss) * (idx.stop - idx.start)
    return total / X.shape[0]


# ---------------------------------------------------------------- ensembles
def train_ensemble(model: TwoLayerEnsemble, X: torch.Tensor, y: torch.Tensor, *,
                   optimizer: str = "sgd", loss: str = "ce", lr: float, batch_size: int,
                   epochs: int, shuffle: bool = False, seed: int = 0,
                   on_epoch: OnEpoch | None = None, X_eval: torch.Tensor | None = None,
                   y_eval: torch.Tensor | None = None, eval_chunk: int = 4096,
                   stop_when: Callable[[int, TwoLayerEnsemble], bool] | None = None) -> TrainResult:
    """Train all K members of `model` in place as one batched computation (see the module docstring).

    X: (n, d) or images (n, C, H, W) in the model's input space; y: (n,) labels. Data are moved
    to the model's device and dtype. With `X_eval`, `y_eval` the history also holds "test_loss"
    and "test_accuracy" at every epoch. `on_epoch(epoch, model)` may return a dict of
    name → Tensor(K,) or float; it is called at epoch 0 and after every epoch. `eval_chunk`:
    samples per forward pass of the full-set losses and accuracies. `stop_when(epoch, model)`, called
    after each epoch's record, ends training early when it returns True (e.g. once every member fits).
    Returns a TrainResult: the model, the history (epoch, member, metric, value) and
    `failed_epoch`, one entry per member (None if it never diverged).
    """
    if not isinstance(model, TwoLayerEnsemble):
        raise ConfigError(f"train_ensemble needs a TwoLayerEnsemble; got {type(model).__name__} "
                          "(use train_module).")
    _check_common(optimizer, loss, lr, batch_size, epochs)
    if (X_eval is None) != (y_eval is None):
        raise ConfigError("give both X_eval and y_eval, or neither.")
    W = model.W
    dev, dtype, K = W.device, W.dtype, model.n_models
    X = _prepare_inputs(X, model.in_dim, dev, dtype)
    n = X.shape[0]
    if n == 0:
        raise ConfigError("X is empty; training needs at least one sample.")
    y = check_labels(y, n, model.n_outputs, dev, loss=loss, dtype=dtype)
    if X_eval is not None:
        X_eval = _prepare_inputs(X_eval, model.in_dim, dev, dtype, "X_eval")
        y_eval = check_labels(y_eval, X_eval.shape[0], model.n_outputs, dev, loss=loss, dtype=dtype,
                              name="y_eval")
    if optimizer == "gd":
        batch_size = n
    opt = (torch.optim.Adam([W], lr=lr) if optimizer == "adam" else torch.optim.SGD([W], lr=lr))
    perm_gen = torch.Generator().manual_seed(int(seed))
    history = _History(K)
    active = torch.ones(K, dtype=torch.bool, device=dev)
    failed_at = torch.full((K,), -1, dtype=torch.long, device=dev)

    def record(epoch: int, train_loss: torch.Tensor | None) -> None:
        nonlocal active
        if train_loss is not None:
            history.add(epoch, "train_loss", train_loss)
            if epoch == 0:  # a member that is already non-finite at initialisation never trains
                bad = active & ~(torch.isfinite(train_loss) & torch.isfinite(W.detach()).flatten(1).all(1))
                failed_at.masked_fill_(bad, 0)
                active = active & ~bad
        if X_eval is not None:
            history.add(epoch, "test_loss", _full_loss(model, X_eval, y_eval, loss, eval_chunk))
            history.add(epoch, "test_accuracy", clean_accuracy(model, X_eval, y_eval, batch_size=eval_chunk))
        if on_epoch is not None:
            history.add_dict(epoch, on_epoch(epoch, model))

    with exact_float32():
        record(0, _full_loss(model, X, y, loss, eval_chunk))
        for epoch in range(1, epochs + 1):
            perm = torch.randperm(n, generator=perm_gen).to(dev) if shuffle else None
            loss_sum = torch.zeros(K, dtype=torch.float64, device=dev)
            batches = _batches(n, batch_size, perm)
            for idx in batches:
                per_member = member_losses(model(X[idx]), y[idx], loss)
                loss_sum += per_member.detach()
                ok = active & torch.isfinite(per_member.detach())
                opt.zero_grad(set_to_none=True)
                torch.where(ok, per_member, torch.zeros_like(per_member)).sum().backward()
                # frozen members get a zero gradient (their own may be NaN), so optimiser state stays finite
                W.grad = torch.where(ok[:, None, None], W.grad, torch.zeros_like(W.grad))
                before = W.detach().clone()
                opt.step()
                with torch.no_grad():
                    ok &= torch.isfinite(W).flatten(1).all(1)
                    W.copy_(torch.where(ok[:, None, None], W, before))  # undo the step of frozen members
                failed_at.masked_fill_(active & ~ok, epoch)
                active = ok
            if optimizer == "gd":  # the value at epoch t belongs to W(t)
                epoch_loss = _full_loss(model, X, y, loss, eval_chunk)
                bad = active & ~torch.isfinite(epoch_loss)
                failed_at.masked_fill_(bad, epoch)
                active = active & ~bad
            else:
                epoch_loss = loss_sum / len(batches)
            record(epoch, epoch_loss)
            if stop_when is not None and stop_when(epoch, model):
                break
    failed = [None if e < 0 else int(e) for e in failed_at.tolist()]
    return TrainResult(model=model, history=history.frame(), failed_epoch=failed)


# ---------------------------------------------------------------- predictions
def predict(logits: torch.Tensor) -> torch.Tensor:
    """Class index from logits (…, c) → long (…), e.g. (K, n, c) → (K, n); one output: class 1
    iff the logit is > 0."""
    if logits.shape[-1] == 1:
        return (logits[..., 0] > 0).long()
    return logits.argmax(-1)


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-member accuracy of logits (K, n, c) against labels (n,) → float64 (K,)."""
    return (predict(logits) == y.long()).to(torch.float64).mean(-1)


@torch.no_grad()
def clean_accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor, *,
                   batch_size: int = 4096) -> torch.Tensor:
    """Fraction of correctly classified samples: Tensor(K,) for a `TwoLayerEnsemble` (or a
    `PixelSpace` around one), Tensor(1,) for any other classifier of (n, c) logits. X (n, …) is in
    the model's input space (no preprocessing) and is moved to the model's device and dtype.
    y (n,) integer labels; samples go `batch_size` at a time. Prediction is the argmax for
    c > 1 outputs and `logit > 0` (class 1) for one output. Float64, on the CPU."""
    check_range("batch_size", batch_size, lo=1, integer=True)
    ensemble = model.model if isinstance(model, PixelSpace) else model
    if isinstance(ensemble, TwoLayerEnsemble):  # a TwoLayerEnsemble, or PixelSpace around one
        dev = ensemble.W.device
        X = torch.as_tensor(X).to(device=dev, dtype=ensemble.W.dtype)
        run = model
    else:
        dev = module_device(model)
        X = torch.as_tensor(X).to(device=dev, dtype=module_dtype(model))
        run = lambda x: model(x).reshape(x.shape[0], -1).unsqueeze(0)  # noqa: E731  (1, n, c)
    n = X.shape[0]
    if n == 0:
        raise ConfigError("X is empty; accuracy needs at least one sample.")
    correct = None
    with exact_float32():
        for s in range(0, n, batch_size):
            logits = run(X[s:s + batch_size])
            if correct is None:
                y = check_labels(y, n, logits.shape[-1], dev)
                correct = torch.zeros(logits.shape[0], dtype=torch.long, device=dev)
            correct += (predict(logits) == y[s:s + batch_size]).sum(1)
    return correct.to(torch.float64).cpu() / n


def module_dtype(model: nn.Module) -> torch.dtype:
    """dtype of the module's first floating-point parameter (float32 if it has none)."""
    for t in model.parameters():
        if t.is_floating_point():
            return t.dtype
    return torch.float32


def module_device(model: nn.Module) -> torch.device:
    """Device of the module's first parameter or buffer (the CPU if it has none)."""
    for t in list(model.parameters()) + list(model.buffers()):
        return t.device
    return torch.device("cpu")


# ---------------------------------------------------------------- ordinary modules
def train_module(module: nn.Module, X: torch.Tensor, y: torch.Tensor, *, optimizer: str = "adam",
                 lr: float = 5e-4, batch_size: int = 1024, epochs: int,
                 on_epoch: OnEpoch | None = None, seed: int = 0, shuffle: bool = False,
                 device: str | torch.device = "auto") -> TrainResult:
    """Train an ordinary classifier (e.g. a ResNet with a frozen head) with cross-entropy.

    X (n, …) inputs the module accepts (e.g. images (n, 3, H, W)), y (n,) integer labels;
    optimizer, lr, batch_size, epochs, shuffle, seed as in `train_ensemble`; the module is moved
    to `device`. Only parameters with `requires_grad` are optimised. Batches are moved to the
    device one at a time, so X may stay on the CPU. The module is in train() mode during the steps
    and in eval() mode while `on_epoch` measures (called at epoch 0 and after each epoch), then
    back in train().
    The authors' code called eval() for its measurements and never called train() again, so from
    the second epoch on their BatchNorm layers trained with frozen running statistics; we do not
    reproduce that. If the loss becomes non-finite, training stops and `failed_epoch` = [epoch].
    Returns a TrainResult: the module, the history (epoch, member = 0, metric, value) and
    `failed_epoch` = [epoch or None].
    """
    _check_common(optimizer, "ce", lr, batch_size, epochs)
    dev = resolve_device(device)
    module.to(dev)
    params = [p for p in module.parameters() if p.requires_grad]
    if not params:
        raise ConfigError("the module has no trainable parameters (every requires_grad is False).")
    X = torch.as_tensor(X)
    n = X.shape[0]
    if n == 0:
        raise ConfigError("X is empty; training needs at least one sample.")
    y = torch.as_tensor(y)
    if y.shape != (n,):
        raise ConfigError(f"y must have shape ({n},) to match X; got {tuple(y.shape)}.")
    y = y.long()
    if optimizer == "gd":
        batch_size = n
    opt = torch.optim.Adam(params, lr=lr) if optimizer == "adam" else torch.optim.SGD(params, lr=lr)
    perm_gen = torch.Generator().manual_seed(int(seed))
    history = _History(1)
    failed: int | None = None

    def measure(epoch: int) -> None:
        if on_epoch is None:
            return
        module.eval()
        with exact_float32():
            history.add_dict(epoch, on_epoch(epoch, module))
        module.train()

    measure(0)
    module.train()
    for epoch in range(1, epochs + 1):
        perm = torch.randperm(n, generator=perm_gen) if shuffle else None
        batches = _batches(n, batch_size, perm)
        loss_sum = torch.zeros((), dtype=torch.float64, device=dev)
        for idx in batches:
            xb = X[idx].to(dev, non_blocking=True)
            yb = y[idx].to(dev, non_blocking=True)
            batch_loss = F.cross_entropy(module(xb), yb)
            opt.zero_grad(set_to_none=True)
            batch_loss.backward()
            opt.step()
            loss_sum += batch_loss.detach()
        epoch_loss = float(loss_sum) / len(batches)
        history.add(epoch, "train_loss", epoch_loss)
        if not math.isfinite(epoch_loss):
            failed = epoch
            break
        measure(epoch)
    module.train()
    return TrainResult(model=module, history=history.frame(), failed_epoch=[failed])


# ---------------------------------------------------------------- the theory setting's gradient descent
def bce_loss(u: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Elementwise binary cross-entropy of logits u against labels y in {0, 1}: softplus(u) − y·u.

    u, y broadcast together (e.g. u (K, n), y (n,) → (K, n))."""
    return F.softplus(u) - y * u


class TheoryStep:
    """The state of K stacked networks aᵀσ(Wx) at GD step t, before the update W ← W + η·G.

    Shapes: W (K, m, d), a (K, m), X (n, d). Attributes: `t`, `a`, `u` = aᵀσ(Wx) (K, n),
    `residual` = y − sig(u) (K, n), `loss` = mean BCE (K,), and
    - `direction` G = −∂L/∂W (K, m, d), with L the mean BCE over the n inputs;
    - `pattern` D = σ′(Wx) (K, n, m) (ones for linear networks);
    - for linear networks, `xt` = x̃ = (1/n)Σ(yᵢ − sig(uᵢ))xᵢ (K, d) and `shift` g with
      W = W(0) + a gᵀ (K, d), since G = a x̃ᵀ: the run is kept in this rank-one form, and
      `W` and `direction` are only formed when asked for.
    """

    def __init__(self, t: int, a: torch.Tensor, X: torch.Tensor, *, W: torch.Tensor | None = None,
                 W0: torch.Tensor | None = None, shift: torch.Tensor | None = None,
                 u: torch.Tensor, residual: torch.Tensor, loss: torch.Tensor,
                 pattern: torch.Tensor | None = None, direction: torch.Tensor | None = None,
                 xt: torch.Tensor | None = None):
        self.t, self.a, self.X = t, a, X
        self._W, self.W0, self.shift = W, W0, shift
        self.u, self.residual, self.loss = u, residual, loss
        self._pattern, self._direction, self.xt = pattern, direction, xt

    @property
    def W(self) -> torch.Tensor:
        """W(t) (K, m, d); for linear runs formed on first access as W(0) + a gᵀ."""
        if self._W is None:
            self._W = self.W0 + self.a[:, :, None] * self.shift[:, None, :]
        return self._W

    @property
    def direction(self) -> torch.Tensor:
        """G = −∂L/∂W (K, m, d); for linear runs formed on first access as a x̃ᵀ."""
        if self._direction is None:
            self._direction = self.a[:, :, None] * self.xt[:, None, :]
        return self._direction

    @property
    def pattern(self) -> torch.Tensor:
        """D = σ′(Wx) (K, n, m); all ones for linear runs (made on first access)."""
        if self._pattern is None:
            K, m = self.a.shape
            self._pattern = torch.ones(K, self.X.shape[0], m, dtype=self.a.dtype, device=self.a.device)
        return self._pattern


@torch.no_grad()
def theory_gd(model: TwoLayerEnsemble, X: torch.Tensor, y: torch.Tensor, *, lr: float,
              steps: int) -> Iterator[TheoryStep]:
    """Full-batch gradient descent on the mean BCE in the theory setting: K stacked networks
    aᵀσ(Wx) of `model` (head="theory": a fixed, one output), only W trained, closed-form gradients.

    X (n, d), y (n,) in {0, 1}. Yields a `TheoryStep` for t = 0, 1, ..., steps (the state before
    the update t → t+1; the last one is after `steps` updates). `model.W` is left unchanged.
    Linear networks are iterated in the rank-one form W = W(0) + a gᵀ, exactly as the theorems
    write them (Lemma B.1 of Wang, Min & Ruan 2024), at O(K n d) per step.
    """
    if not isinstance(model, TwoLayerEnsemble) or model.n_outputs != 1:
        raise ConfigError("theory_gd needs a TwoLayerEnsemble with head='theory' (one fixed output).")
    check_range("lr", lr, lo=0.0, lo_open=True)
    check_range("steps", steps, lo=0, integer=True)
    W0 = model.W.detach().clone()
    a = model.A[:, 0, :].clone()
    X = _prepare_inputs(X, model.in_dim, W0.device, W0.dtype)
    y = check_labels(y, X.shape[0], 1, W0.device, loss="bce", dtype=W0.dtype)
    n = X.shape[0]
    if model.activation == "linear":
        c0 = torch.einsum("km,kmd->kd", a, W0)                 # W(0)ᵀa
        aa = (a * a).sum(-1, keepdim=True)
        shift = torch.zeros_like(c0)
        for t in range(steps + 1):
            u = (c0 + aa * shift) @ X.T                        # aᵀ W x_i with W = W(0) + a gᵀ
            residual = y - torch.sigmoid(u)
            xt = residual @ X / n
            yield TheoryStep(t, a, X, W0=W0, shift=shift, u=u, residual=residual,
                             loss=bce_loss(u, y).mean(-1), xt=xt)
            shift = shift + lr * xt
        return
    W = W0
    for t in range(steps + 1):
        Z = torch.einsum("nd,kmd->knm", X, W)
        D = (Z > 0).to(W.dtype)                                # σ′ with σ′(0) = 0, as autograd
        u = (torch.relu(Z) * a[:, None, :]).sum(-1)
        residual = y - torch.sigmoid(u)
        G = ((residual / n)[:, :, None] * D * a[:, None, :]).transpose(1, 2) @ X
        yield TheoryStep(t, a, X, W=W, u=u, residual=residual, loss=bce_loss(u, y).mean(-1),
                         pattern=D, direction=G)
        W = W + lr * G
