"""Per-sample Jacobian operator norms and the statistics built on them (Wang, Min & Ruan 2024, §3–4).

For a split f = φ ∘ φ′ (outer φ, inner φ′) and inputs x_1..x_n, everything rests on three
per-sample numbers: ‖J_f(x)‖₂, ‖J_φ(φ′(x))‖₂ and ‖J_φ′(x)‖₂ (operator norms, not Frobenius).

* Two-layer networks (`TwoLayerEnsemble`, φ′ = σ∘W, φ = A) have closed forms:
  J_f(x) = A D(x) W, J_φ = A, J_φ′(x) = D(x) W with D(x) = diag σ′(W x).
  ‖A D W‖₂ comes exactly from a c×c Gram matrix; ‖D W‖₂ = sqrt λ_max(Wᵀ D² W) from an exact
  eigensolver when the problem is small, else from a batched block Lanczos method with a
  certified a-posteriori error bound.
* Any other split (deep MLPs, ResNets) goes through `spectral_norms`, the same Lanczos method
  on JᵀJ (or JJᵀ) applied with torch.func jvp/vjp.
* `authors_power_iteration` is the power iteration of the authors' released code, kept as the
  baseline the benchmarks and the book compare against.

Random-start bound. Until the top two Ritz pairs have converged, θ₁ may sit next to an eigenvalue
below λ_max, and its residual then bounds the distance to that eigenvalue only. For that phase the
Lanczos module uses the bound of Kuczyński & Woźniakowski (1992), which holds for every spectrum with
probability ≥ 1 − 10⁻⁴ over the random start vectors; it certifies loose tolerances (≳ 10⁻¹) after
about ten block steps.

Lanczos certificate. After k block steps the top Ritz value θ₁ ≤ λ_max, its residual
r₁ = ‖A y₁ − θ₁ y₁‖ bounds |λ − θ₁| ≤ r₁ for the eigenvalue λ nearest θ₁, and with a gap
δ = θ₁ − (θ₂ + r₂) > 0 to the rest of the spectrum the sharper bound r₁²/δ holds
(Kato–Temple); δ is trusted only once r₂ ≤ δ/10, i.e. the second Ritz pair has converged too.
The bound used is min(r₁, r₁²/δ). It certifies the eigenvalue the Ritz value has converged to;
that this is λ_max depends on the random start block not being nearly orthogonal to the top
eigenvector. That is rare but not negligible when the top eigenvalues cluster (random Gaussian
W, the Marchenko–Pastur edge): with one start vector about 1 sample in 500 locks onto λ₂ (and with
two still about 1 in 10³ in our trials), so below a tolerance of 10⁻², where the Kato–Temple bound
is what certifies, the two-layer norms use a block of 3 start vectors. At looser tolerances the
random-start bound certifies first, and one start vector reaches it with the fewest products
(17 steps of one vector against 9 of three at 10⁻¹ with d = 784).
A norm is returned as sqrt(θ₁), a lower bound whose relative error is at most `tol` once the
bound allows it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from .ground.errors import ConfigError, check_range
from .linalg.lanczos import top_eigenvalues
from .models import TwoLayerEnsemble, activation_derivative

__all__ = [
    "NormSample", "two_layer_norms", "spectral_norms", "split_norms", "summarize",
    "authors_power_iteration", "default_tol", "top_eigenvalues",
]


# ---------------------------------------------------------------- results
@dataclass
class NormSample:
    """Per-sample operator norms, each of shape (K, n): K networks (members) × n inputs.

    full  = ‖J_f(x)‖₂, outer = ‖J_φ(φ′(x))‖₂, inner = ‖J_φ′(x)‖₂.
    `state` holds the top vectors of the iterative solves; pass it back as `warm=` at the
    next measurement (e.g. the next epoch) to start from them.
    `max_rel_bound` is the largest certified relative error bound over all norms (0 for exact).
    """

    full: torch.Tensor
    outer: torch.Tensor
    inner: torch.Tensor
    state: dict | None = field(default=None, repr=False, compare=False)
    max_rel_bound: float = 0.0
    iterations: int = 0


def default_tol(dtype: torch.dtype) -> float:
    """Target relative error of a norm: 1e-6 in float64, 1e-4 in lower precision."""
    return 1e-6 if dtype == torch.float64 else 1e-4


def summarize(ns: NormSample) -> dict[str, torch.Tensor]:
    """Dirichlet energies, ϱ, ρ, μ, var and the Theorem 4.5 right-hand side, one value per member.

    ns: a NormSample with (K, n) norms → dict name → float64 Tensor (K,), names dirichlet_full,
    dirichlet_outer, dirichlet_inner, cocorrelation, norm_correlation, rel_spread, mu, var,
    theorem45_rhs. Expectations are empirical means over the n inputs, computed in float64.
    `var` is the population variance (divide by n): with it Theorem 4.5 is an exact identity,
    theorem45_rhs == dirichlet_full. `rel_spread` = √var/μ uses the unbiased (n − 1) variance,
    as the authors' Algorithm 1 does for the relative standard deviation of Fig. 5.
    """
    F = ns.full.to(torch.float64)
    A = ns.outer.to(torch.float64)
    B = ns.inner.to(torch.float64)
    if not (F.shape == A.shape == B.shape) or F.ndim != 2:
        raise ConfigError(f"NormSample tensors must share one (K, n) shape; got {tuple(F.shape)}, "
                          f"{tuple(A.shape)}, {tuple(B.shape)}.")
    AB = A * B
    s_full = F.square().mean(1).sqrt()
    s_outer = A.square().mean(1).sqrt()
    s_inner = B.square().mean(1).sqrt()
    coco = s_full / AB.square().mean(1).sqrt()
    rho = AB.mean(1) / (s_outer * s_inner)
    mu = AB.mean(1)
    var = AB.var(1, correction=0)
    spread = AB.std(1, correction=1) / mu if AB.shape[1] > 1 else torch.full_like(mu, float("nan"))
    rhs = coco * (1 + var / mu.square()).sqrt() * rho * s_outer * s_inner
    return {
        "dirichlet_full": s_full, "dirichlet_outer": s_outer, "dirichlet_inner": s_inner,
        "cocorrelation": coco, "norm_correlation": rho, "rel_spread": spread,
        "mu": mu, "var": var, "theorem45_rhs": rhs,
    }


def _auto_chunk(n: int, per_sample_bytes: float, budget: float = 512e6) -> int:
    return max(1, min(n, int(budget // max(per_sample_bytes, 1.0))))


# ---------------------------------------------------------------- two-layer closed forms
def _flat_inputs(model: TwoLayerEnsemble, X: torch.Tensor) -> torch.Tensor:
    X = X.to(device=model.W.device, dtype=model.W.dtype)
    if X.ndim >= 4 or (X.ndim == 3 and X.shape[0] != model.n_models):
        X = X.reshape(X.shape[0], -1)
    if X.shape[-1] != model.in_dim:
        raise ConfigError(f"inputs have {X.shape[-1]} features but the model expects d={model.in_dim}.")
    return X


def _lam_max_psd(G: torch.Tensor) -> torch.Tensor:
    """Largest eigenvalue of a batch of small PSD Gram matrices (exact, clamped at 0), in G's dtype.

    The eigensolver runs in float64: LAPACK's float32 solver fails to converge on some
    ill-conditioned Gram matrices of trained ReLU networks (rank-deficient D(x)W)."""
    if G.shape[-1] == 1:
        return G[..., 0, 0].clamp_min(0)
    return torch.linalg.eigvalsh(G.to(torch.float64))[..., -1].clamp_min(0).to(G.dtype)


@torch.no_grad()
def two_layer_norms(model: TwoLayerEnsemble, X: torch.Tensor, *, tol: float | None = None,
                    warm: dict | None = None, max_iter: int = 300, block: int | None = None,
                    exact_dim: int = 128, chunk: int | None = None, seed: int = 0,
                    shared_start: int = 32) -> NormSample:
    """Exact (or certified to relative error `tol`) per-sample norms of a two-layer ensemble.

    X: (n, d) shared by all members (images are flattened) or (K, n, d) per member.
    Split φ′ = σ∘W (inner), φ = A (outer). Returns a NormSample of shape (K, n).
    `warm`: the `state` of an earlier NormSample; `block`: Lanczos start vectors (None: 3 for
    tol < KATO_TEMPLE_BELOW, else 1; see the module's notes); `exact_dim`:
    exact eigvalsh when min(m, d) ≤ exact_dim; `chunk`: samples per batch (None: by memory);
    `max_iter`, `seed`: Lanczos steps and start vectors. `shared_start`: without `warm`, all but
    one of the `block` start vectors come from a Rayleigh–Ritz step in the top `shared_start`
    vectors spanning the dominant subspace of the operator averaged over the inputs (0: all random;
    used for tol < KATO_TEMPLE_BELOW, on the d side); the last one stays random, so the Krylov
    space always holds that of a random start.
    """
    if not isinstance(model, TwoLayerEnsemble):
        raise ConfigError(f"two_layer_norms needs a TwoLayerEnsemble; got {type(model).__name__}. "
                          "Use split_norms(inner, outer, X) for other networks.")
    X = _flat_inputs(model, X)
    W, A = model.W.detach(), model.A.detach()
    K, m, d = W.shape
    c = A.shape[1]
    n = X.shape[-2]
    tol = default_tol(W.dtype) if tol is None else tol
    check_range("tol", tol, lo=0.0, lo_open=True)
    check_range("shared_start", shared_start, lo=0, integer=True)
    if block is None:
        block = 3 if tol < KATO_TEMPLE_BELOW else 1
    check_range("block", block, lo=1, integer=True)

    outer = torch.linalg.matrix_norm(A, ord=2)[:, None].expand(K, n).clone()
    if model.activation == "linear":
        # nothing depends on x: one norm per member
        full = torch.linalg.matrix_norm(A @ W, ord=2)[:, None].expand(K, n).clone()
        inner = torch.linalg.matrix_norm(W, ord=2)[:, None].expand(K, n).clone()
        return NormSample(full, outer, inner)

    use_gram = c * m * m < c * m * d           # ‖A D W‖ via (A D) G (A D)ᵀ with G = W Wᵀ
    G = W @ W.transpose(1, 2) if (use_gram or m <= min(d, exact_dim) or m < 2 * d) else None
    full = torch.empty(K, n, dtype=W.dtype, device=W.device)
    step = chunk or _auto_chunk(n, 8.0 * K * c * max(d, m) * W.element_size())
    for s in range(0, n, step):
        Xs = X[..., s:s + step, :]
        D = activation_derivative(model.preactivation(Xs), model.activation)   # (K, n', m)
        AD = A[:, None] * D[:, :, None, :]                                      # (K, n', c, m)
        if use_gram:
            Gram = AD @ G[:, None] @ AD.transpose(-1, -2)
        else:
            M = (AD.reshape(K, -1, m) @ W).reshape(K, -1, c, d)
            Gram = M @ M.transpose(-1, -2)
        full[:, s:s + step] = _lam_max_psd(Gram).sqrt()

    inner, bound, state, steps = _inner_relu_norms(model, X, W, G, tol=tol, warm=warm, max_iter=max_iter,
                                                   block=block, exact_dim=exact_dim, chunk=chunk, seed=seed,
                                                   shared_start=shared_start)
    return NormSample(full, outer, inner, state=state, max_rel_bound=bound, iterations=steps)


# Tolerances below which the Kato–Temple bound certifies first: `two_layer_norms` then uses a block of
# 3 start vectors, all but one from the shared start subspace.
KATO_TEMPLE_BELOW = 1e-2


def _shared_basis(W: torch.Tensor, d2: torch.Tensor, k: int, seed: int, sweeps: int = 3) -> torch.Tensor:
    """An orthonormal basis (K, d, k) of the dominant subspace of the mean operator
    Wᵀ diag(mean_x d²(x)) W of every member, by a few sweeps of subspace iteration (GEMMs only).

    The masks d²(x) of different inputs overlap strongly (MNIST images share their background), so
    every sample's top eigenvector lies mostly in this one subspace."""
    K, m, d = W.shape
    gen = torch.Generator(device="cpu").manual_seed(seed + 7919)
    Q = torch.randn(K, d, k, generator=gen, dtype=torch.float64).to(device=W.device, dtype=W.dtype)
    mean_d2 = d2.mean(1)[..., None]                                            # (K, m, 1)
    for _ in range(sweeps):
        Q, _ = torch.linalg.qr(W.transpose(1, 2) @ (mean_d2 * (W @ Q)))
    return Q


def _projected_start(W: torch.Tensor, d2: torch.Tensor, U: torch.Tensor, b: int) -> torch.Tensor:
    """Top-b Ritz vectors (K, n, b, d) of every sample's operator Wᵀ diag(d²) W in the span of U.

    Rayleigh–Ritz needs Uᵀ Wᵀ diag(d²) W U = Bᵀ diag(d²) B with B = W U shared by all samples,
    so all n projections (k×k) come from one GEMM d² @ (B ⊗ B), n·m·k² multiply-adds."""
    B = W @ U                                                                  # (K, m, k)
    K, m, k = B.shape
    P = (d2 @ (B[..., :, None] * B[..., None, :]).reshape(K, m, k * k)).reshape(K, -1, k, k)
    _, Y = torch.linalg.eigh(P.to(torch.float64))
    return (Y[..., -b:].flip(-1).transpose(-1, -2).to(W.dtype) @ U.transpose(1, 2)[:, None])


def _inner_relu_norms(model, X, W, G, *, tol, warm, max_iter, block, exact_dim, chunk, seed,
                      shared_start=0):
    """‖D(x) W‖₂ for every member and sample: exact eigvalsh when min(m, d) is small, else Lanczos."""
    K, m, d = W.shape
    n = X.shape[-2]
    dt = W.dtype
    d2_all = activation_derivative(model.preactivation(X), model.activation).square()   # (K, n, m)
    inner = torch.empty(K, n, dtype=dt, device=W.device)
    if min(m, d) <= exact_dim:
        step = chunk or _auto_chunk(n, 8.0 * K * min(m, d) ** 2 * W.element_size())
        for s in range(0, n, step):
            d2 = d2_all[:, s:s + step]
            if m <= d:   # D G D, m×m
                Gram = G[:, None] * (d2.sqrt()[..., :, None] * d2.sqrt()[..., None, :])
            else:        # Wᵀ D² W, d×d
                Gram = (W[:, None].transpose(-1, -2) * d2[..., None, :]) @ W[:, None]
            inner[:, s:s + step] = _lam_max_psd(Gram).sqrt()
        return inner, 0.0, None, 0

    # Krylov space: the d side (matvec v ↦ Wᵀ(d² ⊙ W v), 2md flops) or the m side
    # (v ↦ D G D v, m² flops), whichever is cheaper per step
    side = "m" if G is not None and m * m < 2 * m * d else "d"
    dim = m if side == "m" else d
    warm_vecs = None
    if warm is not None and warm.get("inner_side") == side:
        warm_vecs = warm.get("inner")
    # a shared start subspace (d side only: there every sample's projection is one cheap GEMM)
    basis = None
    # at loose tolerances the random-start bound certifies first, and it grows stronger with every
    # random start vector, so the shared start serves the tight ones
    if warm_vecs is None and side == "d" and shared_start > 0 and block >= 2 and tol < KATO_TEMPLE_BELOW:
        basis = _shared_basis(W, d2_all, min(shared_start, d), seed)
    step = chunk or _auto_chunk(n, 2.0 * K * (min(max_iter, dim, 64) + 4) * block * dim * W.element_size())
    vec_parts, worst, steps = [], 0.0, 0
    for s in range(0, n, step):
        d2 = d2_all[:, s:s + step]
        nn_ = d2.shape[1]

        def matvec(V, idx, d2=d2):
            dd = d2 if idx is None else d2[:, idx]
            Kk, nv, b, _ = V.shape
            if side == "d":
                H = V.reshape(Kk, nv * b, d) @ W.transpose(1, 2)                # (K, n'b, m)
                H = (H.reshape(Kk, nv, b, m) * dd[:, :, None, :]).reshape(Kk, nv * b, m)
                return (H @ W).reshape(Kk, nv, b, d)
            sq = dd.sqrt()[:, :, None, :]
            H = (V * sq).reshape(Kk, nv * b, m) @ G                             # G symmetric
            return H.reshape(Kk, nv, b, m) * sq

        wv = warm_vecs[:, s:s + nn_] if warm_vecs is not None else None
        if basis is not None:
            wv = _projected_start(W, d2, basis, block - 1)
        lam, bnd, vecs, st = top_eigenvalues(matvec, (K, nn_), dim, dtype=dt, device=W.device, tol=tol,
                                             max_iter=max_iter, block=block, warm=wv, seed=seed + s)
        inner[:, s:s + nn_] = lam.clamp_min(0).sqrt()
        # bound on λ relative → bound on the norm sqrt(λ)
        worst = max(worst, float((torch.sqrt(1 + bnd) - 1).max()))
        vec_parts.append(vecs)
        steps = max(steps, st)
    state = {"inner": torch.cat(vec_parts, 1), "inner_side": side}
    return inner, worst, state, steps


# ---------------------------------------------------------------- generic splits (torch.func)
def _check_eval(fn) -> None:
    if isinstance(fn, nn.Module):
        for mod in fn.modules():
            if isinstance(mod, nn.modules.batchnorm._BatchNorm) and mod.training:
                raise ConfigError(
                    f"{type(fn).__name__} contains a BatchNorm layer in training mode, which couples the "
                    "samples of a batch; call .eval() before measuring Jacobian norms."
                )


def _linear_maps(fn, X: torch.Tensor):
    """J v and Jᵀ u for every sample at once.

    fn maps a batch (n, …) → (n, …) and treats samples independently (eval mode), so the batch
    Jacobian is block diagonal and one jvp / one vjp over the batch gives every J_i v_i / J_iᵀ u_i.
    """
    from torch.func import jvp, vjp

    out, vjp_fn = vjp(fn, X)

    def J(V):
        return jvp(fn, (X,), (V,))[1]

    def JT(U):
        return vjp_fn(U)[0]

    return out, J, JT


def _apply_block(f, V: torch.Tensor) -> torch.Tensor:
    """Apply a batch map to V (n, b, …) block column by block column (vmap over b)."""
    if V.shape[1] == 1:
        return f(V[:, 0])[:, None]
    from torch.func import vmap

    return vmap(f, in_dims=1, out_dims=1)(V)


def spectral_norms(fn: Callable[[torch.Tensor], torch.Tensor], X: torch.Tensor, *,
                   tol: float | None = None, max_iter: int = 200, warm: dict | None = None,
                   block: int = 1, exact_dim: int = 64, chunk: int | None = None, seed: int = 0,
                   ) -> tuple[torch.Tensor, dict]:
    """‖J_fn(x_i)‖₂ for every row of X, by torch.func jvp/vjp; returns (norms (n,), state).

    fn maps a batch (n, …) to (n, …), samples independently (put BatchNorm in eval mode).
    When the input or output has at most `exact_dim` coordinates, J is materialised with that many
    jvps/vjps and its norm is exact. Otherwise block Lanczos runs on JᵀJ (or JJᵀ, whichever side is
    smaller) to relative error `tol`; `state` (top vectors) can be passed back as `warm`.
    """
    _check_eval(fn)
    if X.ndim < 2:
        raise ConfigError(f"X must be a batch (n, …); got shape {tuple(X.shape)}.")
    tol = default_tol(X.dtype) if tol is None else tol
    check_range("tol", tol, lo=0.0, lo_open=True)
    check_range("max_iter", max_iter, lo=1, integer=True)
    check_range("block", block, lo=1, integer=True)
    n = X.shape[0]
    with torch.no_grad():
        probe = fn(X[:1])
    in_dim, out_dim = X[0].numel(), probe[0].numel()
    in_shape, out_shape = X.shape[1:], probe.shape[1:]
    step = chunk or _auto_chunk(n, 2.0 * (min(max_iter, in_dim, out_dim, 64) + 4) * block
                                * max(in_dim, out_dim) * X.element_size())
    norms = torch.empty(n, dtype=X.dtype, device=X.device)
    vec_parts, worst, side = [], 0.0, None
    for s in range(0, n, step):
        Xs = X[s:s + step].detach()
        ns = Xs.shape[0]
        with torch.no_grad():
            out, J, JT = _linear_maps(fn, Xs)
        if min(in_dim, out_dim) <= exact_dim:
            with torch.no_grad():
                if out_dim <= in_dim:   # rows of J by vjps of the output basis
                    E = torch.eye(out_dim, dtype=out.dtype, device=out.device)
                    E = E.reshape(out_dim, 1, *out_shape).expand(out_dim, ns, *out_shape)
                    rows = _apply_block(JT, E.transpose(0, 1)).reshape(ns, out_dim, in_dim)
                    Gram = rows @ rows.transpose(-1, -2)
                else:                   # columns of J by jvps of the input basis
                    E = torch.eye(in_dim, dtype=Xs.dtype, device=Xs.device)
                    E = E.reshape(in_dim, 1, *in_shape).expand(in_dim, ns, *in_shape)
                    cols = _apply_block(J, E.transpose(0, 1)).reshape(ns, in_dim, out_dim)
                    Gram = cols @ cols.transpose(-1, -2)
            norms[s:s + ns] = _lam_max_psd(Gram).sqrt()
            side = "exact"
            continue
        side = "in" if in_dim <= out_dim else "out"
        dim = in_dim if side == "in" else out_dim
        shp = in_shape if side == "in" else out_shape
        cache: dict = {"idx": None, "maps": (J, JT)}

        def matvec(V, idx, Xs=Xs, cache=cache, shp=shp):
            if idx is not None and (cache["idx"] is None or cache["idx"].shape != idx.shape
                                    or not torch.equal(cache["idx"], idx)):
                with torch.no_grad():
                    _, J2, JT2 = _linear_maps(fn, Xs[idx])
                cache["idx"], cache["maps"] = idx, (J2, JT2)
            Jm, JTm = cache["maps"]
            nv, b = V.shape[1], V.shape[2]
            Vs = V[0].reshape(nv, b, *shp)
            with torch.no_grad():
                if side == "in":
                    Y = _apply_block(JTm, _apply_block(Jm, Vs))
                else:
                    Y = _apply_block(Jm, _apply_block(JTm, Vs))
            return Y.reshape(1, nv, b, dim)

        wv = None
        if warm is not None and warm.get("side") == side:
            wv = warm["vectors"][:, s:s + ns]
        lam, bnd, vecs, _ = top_eigenvalues(matvec, (1, ns), dim, dtype=Xs.dtype, device=Xs.device, tol=tol,
                                            max_iter=max_iter, block=block, warm=wv, seed=seed + s)
        norms[s:s + ns] = lam[0].clamp_min(0).sqrt()
        worst = max(worst, float((torch.sqrt(1 + bnd) - 1).max()))
        vec_parts.append(vecs)
    state = {"side": side, "max_rel_bound": worst}
    if vec_parts and side != "exact":
        state["vectors"] = torch.cat(vec_parts, 1)
    return norms, state


def split_norms(inner: Callable, outer: Callable, X: torch.Tensor, *, tol: float | None = None,
                max_iter: int = 200, warm: dict | None = None, block: int = 1, exact_dim: int = 64,
                chunk: int | None = None, seed: int = 0) -> NormSample:
    """Norms of J_f, J_outer at inner(x) and J_inner for the split f = outer ∘ inner; shape (1, n).

    X (n, …) a batch (put BatchNorm in eval mode); the keyword arguments as in `spectral_norms`,
    `warm` the `state` of an earlier result. Returns a NormSample with full, outer, inner (1, n).
    """
    warm = warm or {}
    kw = dict(tol=tol, max_iter=max_iter, block=block, exact_dim=exact_dim, chunk=chunk, seed=seed)
    full, s_full = spectral_norms(lambda x: outer(inner(x)), X, warm=warm.get("full"), **kw)
    with torch.no_grad():
        Z = inner(X)
    out_n, s_out = spectral_norms(outer, Z, warm=warm.get("outer"), **kw)
    in_n, s_in = spectral_norms(inner, X, warm=warm.get("inner"), **kw)
    bound = max(s["max_rel_bound"] for s in (s_full, s_out, s_in))
    return NormSample(full[None], out_n[None], in_n[None],
                      state={"full": s_full, "outer": s_out, "inner": s_in}, max_rel_bound=bound)


# ---------------------------------------------------------------- the authors' estimator
def authors_power_iteration(fn: Callable[[torch.Tensor], torch.Tensor], X: torch.Tensor, iters: int = 30,
                            tol: float = 1e-4, seed: int = 0,
                            on_step: Callable[[int, torch.Tensor], None] | None = None) -> torch.Tensor:
    """Per-sample ‖J_fn(x)‖₂ by the power iteration of the authors' released analysis code.

    u ~ U[0, 1] normalised; repeat: v = J u, u = Jᵀ v, estimate ‖u‖/‖v‖, normalise u; stop after
    `iters` steps or when the largest signed relative change of the estimates is below `tol`.
    The estimate is a lower bound that can stop early on slowly converging spectra; it is the
    baseline for our Lanczos solver. X (n, …) a batch; returns norms (n,). `on_step(i, estimates)`,
    if given, is called after every step i = 1, 2, … (e.g. to record the estimates along the way).
    """
    _check_eval(fn)
    check_range("iters", iters, lo=1, integer=True)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    X = X.detach()
    U = torch.rand(X.shape, generator=gen, dtype=torch.float64).to(device=X.device, dtype=X.dtype)
    dims = tuple(range(1, X.ndim))
    U = U / torch.linalg.vector_norm(U, dim=dims, keepdim=True)
    with torch.no_grad():
        _, J, JT = _linear_maps(fn, X)
        est = None
        for step in range(1, iters + 1):
            V = J(U)
            U = JT(V)
            vdims = tuple(range(1, V.ndim))
            un, vn = torch.linalg.vector_norm(U, dim=dims), torch.linalg.vector_norm(V, dim=vdims)
            new = torch.nan_to_num(un / vn)
            U = U / un.clamp_min(torch.finfo(X.dtype).tiny).reshape(-1, *([1] * (X.ndim - 1)))
            if on_step is not None:
                on_step(step, new)
            if est is not None:
                change = torch.nan_to_num((new - est) / est)
                est = new
                if float(change.max()) < tol:
                    break
            est = new
    return est
