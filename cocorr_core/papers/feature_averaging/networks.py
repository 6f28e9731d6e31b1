"""The two networks of Li et al. (2025) and their training.

Binary network (Sec. 3.2): f(x) = (1/m) Σ_r ReLU(⟨w₊,r, x⟩ + b₊,r) − (1/m) Σ_r ReLU(⟨w₋,r, x⟩ + b₋,r),
second layer fixed at ±1/m, first layer and biases trained by full-batch GD on the logistic loss from
a small initialisation. k-class network: f_j(x) = (1/h) Σ_r ReLU(⟨w_j,r, x⟩ + b_j,r), one sub-network
per cluster, trained with cross-entropy on the cluster labels.

Both are `models.BiasedTwoLayerEnsemble`s with one member per seed; a member may train on its own
data (inputs (K, n, d)), so all seeds are one batched computation. The k-class network is read as a
binary classifier in two ways: the summed logits Σ_{J₊} f_j − Σ_{J₋} f_j (a fixed head, so again a
`BiasedTwoLayerEnsemble`) and the argmax (the class of the largest logit, `GroupMaxReadout`).

On images (Figure 3's MNIST and CIFAR-10 panels) the networks are ResNet-18s, one per seed, gathered
in a `models.ModuleEnsemble` so that the same attacks and readouts apply to them.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ...ground.devices import exact_float32
from ...ground.errors import ConfigError, check_choice, check_range
from ...models import BiasedTwoLayerEnsemble, Ensemble
from ...training import member_losses

OPTIMIZERS = ("gd", "adam")


def signed_head(m: int) -> torch.Tensor:
    """The binary network's fixed second layer (1, 2m): +1/m for the first m neurons, −1/m for the rest."""
    check_range("m", m, lo=1, integer=True)
    return torch.cat([torch.full((m,), 1.0 / m), torch.full((m,), -1.0 / m)]).to(torch.float64)[None]


def block_head(k: int, h: int) -> torch.Tensor:
    """The k-class network's fixed second layer (k, k·h): logit j averages its own h neurons."""
    check_range("k", k, lo=2, integer=True)
    check_range("h", h, lo=1, integer=True)
    return torch.kron(torch.eye(k, dtype=torch.float64), torch.full((1, h), 1.0 / h))


def class_signs(k: int, positive: Sequence[int]) -> torch.Tensor:
    """(k,) float64: +1 for the clusters in J₊, −1 for the others."""
    signs = -torch.ones(k, dtype=torch.float64)
    signs[list(positive)] = 1.0
    return signs


def summed_readout(net: BiasedTwoLayerEnsemble, signs: torch.Tensor) -> BiasedTwoLayerEnsemble:
    """The binary classifier Σ_j s_j f_j(x) of a k-class network (s_j = ±1, (k,)): one logit."""
    if signs.shape != (net.n_outputs,):
        raise ConfigError(f"signs must have shape ({net.n_outputs},); got {tuple(signs.shape)}.")
    return net.with_head(signs.to(net.A)[None, None, :] @ net.A)


def group_max_logits(z: torch.Tensor, positive: torch.Tensor) -> torch.Tensor:
    """The argmax readout as two logits: z (..., k), positive bool (k,) → (..., 2) =
    (max_{J₋} z_j, max_{J₊} z_j), so class 1 (label +1) wins when the largest logit is in J₊."""
    neg = z.masked_fill(positive, float("-inf")).amax(-1)
    pos = z.masked_fill(~positive, float("-inf")).amax(-1)
    return torch.stack([neg, pos], dim=-1)


def summed_logit(z: torch.Tensor, signs: torch.Tensor) -> torch.Tensor:
    """The summed readout Σ_j s_j z_j as one logit: z (..., k), signs (k,) → (..., 1)."""
    return (z @ signs.to(z))[..., None]


