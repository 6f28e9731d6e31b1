"""Models: the q-initialised two-layer network (stacked as an ensemble), deeper MLPs, ResNets.

Two-layer network (Wang, Min & Ruan 2024, Eq. 3):  f(x) = A σ(W x), no bias, only W trained.
  W(0) has i.i.d. entries N(0, m^-(1+2q)) (Assumption 5.1; any real q, negative included).
  head "theory": A = aᵀ with a_r ∈ {±1/√m}, one output, fixed.
  head "code":   A is a frozen c×m Gaussian with the same variance as W (the authors' code).
K networks of one width are stored stacked, W: (K, m, d), A: (K, c, m), so training and
measuring an ensemble is a handful of batched matmuls. A single network is K = 1.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .config import ACTIVATIONS, HEADS, ConfigError, check_choice, check_range
from .devices import resolve_device


def init_std(width: int, q: float) -> float:
    """Standard deviation m^-(1+2q)/2 of the q-initialisation."""
    return float(width) ** (-(1.0 + 2.0 * q) / 2.0)


def activate(z: torch.Tensor, activation: str) -> torch.Tensor:
    return torch.relu(z) if activation == "relu" else z


def activation_derivative(z: torch.Tensor, activation: str) -> torch.Tensor:
    """σ'(z). ReLU convention: σ'(0) = 0, as torch autograd does (the paper writes 1{z ≥ 0});
    the two differ only on a set of measure zero."""
    if activation == "relu":
        return (z > 0).to(z.dtype)
    return torch.ones_like(z)


class TwoLayerEnsemble(nn.Module):
    """K two-layer networks f_k(x) = A_k σ(W_k x) of one width, trained and measured together."""

    def __init__(self, W: torch.Tensor, A: torch.Tensor, activation: str = "relu",
                 qs: Sequence[float] | None = None, seeds: Sequence[int] | None = None):
        super().__init__()
        check_choice("activation", activation, ACTIVATIONS)
        if W.ndim != 3:
            raise ConfigError(f"W must have shape (K, m, d); got {tuple(W.shape)}.")
        if A.ndim != 3 or A.shape[0] != W.shape[0] or A.shape[2] != W.shape[1]:
            raise ConfigError(
                f"head A must have shape (K, c, m) = ({W.shape[0]}, c, {W.shape[1]}); got {tuple(A.shape)}."
            )
        self.W = nn.Parameter(W)
        self.register_buffer("A", A)  # frozen head
        self.activation = activation
        self.qs = tuple(float(q) for q in qs) if qs is not None else None
        self.seeds = tuple(int(s) for s in seeds) if seeds is not None else None

    # ------------------------------------------------------------------ construction
    @classmethod
    def init(cls, d: int, width: int, qs: Sequence[float], seeds: Sequence[int], *,
             n_classes: int = 10, head: str = "code", activation: str = "relu",
             dtype: torch.dtype = torch.float32, device: str | torch.device = "auto") -> "TwoLayerEnsemble":
        """Member k is initialised from its own generator seeded with seeds[k], so it is
        bit-identical to a network built alone with the same q and seed."""
        check_range("d", d, lo=1, integer=True)
        check_range("width", width, lo=1, integer=True)
        check_choice("head", head, HEADS)
        check_choice("activation", activation, ACTIVATIONS)
        qs, seeds = list(qs), list(seeds)
        if len(qs) != len(seeds) or not qs:
            raise ConfigError(f"qs and seeds must be non-empty and of one length; got {len(qs)} and {len(seeds)}.")
        if head == "theory":
            n_classes = 1
        check_range("n_classes", n_classes, lo=1, integer=True)
        for q in qs:
            check_range("q", q, lo=-2.0, hi=2.0)
        dev = resolve_device(device)
        Ws, As = [], []
        for q, seed in zip(qs, seeds):
            g = torch.Generator().manual_seed(int(seed))
            std = init_std(width, q)
            Ws.append(torch.randn(width, d, generator=g, dtype=torch.float64) * std)
            if head == "theory":
                signs = torch.randint(0, 2, (1, width), generator=g).to(torch.float64) * 2 - 1
                As.append(signs / width**0.5)
            else:
                As.append(torch.randn(n_classes, width, generator=g, dtype=torch.float64) * std)
        W = torch.stack(Ws).to(device=dev, dtype=dtype)
        A = torch.stack(As).to(device=dev, dtype=dtype)
        return cls(W, A, activation, qs, seeds)

    # ------------------------------------------------------------------ shape facts
    @property
    def n_models(self) -> int:
        return self.W.shape[0]

    @property
    def width(self) -> int:
        return self.W.shape[1]

    @property
    def in_dim(self) -> int:
        return self.W.shape[2]

    @property
    def n_outputs(self) -> int:
        return self.A.shape[1]

    # ------------------------------------------------------------------ maps
    def preactivation(self, x: torch.Tensor) -> torch.Tensor:
        """W x for every member: x (n, d) shared or (K, n, d) per member → (K, n, m)."""
        x = x.reshape(*x.shape[:-3], -1) if x.ndim >= 4 else x  # images (…, C, H, W) → flat
        if x.ndim == 2:
            return torch.einsum("nd,kmd->knm", x, self.W)
        return torch.bmm(x, self.W.transpose(1, 2))

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """σ(W x): (K, n, m)."""
        return activate(self.preactivation(x), self.activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (K, n, c)."""
        return torch.bmm(self.hidden(x), self.A.transpose(1, 2))

    def member(self, k: int) -> "TwoLayerEnsemble":
        """A detached copy of member k as a one-member ensemble."""
        if not 0 <= k < self.n_models:
            raise ConfigError(f"member index {k} is out of range for an ensemble of {self.n_models}.")
        qs = self.qs[k:k + 1] if self.qs else None
        seeds = self.seeds[k:k + 1] if self.seeds else None
        return TwoLayerEnsemble(self.W.detach()[k:k + 1].clone(), self.A[k:k + 1].clone(),
                                self.activation, qs, seeds)

    def as_classifier(self, k: int = 0) -> nn.Module:
        """Member k as an ordinary module x → logits (n, c), e.g. for attack libraries."""
        return _MemberView(self, k)


class _MemberView(nn.Module):
    def __init__(self, ensemble: TwoLayerEnsemble, k: int):
        super().__init__()
        self.ensemble, self.k = ensemble, k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], -1)
        W = self.ensemble.W[self.k]
        A = self.ensemble.A[self.k]
        return activate(x @ W.T, self.ensemble.activation) @ A.T
