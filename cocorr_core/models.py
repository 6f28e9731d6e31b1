"""Models: the q-initialised two-layer network (stacked as an ensemble), deeper MLPs, ResNets.

Two-layer network (Wang, Min & Ruan 2024, Eq. 3):  f(x) = A σ(W x), no bias, only W trained.
  W(0) has i.i.d. entries N(0, m^-(1+2q)) (Assumption 5.1; any real q, negative included).
  head "theory": A = aᵀ with a_r ∈ {±1/√m}, one output, fixed.
  head "code":   A is a frozen c×m Gaussian with the same variance as W (the authors' code).
K networks of one width are stored stacked, W: (K, m, d), A: (K, c, m), so training and
measuring an ensemble is a handful of batched matmuls. A single network is K = 1.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from .ground.devices import resolve_device
from .ground.errors import ConfigError, check_choice, check_range

ACTIVATIONS = ("linear", "relu")
HEADS = ("theory", "code")
RESNET_ARCHS = ("resnet18", "resnet50", "wide_resnet50_2")
MODELS = ("two_layer", *RESNET_ARCHS)


def init_std(width: int, q: float) -> float:
    """Standard deviation m^-(1+2q)/2 of the q-initialisation: width m, exponent q → float."""
    return float(width) ** (-(1.0 + 2.0 * q) / 2.0)


def activate(z: torch.Tensor, activation: str) -> torch.Tensor:
    """σ(z) elementwise: ReLU for "relu", the identity for "linear".
    z of any shape (e.g. (K, n, m)) → same shape."""
    return torch.relu(z) if activation == "relu" else z


def activation_derivative(z: torch.Tensor, activation: str) -> torch.Tensor:
    """σ'(z) elementwise: 0/1 for "relu", ones for "linear"; z of any shape (e.g. (K, n, m)) → same
    shape and dtype.

    ReLU convention: σ'(0) = 0, as torch autograd does (the paper writes 1{z ≥ 0});
    the two differ only on a set of measure zero."""
    if activation == "relu":
        return (z > 0).to(z.dtype)
    return torch.ones_like(z)


class Ensemble(nn.Module):
    """K classifiers evaluated together: x (n, d) shared or (K, n, d) per member (images flattened)
    → logits (K, n, c). The attacks (`attacks.pgd_attack`) accept any Ensemble."""

    n_models: int
    in_dim: int
    n_outputs: int

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype


class TwoLayerEnsemble(Ensemble):
    """K two-layer networks f_k(x) = A_k σ(W_k x) of one width, trained and measured together.

    W (K, m, d) is the trained parameter, A (K, c, m) the frozen head (a buffer); `activation`
    is "relu" or "linear"; `qs`, `seeds` (one per member, optional) record how each was built.
    """

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
             dtype: torch.dtype = torch.float32, device: str | torch.device = "auto") -> TwoLayerEnsemble:
        """K = len(qs) q-initialised networks on d inputs: W (K, m, d), A (K, c, m), m = width.

        head "code": A Gaussian with c = n_classes; head "theory": c = 1, entries ±1/√m.
        Member k is initialised from its own generator seeded with seeds[k], so it is
        bit-identical to a network built alone with the same q and seed. Tensors are made in
        float64, then cast to `dtype` on `device`."""
        check_range("d", d, lo=1, integer=True)
        check_range("width", width, lo=1, integer=True)
        check_choice("head", head, HEADS)
        check_choice("activation", activation, ACTIVATIONS)
        qs, seeds = list(qs), list(seeds)
        if len(qs) != len(seeds) or not qs:
            raise ConfigError("qs and seeds must be non-empty and of one length; "
                              f"got {len(qs)} and {len(seeds)}.")
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
        """K, the number of members."""
        return self.W.shape[0]

    @property
    def width(self) -> int:
        """m, the hidden width."""
        return self.W.shape[1]

    @property
    def in_dim(self) -> int:
        """d, the input dimension."""
        return self.W.shape[2]

    @property
    def n_outputs(self) -> int:
        """c, the number of logits (1 for the theory head)."""
        return self.A.shape[1]

    # ------------------------------------------------------------------ maps
    def preactivation(self, x: torch.Tensor) -> torch.Tensor:
        """W x for every member: x (n, d) shared or (K, n, d) per member → (K, n, m)."""
        x = x.reshape(*x.shape[:-3], -1) if x.ndim >= 4 else x  # images (…, C, H, W) → flat
        if x.ndim == 2:
            return torch.einsum("nd,kmd->knm", x, self.W)
        return torch.bmm(x, self.W.transpose(1, 2))

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """σ(W x): x as in `preactivation` → (K, n, m)."""
        return activate(self.preactivation(x), self.activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits A σ(W x): x (n, d) shared or (K, n, d) per member (images flattened) → (K, n, c)."""
        return torch.bmm(self.hidden(x), self.A.transpose(1, 2))

    def member(self, k: int) -> TwoLayerEnsemble:
        """A detached copy of member k (0 ≤ k < K) as a one-member ensemble: W (1, m, d), A (1, c, m)."""
        if not 0 <= k < self.n_models:
            raise ConfigError(f"member index {k} is out of range for an ensemble of {self.n_models}.")
        qs = self.qs[k:k + 1] if self.qs else None
        seeds = self.seeds[k:k + 1] if self.seeds else None
        return TwoLayerEnsemble(self.W.detach()[k:k + 1].clone(), self.A[k:k + 1].clone(),
                                self.activation, qs, seeds)

    def as_classifier(self, k: int = 0) -> nn.Module:
        """Member k as an ordinary module x (n, d) (or images, flattened) → logits (n, c), e.g. for
        attack libraries; it shares the ensemble's parameters."""
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