class GroupMaxReadout(BiasedTwoLayerEnsemble):
    """The argmax readout of a k-class network as two logits (max_{J₋} f_j, max_{J₊} f_j): class 1
    (label +1) wins exactly when the largest logit belongs to J₊. Shares no state with `net`."""

    def __init__(self, net: BiasedTwoLayerEnsemble, signs: torch.Tensor):
        super().__init__(net.W.detach(), net.b.detach(), net.A.clone(), net.activation, net.seeds)
        if signs.shape != (net.n_outputs,) or not bool(((signs == 1) | (signs == -1)).all()):
            raise ConfigError(f"signs must be ±1 of shape ({net.n_outputs},).")
        self.register_buffer("positive", signs > 0)

    @property
    def n_outputs(self) -> int:
        return 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (n, d) or (K, n, d) → (K, n, 2)."""
        return group_max_logits(super().forward(x), self.positive)


def fit(
    model: BiasedTwoLayerEnsemble,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    loss: str,
    lr: float,
    steps: int,
    optimizer: str = "gd",
    batch_size: int | None = None,
    seed: int = 0,
    record: Sequence[int] = (),
) -> list[tuple[int, torch.Tensor, torch.Tensor]]:
    """Train W and b of every member in place; returns [(step, W, b)] copies at the steps in `record`.

    X: (n, d) shared or (K, n, d) one data set per member; y: (n,) or (K, n) labels (0/1 for
    loss "bce", the logistic loss of ±1 labels; cluster indices for "ce"). optimizer "gd": `steps`
    full-batch steps W ← W − lr ∇L (L the mean loss); "adam": `steps` epochs of mini-batches of
    `batch_size` in one seeded order per epoch shared by the members. Each member's loss is its own
    mean, so member k gets the gradient it would get alone.
    """
    check_choice("optimizer", optimizer, OPTIMIZERS)
    check_choice("loss", loss, ("bce", "ce"))
    check_range("lr", lr, lo=0.0, lo_open=True)
    check_range("steps", steps, lo=0, integer=True)
    K = model.n_models
    if X.shape[-1] != model.in_dim or X.ndim not in (2, 3) or (X.ndim == 3 and X.shape[0] != K):
        raise ConfigError(
            f"X must have shape (n, {model.in_dim}) or ({K}, n, {model.in_dim}); got {tuple(X.shape)}."
        )
    n = X.shape[-2]
    if y.shape[-1] != n:
        raise ConfigError(f"y must hold {n} labels per member; got shape {tuple(y.shape)}.")
    X = X.to(model.W)
    y = y.to(model.W.device)
    y = y.to(model.W.dtype) if loss == "bce" else y.long()
    params = [model.W, model.b]
    opt = torch.optim.Adam(params, lr=lr) if optimizer == "adam" else torch.optim.SGD(params, lr=lr)
    size = n if optimizer == "gd" or batch_size is None else batch_size
    gen = torch.Generator().manual_seed(int(seed))
    snapshots = []

    def keep(step: int) -> None:
        if step in record:
            snapshots.append((step, model.W.detach().clone(), model.b.detach().clone()))

    with exact_float32():
        keep(0)
        for step in range(1, steps + 1):
            order = torch.randperm(n, generator=gen).to(X.device) if size < n else None
            for s in range(0, n, size):
                idx = slice(s, s + size) if order is None else order[s : s + size]
                xb = X[idx] if X.ndim == 2 else X[:, idx]
                yb = y[..., idx]
                opt.zero_grad(set_to_none=True)
                member_losses(model(xb), yb, loss).sum().backward()
                opt.step()
            keep(step)
    return snapshots


def cosines(W: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """cos(μ_j, w_r) for every member: W (K, M, d), centres (k, d) → (K, k, M), float64."""
    W = W.to(torch.float64)
    C = centres.to(W)
    num = torch.einsum("jd,kmd->kjm", C, W)
    return num / (C.norm(dim=-1)[None, :, None] * W.norm(dim=-1)[:, None, :]).clamp_min(1e-300)


@torch.no_grad()
def binary_accuracy(model: Ensemble, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Fraction of ±1 labels y (n,) that the members get right: logit > 0 ⇒ +1 (argmax for two
    logits). X (n, d) or (K, n, d) → (K,) float64."""
    with exact_float32():
        z = model(X.to(device=model.device, dtype=model.dtype))
    pred = (z[..., 0] > 0) if z.shape[-1] == 1 else (z.argmax(-1) == 1)
    return (pred == (y.to(z.device) > 0)).to(torch.float64).mean(-1).cpu()
