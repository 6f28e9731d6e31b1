"""Neural tangent kernels: the analytic infinite-width NTK of fully connected ReLU networks, the
empirical NTK of any torch model, kernel regression, its gradient-flow form and the kernel's
eigen-features, and the metrics of how a kernel moves during training.

Analytic kernel (`relu_ntk`): the network in the NTK parameterisation
h¹ = σ_w W¹x/√d₀ + σ_b b¹, h^{l+1} = σ_w W^{l+1} relu(h^l)/√n_l + σ_b b^{l+1}, all entries N(0, 1),
has, as every width goes to infinity, the covariance (NNGP) Σ and the tangent kernel Θ of the
arc-cosine recursions (Σ¹ = σ_w² x·x'/d₀ + σ_b², Θ¹ = Σ¹):

    Σ^{h+1} = σ_w² κ₁(Σ^h) + σ_b²,   Θ^{h+1} = Σ^{h+1} + σ_w² κ₀(Σ^h) Θ^h,
    κ₁ = √(q q')/(2π) (sin ϑ + (π − ϑ) cos ϑ),   κ₀ = (π − ϑ)/(2π),   cos ϑ = Σ(x, x')/√(q q'),

with q = Σ(x, x), q' = Σ(x', x'). `NTKMLP` is that finite network (E independent members at once).

Empirical kernel (`empirical_ntk`): Θ(x, x')_ab = Σ_p ∂f_a(x)/∂θ_p ∂f_b(x')/∂θ_p through
torch.func (per-sample Jacobians with vmap + jacrev), in chunks of inputs so memory stays bounded.

Predictors (binary labels Y ∈ {±1}ⁿ or any real targets): kernel regression
f(x) = Θ(x, X)Θ(X, X)⁻¹Y; under gradient flow on ½‖f(X) − Y‖² with step size η from f₀ = 0,
f_t(x) = Θ(x, X) V diag((1 − e^{−ηλt})/λ) Vᵀ Y; the eigen-feature i is
f_i(x) = λ_i⁻¹ Θ(x, X) v_i v_iᵀ Y (eigenvalues in decreasing order) and Σ_i f_i = f.
Each predictor is a coefficient vector α with f(x) = Θ(x, X)α, so many predictors (features,
times) are the columns of one (n, F) matrix and are evaluated together.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

from .ground.devices import resolve_device
from .ground.errors import ConfigError, check_choice, check_range

SIGMA_W2 = 2.0  # σ_w² (the authors' W_std = √2)
SIGMA_B2 = 0.01  # σ_b² (the authors' b_std = 0.1)


# ---------------------------------------------------------------- the analytic NTK
def _arc_cosine_of_cos(cos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(sin ϑ + (π − ϑ) cos ϑ, (π − ϑ)/(2π)) for cos ϑ in [−1, 1]."""
    theta = torch.arccos(cos)
    sin = torch.sqrt((1.0 - cos * cos).clamp_min(0.0))
    return sin + (math.pi - theta) * cos, (math.pi - theta) / (2 * math.pi)