class BiasedTwoLayerEnsemble(TwoLayerEnsemble):
    """K two-layer networks f_k(x) = A_k σ(W_k x + b_k) with a fixed head: W (K, m, d) and the
    biases b (K, m) are trained, A (K, c, m) is a frozen buffer (the fixed-second-layer networks
    of the multi-cluster analyses, e.g. heads ±1/m)."""

    def __init__(self, W: torch.Tensor, b: torch.Tensor, A: torch.Tensor, activation: str = "relu",
                 seeds: Sequence[int] | None = None):
        super().__init__(W, A, activation, seeds=seeds)
        if b.shape != W.shape[:2]:
            raise ConfigError(f"biases b must have shape (K, m) = {tuple(W.shape[:2])}; "
                              f"got {tuple(b.shape)}.")
        self.b = nn.Parameter(b)

    @classmethod
    def small_init(cls, d: int, head: torch.Tensor, seeds: Sequence[int], *, std: float,
                   activation: str = "relu", dtype: torch.dtype = torch.float32,
                   device: str | torch.device = "auto") -> BiasedTwoLayerEnsemble:
        """One member per seed: W and b with i.i.d. N(0, std²) entries (drawn in float64 from a
        generator seeded with the member's seed), the same fixed head (c, m) for every member."""
        check_range("d", d, lo=1, integer=True)
        check_range("std", std, lo=0.0)
        if head.ndim != 2:
            raise ConfigError(f"head must have shape (c, m); got {tuple(head.shape)}.")
        seeds = list(seeds)
        if not seeds:
            raise ConfigError("seeds must list at least one seed.")
        m = head.shape[1]
        Ws, bs = [], []
        for seed in seeds:
            g = torch.Generator().manual_seed(int(seed))
            Ws.append(torch.randn(m, d, generator=g, dtype=torch.float64) * std)
            bs.append(torch.randn(m, generator=g, dtype=torch.float64) * std)
        dev = resolve_device(device)
        A = head.to(torch.float64).expand(len(seeds), *head.shape)
        return cls(torch.stack(Ws).to(dev, dtype), torch.stack(bs).to(dev, dtype), A.to(dev, dtype).clone(),
                   activation, seeds)

    def preactivation(self, x: torch.Tensor) -> torch.Tensor:
        """W x + b for every member: x (n, d) shared or (K, n, d) per member → (K, n, m)."""
        return super().preactivation(x) + self.b[:, None, :]

    def with_head(self, A: torch.Tensor) -> BiasedTwoLayerEnsemble:
        """The same (detached) first layer under another fixed head A (K, c', m), e.g. a readout."""
        return BiasedTwoLayerEnsemble(self.W.detach(), self.b.detach(), A, self.activation, self.seeds)

    def member(self, k: int) -> BiasedTwoLayerEnsemble:
        """A detached copy of member k (0 ≤ k < K) as a one-member ensemble."""
        if not 0 <= k < self.n_models:
            raise ConfigError(f"member index {k} is out of range for an ensemble of {self.n_models}.")
        seeds = self.seeds[k:k + 1] if self.seeds else None
        return BiasedTwoLayerEnsemble(self.W.detach()[k:k + 1].clone(), self.b.detach()[k:k + 1].clone(),
                                      self.A[k:k + 1].clone(), self.activation, seeds)

    def as_classifier(self, k: int = 0) -> nn.Module:
        """Member k as an ordinary module x (n, d) → logits (n, c); it shares the parameters."""
        return _BiasedMemberView(self, k)


class _BiasedMemberView(nn.Module):
    def __init__(self, ensemble: BiasedTwoLayerEnsemble, k: int):
        super().__init__()
        self.ensemble, self.k = ensemble, k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e, k = self.ensemble, self.k
        z = x.reshape(x.shape[0], -1) @ e.W[k].T + e.b[k]
        return activate(z, e.activation) @ e.A[k].T


class ModuleEnsemble(Ensemble):
    """K trained image classifiers (e.g. one torchvision ResNet per seed) as one Ensemble: flat
    pixels x (n, d) shared or (K, n, d) per member → logits (K, n, c), c = `n_outputs`.

    `shape`: one input image (C, H, W), d = C·H·W; `readout` maps a member's logits (n, k) to its
    c output logits (None: the logits themselves). The members run one after another on chunks of
    `chunk` images, in eval mode (BatchNorm uses its running statistics)."""

    def __init__(self, members: Sequence[nn.Module], shape: Sequence[int], n_outputs: int,
                 readout: Callable[[torch.Tensor], torch.Tensor] | None = None, chunk: int = 1024):
        super().__init__()
        if not members:
            raise ConfigError("a ModuleEnsemble needs at least one member.")
        check_range("n_outputs", n_outputs, lo=1, integer=True)
        check_range("chunk", chunk, lo=1, integer=True)
        self.members = nn.ModuleList(members).eval()
        self.shape = tuple(int(v) for v in shape)
        self.n_models, self.n_outputs = len(members), n_outputs
        self.in_dim = int(torch.Size(self.shape).numel())
        self.readout = readout
        self.chunk = chunk

    def read_as(self, readout: Callable[[torch.Tensor], torch.Tensor], n_outputs: int) -> ModuleEnsemble:
        """The same members (shared, not copied) under another readout."""
        return ModuleEnsemble(list(self.members), self.shape, n_outputs, readout, self.chunk)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        K = self.n_models
        if x.ndim == 4 or (x.ndim == 5 and x.shape[0] == K):
            x = x.reshape(*x.shape[:-3], -1)
        if x.shape[-1] != self.in_dim or x.ndim not in (2, 3) or (x.ndim == 3 and x.shape[0] != K):
            raise ConfigError(f"x must have shape (n, {self.in_dim}) or ({K}, n, {self.in_dim}); "
                              f"got {tuple(x.shape)}.")
        out = []
        for k, net in enumerate(self.members):
            xk = (x if x.ndim == 2 else x[k]).reshape(-1, *self.shape)
            z = torch.cat([net(part) for part in xk.split(self.chunk)])
            out.append(z if self.readout is None else self.readout(z))
        return torch.stack(out)