def _arc_cosine(s12: torch.Tensor, s11: torch.Tensor, s22: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(κ₁, κ₀) of the ReLU for covariances s12 (..., n1, n2) and variances s11 (..., n1, 1),
    s22 (..., 1, n2)."""
    norm = torch.sqrt(s11 * s22)
    cos = s12 / norm
    # Values at the exact cosine; gradients at a cosine one ulp inside ±1 (reached when x = x'),
    # where arccos and the sine have infinite derivatives.
    edge = 1.0 - torch.finfo(cos.dtype).eps
    j_safe, k0_safe = _arc_cosine_of_cos(cos.clamp(-edge, edge))
    with torch.no_grad():
        j_exact, k0_exact = _arc_cosine_of_cos(cos.clamp(-1.0, 1.0))
    j = j_safe + (j_exact - j_safe).detach()
    k0 = k0_safe + (k0_exact - k0_safe).detach()
    return norm * j / (2 * math.pi), k0


def relu_ntk(
    X1: torch.Tensor,
    X2: torch.Tensor,
    *,
    depth: int = 1,
    sigma_w2: float = SIGMA_W2,
    sigma_b2: float = SIGMA_B2,
    nngp: bool = False,
) -> torch.Tensor:
    """Infinite-width NTK Θ(X1, X2) of a fully connected ReLU network with `depth` hidden layers in
    the NTK parameterisation (module docstring): X1 (..., n1, d), X2 (n2, d) → (..., n1, n2).

    Differentiable in both inputs (attacks differentiate through it). `nngp=True` returns the
    output covariance Σ instead of Θ. Any leading axes of X1 are kept (e.g. one batch of inputs
    per feature)."""
    check_range("depth", depth, lo=1, integer=True)
    check_range("sigma_w2", sigma_w2, lo=0.0, lo_open=True)
    check_range("sigma_b2", sigma_b2, lo=0.0)
    if X1.shape[-1] != X2.shape[-1] or X2.ndim != 2:
        raise ConfigError(
            f"relu_ntk needs X1 (..., n1, d) and X2 (n2, d) with one d; got "
            f"{tuple(X1.shape)} and {tuple(X2.shape)}."
        )
    d0 = X1.shape[-1]
    s12 = sigma_w2 * (X1 @ X2.T) / d0 + sigma_b2
    s11 = sigma_w2 * (X1 * X1).sum(-1, keepdim=True) / d0 + sigma_b2
    s22 = (sigma_w2 * (X2 * X2).sum(-1) / d0 + sigma_b2)[None, :]
    theta = s12
    for _ in range(depth):
        k1, k0 = _arc_cosine(s12, s11, s22)
        s12 = sigma_w2 * k1 + sigma_b2
        theta = s12 + sigma_w2 * k0 * theta
        s11 = sigma_w2 * s11 / 2 + sigma_b2  # κ₁(q, q, cos 0) = q/2
        s22 = sigma_w2 * s22 / 2 + sigma_b2
    return s12 if nngp else theta


class NTKMLP(nn.Module):
    """E independent fully connected ReLU networks in the NTK parameterisation (module docstring):
    inputs (n, d) shared or (E, n, d) per member → outputs (E, n, c).

    Parameters: weights[l] (E, n_{l+1}, n_l) and biases[l] (E, n_{l+1}), all N(0, 1), drawn in
    float64 from a generator seeded with `seed + e` for member e, then cast to `dtype`."""

    def __init__(
        self,
        d: int,
        width: int,
        *,
        depth: int = 1,
        n_outputs: int = 1,
        members: int = 1,
        seed: int = 0,
        sigma_w2: float = SIGMA_W2,
        sigma_b2: float = SIGMA_B2,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "auto",
    ):
        super().__init__()
        for name, value in (
            ("d", d),
            ("width", width),
            ("depth", depth),
            ("n_outputs", n_outputs),
            ("members", members),
        ):
            check_range(name, value, lo=1, integer=True)
        check_range("seed", seed, lo=0, integer=True)
        dev = resolve_device(device)
        fans = [d] + [width] * depth + [n_outputs]
        weights, biases = [[] for _ in fans[1:]], [[] for _ in fans[1:]]
        for e in range(members):
            g = torch.Generator().manual_seed(int(seed) + e)
            for layer, (fan_in, fan_out) in enumerate(zip(fans[:-1], fans[1:])):
                weights[layer].append(torch.randn(fan_out, fan_in, generator=g, dtype=torch.float64))
                biases[layer].append(torch.randn(fan_out, generator=g, dtype=torch.float64))
        self.weights = nn.ParameterList([nn.Parameter(torch.stack(w).to(dev, dtype)) for w in weights])
        self.biases = nn.ParameterList([nn.Parameter(torch.stack(b).to(dev, dtype)) for b in biases])
        self.sigma_w, self.sigma_b = math.sqrt(sigma_w2), math.sqrt(sigma_b2)
        self.in_dim, self.width, self.depth, self.members = d, width, depth, members

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (n, d) or (E, n, d) (images are flattened) → (E, n, c)."""
        if x.ndim == 3 and x.shape[0] == self.members and x.shape[-1] == self.in_dim:
            h = x  # one batch per member
        else:
            x = x.reshape(x.shape[0], -1)  # shared inputs, images flattened
            h = x.expand(self.members, *x.shape)
        for layer, (W, b) in enumerate(zip(self.weights, self.biases)):
            if layer > 0:
                h = torch.relu(h)
            h = self.sigma_w * (h @ W.transpose(1, 2)) / math.sqrt(W.shape[-1]) + self.sigma_b * b[:, None, :]
        return h


# ---------------------------------------------------------------- the empirical NTK
JACOBIAN_METHODS = ("batch", "vmap")


def _jacobian_fn(model: nn.Module, method: str) -> tuple[Callable[[torch.Tensor], torch.Tensor], int]:
    """(x-chunk (b, ...) → Jacobian (b, c, P), P) for the model's trainable parameters.

    "batch": jacrev of the model on the whole chunk (the model maps (b, ...) to (b, ...) and treats
    samples independently, e.g. no batch statistics); "vmap": vmap over samples of the jacrev of
    the model on a batch of one (any output layout)."""
    from torch.func import functional_call, jacrev, vmap

    check_choice("method", method, JACOBIAN_METHODS)
    params = {k: v.detach() for k, v in model.named_parameters() if v.requires_grad}
    if not params:
        raise ConfigError("the model has no trainable parameters, so its tangent kernel is zero.")
    buffers = {k: v.detach() for k, v in model.named_buffers()}
    n_params = sum(p.numel() for p in params.values())

    if method == "batch":
        def jac(x: torch.Tensor) -> torch.Tensor:
            b = x.shape[0]
            parts = jacrev(lambda p: functional_call(model, (p, buffers), (x,)).reshape(b, -1))(params)
            return torch.cat([parts[k].reshape(b, parts[k].shape[1], -1) for k in params], dim=-1)

        return jac, n_params

    def single(p: dict, x: torch.Tensor) -> torch.Tensor:
        return functional_call(model, (p, buffers), (x[None],)).reshape(-1)

    per_sample = vmap(jacrev(single), in_dims=(None, 0))

    def jac_vmap(x: torch.Tensor) -> torch.Tensor:
        parts = per_sample(params, x)
        return torch.cat([parts[k].reshape(x.shape[0], parts[k].shape[1], -1) for k in params], dim=-1)

    return jac_vmap, n_params


def empirical_ntk(
    model: nn.Module,
    X1: torch.Tensor,
    X2: torch.Tensor | None = None,
    *,
    chunk_size: int = 32,
    trace: bool = False,
    max_cache_bytes: int = 1 << 30,
    method: str = "batch",
) -> torch.Tensor:
    """The model's tangent kernel Θ(x, x')_ab = Σ_p ∂f_a(x)/∂θ_p ∂f_b(x')/∂θ_p over its trainable
    parameters, from Jacobians by torch.func (`method`: "batch", jacrev of the model on a chunk,
    for models whose samples do not interact; "vmap", per-sample jacrev under vmap, for any model).

    X1 (n1, ...), X2 (n2, ...) (None: X1) are batches of inputs of the model. Returns (n1, n2) for
    one output (or with `trace`, the sum over the diagonal output blocks), else (n1, n2, c, c).
    Inputs go `chunk_size` at a time; the Jacobians of X2's chunks are kept while they fit in
    `max_cache_bytes`, else recomputed, so memory stays
    at O(chunk_size · c · P). The model should be in eval mode (no batch statistics)."""
    check_range("chunk_size", chunk_size, lo=1, integer=True)
    first = next((p for p in model.parameters()), None)
    if first is None:
        raise ConfigError("the model has no parameters, so its tangent kernel is zero.")
    X1 = torch.as_tensor(X1).to(first.device, first.dtype)
    same = X2 is None
    X2 = X1 if same else torch.as_tensor(X2).to(first.device, first.dtype)
    if X1.shape[0] == 0 or X2.shape[0] == 0:
        raise ConfigError("empirical_ntk needs at least one input on each side.")
    if X1.shape[1:] != X2.shape[1:]:
        raise ConfigError(
            f"X1 and X2 must hold inputs of one shape; got {tuple(X1.shape[1:])} and {tuple(X2.shape[1:])}."
        )
    jac, n_params = _jacobian_fn(model, method)
    chunks1 = [slice(s, s + chunk_size) for s in range(0, X1.shape[0], chunk_size)]
    chunks2 = [slice(s, s + chunk_size) for s in range(0, X2.shape[0], chunk_size)]
    blocks: list[list[torch.Tensor]] = []
    cache: dict[int, torch.Tensor] = {}
    for sl1 in chunks1:
        J1 = jac(X1[sl1])
        n_out = J1.shape[1]
        cacheable = X2.shape[0] * n_out * n_params * J1.element_size() <= max_cache_bytes
        row = []
        for j, sl2 in enumerate(chunks2):
            if same and sl2 == sl1:
                J2 = J1
            elif j in cache:
                J2 = cache[j]
            else:
                J2 = jac(X2[sl2])
            if cacheable:
                cache[j] = J2
            row.append(torch.einsum("acp,bdp->abcd", J1, J2))
        blocks.append(torch.cat(row, dim=1))
    K = torch.cat(blocks, dim=0)
    if trace:
        return torch.diagonal(K, dim1=-2, dim2=-1).sum(-1)
    return K[..., 0, 0] if K.shape[-1] == 1 else K


def flatten_blocks(K: torch.Tensor) -> torch.Tensor:
    """A block kernel (n1, n2, c, c) as the (n1·c, n2·c) matrix with rows (sample, output)."""
    if K.ndim == 2:
        return K
    n1, n2, c1, c2 = K.shape
    return K.permute(0, 2, 1, 3).reshape(n1 * c1, n2 * c2)


# ---------------------------------------------------------------- predictors
def _check_gram(K: torch.Tensor, Y: torch.Tensor) -> None:
    if K.ndim != 2 or K.shape[0] != K.shape[1]:
        raise ConfigError(f"the training Gram matrix must be square (n, n); got {tuple(K.shape)}.")
    if Y.shape[0] != K.shape[0]:
        raise ConfigError(f"Y has {Y.shape[0]} rows but the Gram matrix is {K.shape[0]} × {K.shape[0]}.")


def kernel_regression_coefficients(K: torch.Tensor, Y: torch.Tensor, ridge: float = 0.0) -> torch.Tensor:
    """α = (K + ridge·I)⁻¹Y by a Cholesky solve: K (n, n) symmetric positive definite, Y (n,) or (n, k).
    The predictor is f(x) = Θ(x, X)α."""
    _check_gram(K, Y)
    check_range("ridge", ridge, lo=0.0)
    A = K + ridge * torch.eye(K.shape[0], dtype=K.dtype, device=K.device)
    L, info = torch.linalg.cholesky_ex(A)
    if int(info) != 0:
        raise ConfigError("the Gram matrix is not positive definite (repeated inputs?); pass ridge > 0.")
    rhs = Y[:, None] if Y.ndim == 1 else Y
    alpha = torch.cholesky_solve(rhs, L)
    return alpha[:, 0] if Y.ndim == 1 else alpha


def spectrum(K: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(λ (n,), V (n, n)) of a symmetric K, eigenvalues in decreasing order (v_i = V[:, i])."""
    lam, V = torch.linalg.eigh(K)
    return lam.flip(0), V.flip(1)


def flow_coefficients(
    K: torch.Tensor, Y: torch.Tensor, times: Sequence[float] | torch.Tensor, eta: float = 1.0
) -> torch.Tensor:
    """α_t = V diag((1 − e^{−ηλt})/λ) VᵀY for each time t (math.inf: (K⁻¹Y)): K (n, n), Y (n,) → (n, T).

    f_t(x) = Θ(x, X)α_t is gradient flow on ½‖f(X) − Y‖² with step size η from f₀ = 0 under the
    fixed kernel."""
    _check_gram(K, Y)
    check_range("eta", eta, lo=0.0, lo_open=True)
    if Y.ndim != 1:
        raise ConfigError(f"flow_coefficients needs one target per sample, Y (n,); got {tuple(Y.shape)}.")
    t = torch.as_tensor(times, dtype=K.dtype, device=K.device).reshape(-1)
    if bool((t < 0).any()):
        raise ConfigError(f"times must be >= 0; got {t.tolist()}.")
    lam, V = spectrum(K)
    if float(lam[-1]) <= 0:
        raise ConfigError(
            f"the Gram matrix is not positive definite (smallest eigenvalue {float(lam[-1]):.3g})."
        )
    gain = -torch.expm1(-eta * lam[None, :] * t[:, None]) / lam[None, :]  # (T, n)
    gain = torch.where(torch.isinf(t)[:, None], 1.0 / lam[None, :], gain)
    return V @ (gain * (V.T @ Y)[None, :]).T


def eigen_feature_coefficients(K: torch.Tensor, Y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(λ (n,) decreasing, C (n, n)) with C[:, i] = v_i (v_iᵀY)/λ_i, so that feature i is
    f_i(x) = Θ(x, X) C[:, i] and Σ_i f_i = Θ(x, X)K⁻¹Y; on the training inputs f_i(X) = v_i v_iᵀY."""
    _check_gram(K, Y)
    if Y.ndim != 1:
        raise ConfigError(f"eigen features need one target per sample, Y (n,); got {tuple(Y.shape)}.")
    lam, V = spectrum(K)
    if float(lam[-1]) <= 0:
        raise ConfigError(
            f"the Gram matrix is not positive definite (smallest eigenvalue {float(lam[-1]):.3g})."
        )
    return lam, V * ((V.T @ Y) / lam)[None, :]


def learning_weights(lam: torch.Tensor, t: float, eta: float = 1.0) -> torch.Tensor:
    """1 − e^{−ηλ_i t}: the weight of eigen-feature i in f_t (so f_t = Σ_i weight_i f_i)."""
    return -torch.expm1(-eta * lam * t)


# ---------------------------------------------------------------- how a kernel moves
def kernel_similarity(Ks: torch.Tensor) -> torch.Tensor:
    """S_ij = ⟨K_i, K_j⟩_F/(‖K_i‖_F‖K_j‖_F) for a stack Ks (T, n, n) (or (T, n, n, c, c)) → (T, T)."""
    flat = Ks.reshape(Ks.shape[0], -1)
    flat = flat / torch.linalg.vector_norm(flat, dim=1, keepdim=True)
    return (flat @ flat.T).clamp(-1.0, 1.0)


def kernel_distance(Ks: torch.Tensor) -> torch.Tensor:
    """1 − kernel_similarity(Ks): (T, T), zero on the diagonal."""
    return 1.0 - kernel_similarity(Ks)


def top_eigen_mass(K: torch.Tensor, m: int) -> torch.Tensor:
    """Σ_{i≤m} λ_i²/Σ_i λ_i² of a symmetric K (..., n, n), eigenvalues sorted by |λ| decreasing → (...)."""
    check_range("m", m, lo=1, integer=True)
    lam2 = torch.linalg.eigvalsh(K) ** 2
    lam2 = lam2.sort(dim=-1, descending=True).values
    return lam2[..., :m].sum(-1) / lam2.sum(-1)


def top_truncation(K: torch.Tensor, m: int) -> torch.Tensor:
    """Σ_{i≤m} λ_i v_i v_iᵀ of a symmetric K (n, n), the m largest eigenvalues."""
    check_range("m", m, lo=1, integer=True)
    lam, V = spectrum(K)
    return (V[:, :m] * lam[:m]) @ V[:, :m].T