# ====================================================================== deeper MLPs
class MLP(nn.Module):
    """x ↦ head(σ(W_L … σ(W_1 x))): bias-free hidden layers with the q-initialisation and a frozen head.

    Hidden layer l (widths[l] × fan-in) gets entries N(0, widths[l]^-(1+2q)); the head gets
    N(0, m_L^-(1+2q)) ("code") or ±1/√m_L with one output ("theory"), m_L = widths[-1]. All draws
    come from one generator seeded with `seed`, in layer order, so MLP(d, [m], …) equals member
    `seed` of TwoLayerEnsemble.init(d, m, …) built with the same q.
    """

    def __init__(self, d: int, widths: Sequence[int], n_classes: int = 10, activation: str = "relu",
                 q: float = 0.0, seed: int = 0, *, head: str = "code", dtype: torch.dtype = torch.float32,
                 device: str | torch.device = "auto"):
        super().__init__()
        check_range("d", d, lo=1, integer=True)
        widths = list(widths) if not isinstance(widths, int) else [widths]
        if not widths:
            raise ConfigError("widths must list at least one hidden width, e.g. widths=[256, 256].")
        for i, w in enumerate(widths):
            check_range(f"widths[{i}]", w, lo=1, integer=True)
        check_choice("activation", activation, ACTIVATIONS)
        check_choice("head", head, HEADS)
        check_range("q", q, lo=-2.0, hi=2.0)
        check_range("seed", seed, lo=0, integer=True)
        if head == "theory":
            n_classes = 1
        check_range("n_classes", n_classes, lo=1, integer=True)
        dev = resolve_device(device)
        g = torch.Generator().manual_seed(int(seed))
        fans = [d] + widths
        self.hidden_layers = nn.ModuleList()
        for fan_in, w in zip(fans[:-1], fans[1:]):
            lin = nn.Linear(fan_in, w, bias=False, dtype=torch.float64)
            with torch.no_grad():
                lin.weight.copy_(torch.randn(w, fan_in, generator=g, dtype=torch.float64) * init_std(w, q))
            self.hidden_layers.append(lin)
        m = widths[-1]
        self.head = nn.Linear(m, n_classes, bias=False, dtype=torch.float64)
        with torch.no_grad():
            if head == "theory":
                signs = torch.randint(0, 2, (1, m), generator=g).to(torch.float64) * 2 - 1
                self.head.weight.copy_(signs / m**0.5)
            else:
                self.head.weight.copy_(torch.randn(n_classes, m, generator=g, dtype=torch.float64)
                                       * init_std(m, q))
        self.head.weight.requires_grad_(False)   # frozen, as in the two-layer model
        self.activation, self.q, self.seed, self.widths, self.in_dim = (activation, float(q), int(seed),
                                                                        tuple(widths), d)
        self.to(device=dev, dtype=dtype)

    def blocks(self) -> list[nn.Module]:
        """[Flatten, (Linear, σ)…, head] as modules, in order."""
        act = nn.ReLU() if self.activation == "relu" else nn.Identity()
        out: list[nn.Module] = [nn.Flatten()]
        for lin in self.hidden_layers:
            out.append(nn.Sequential(lin, act))
        out.append(self.head)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (n, d) or images (n, …) with d pixels (flattened) → logits (n, c)."""
        x = x.reshape(x.shape[0], -1)
        for lin in self.hidden_layers:
            x = activate(lin(x), self.activation)
        return self.head(x)

    def split(self, cut_index: int) -> tuple[nn.Module, nn.Module]:
        """(inner, outer) with inner = the first `cut_index` hidden layers (with σ), outer = the rest
        and the head; they share this model's parameters. cut_index = len(widths) is the split
        φ′ = σ∘W…, φ = head of the two-layer analysis."""
        L = len(self.hidden_layers)
        if isinstance(cut_index, bool) or not isinstance(cut_index, int) or not 1 <= cut_index <= L:
            raise ConfigError(f"cut_index={cut_index!r} must be an integer in [1, {L}] "
                              "(number of hidden layers kept in the inner block).")
        blocks = self.blocks()
        return nn.Sequential(*blocks[:cut_index + 1]), nn.Sequential(*blocks[cut_index + 1:])


# ====================================================================== pixel-space inputs
class PixelSpace(nn.Module):
    """Classifier on [0, 1] pixel inputs: x ↦ model((x − mean)/std).

    `model` is any classifier returning (n, c) logits, or a `TwoLayerEnsemble`: with `member=k`
    that member alone (an ordinary classifier, e.g. for AutoAttack), without it the whole
    ensemble (logits (K, n, c); `pgd_attack` accepts it and attacks every member). `mean`/`std`
    may be floats or per-channel sequences for image inputs (n, C, H, W).
    """

    def __init__(self, model: nn.Module, mean: float | Sequence[float] = 0.5,
                 std: float | Sequence[float] = 0.5, member: int | None = None):
        super().__init__()
        if isinstance(model, TwoLayerEnsemble) and member is not None:
            model = model.as_classifier(member)
        std_t = torch.as_tensor(std, dtype=torch.float64)
        if bool((std_t <= 0).any()):
            raise ConfigError(f"std={std!r} must be positive.")
        self.model = model
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float64))
        self.register_buffer("std", std_t)

    def _shaped(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        t = t.to(x.dtype)
        return t.reshape(1, -1, 1, 1) if t.ndim == 1 and x.ndim == 4 else t

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """(x − mean)/std in x's dtype, same shape as x; per-channel values act on (n, C, H, W)."""
        return (x - self._shaped(self.mean, x)) / self._shaped(self.std, x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pixels x (n, d) or (n, C, H, W) in [0, 1] → logits (n, c), or (K, n, c) for an ensemble."""
        return self.model(self.normalise(x))


# ====================================================================== ResNets split in two
RESNET_CUTS = ("stem", "pool")   # after the stem (conv1, bn1, relu, maxpool); before global pooling + fc


class ResNetSplit(nn.Module):
    """A torchvision ResNet as outer ∘ inner. `.full` (and this module) computes outer(inner(x)).

    inner, outer: the two parts (e.g. from `resnet_parts`); arch, cut: recorded as given."""

    def __init__(self, inner: nn.Module, outer: nn.Module, arch: str, cut: str):
        super().__init__()
        self.inner, self.outer = inner, outer
        self.arch, self.cut = arch, cut

    @property
    def full(self) -> nn.Module:
        """nn.Sequential(inner, outer), sharing this module's parameters."""
        return nn.Sequential(self.inner, self.outer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """outer(inner(x)): images (n, 3, H, W) → logits (n, n_classes)."""
        return self.outer(self.inner(x))


def build_resnet(arch: str = "resnet50", n_classes: int = 10, seed: int = 0, *,
                 device: str | torch.device = "auto", freeze_fc: bool = True) -> nn.Module:
    """torchvision `resnet18` / `resnet50` / `wide_resnet50_2` (random init, weights=None,
    `num_classes=n_classes`), its classifier `fc` frozen unless `freeze_fc=False` (the co-correlation
    paper fixes the last layer; the feature-averaging paper trains all of it). Initialisation is drawn
    under torch.manual_seed(seed) without touching the global RNG state. Input images (n, 3, H, W);
    output logits (n, n_classes)."""
    import torchvision

    check_choice("arch", arch, RESNET_ARCHS)
    check_range("n_classes", n_classes, lo=1, integer=True)
    check_range("seed", seed, lo=0, integer=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        net = getattr(torchvision.models, arch)(weights=None, num_classes=n_classes)
    for p in net.fc.parameters():
        p.requires_grad_(not freeze_fc)
    return net.to(resolve_device(device))


def resnet_parts(net: nn.Module, cut: str) -> tuple[nn.Module, nn.Module]:
    """(inner, outer) views of a torchvision ResNet `net` (shared parameters), split at `cut`:
    "stem" → inner = conv1, bn1, relu, maxpool; outer = layer1…layer4, global average pool, fc.
    "pool" → inner = conv1 … layer4; outer = global average pool, flatten, fc."""
    check_choice("cut", cut, RESNET_CUTS)
    stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
    body = nn.Sequential(net.layer1, net.layer2, net.layer3, net.layer4)
    head = nn.Sequential(net.avgpool, nn.Flatten(1), net.fc)
    if cut == "stem":
        return stem, nn.Sequential(body, head)
    return nn.Sequential(stem, body), head


def resnet_split(arch: str = "resnet50", cut: str = "pool", n_classes: int = 10, seed: int = 0, *,
                 device: str | torch.device = "auto") -> ResNetSplit:
    """`build_resnet(arch, n_classes, seed)` split at `cut` (see `resnet_parts`), on `device`.

    Returns a ResNetSplit with `.inner`, `.outer`: images (n, 3, H, W) → logits (n, n_classes)."""
    inner, outer = resnet_parts(build_resnet(arch, n_classes, seed, device=device), cut)
    return ResNetSplit(inner, outer, arch, cut)
