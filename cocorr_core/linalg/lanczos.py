"""Batched block Lanczos for the top eigenvalue of many small PSD operators, with certificates.

See `cocorr_core.measures` for the certificate (Kato–Temple with a trusted gap, or before the gap
can be trusted the random-start bound of Kuczyński & Woźniakowski) and how the two-layer norms
choose their block of start vectors.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ..ground.errors import ConfigError

Matvec = Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]


def _orthonormal_rows(V: torch.Tensor) -> torch.Tensor:
    """Orthonormalise the b rows of every (…, b, dim) block."""
    Q, _ = torch.linalg.qr(V.transpose(-1, -2))
    return Q.transpose(-1, -2)


RANDOM_START_DELTA = 1e-4   # failure probability allowed to the random-start bound, per problem


def random_start_bound(dim: int, steps: int, delta: float = RANDOM_START_DELTA) -> float:
    """A relative bound (λ_max − θ₁)/θ₁ that holds with probability ≥ 1 − delta for any PSD spectrum.

    Kuczyński & Woźniakowski (1992): after k Lanczos steps from a start uniformly distributed on
    the sphere of R^dim, P(θ₁ < (1 − ε) λ_max) ≤ 1.648 √dim e^{−√ε (2k − 1)}. A block Krylov space
    that holds such a start contains its k-step space, so the bound carries over; with r independent
    random starts in the block all r must fail, so each may be given delta^(1/r). Returns ε/(1 − ε)
    (inf while ε ≥ 1)."""
    eps = (math.log(1.648 * math.sqrt(dim) / delta) / (2 * steps - 1)) ** 2
    return eps / (1.0 - eps) if eps < 1 else float("inf")


def top_eigenvalues(matvec: Matvec, shape: tuple[int, int], dim: int, *, dtype: torch.dtype,
                    device: torch.device, tol: float, max_iter: int = 200, block: int = 1,
                    warm: torch.Tensor | None = None, seed: int = 0, check_every: int = 2,
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """λ_max of K×n symmetric positive semidefinite operators at once, by block Lanczos.

    `matvec(V, idx)` applies the operators to V of shape (K, n', b, dim) (rows are vectors),
    where idx (a LongTensor of sample indices, or None for all n) says which samples' operators
    are still being solved: converged samples are dropped so their work stops.
    shape = (K, n); dim: operator size; tol: relative accuracy asked of sqrt(λ); block: b start
    vectors; warm (K, n, b′, dim): start directions (e.g. the vectors of an earlier solve); seed:
    the random start; check_every: Ritz values are checked every that many steps.
    Returns (λ (K, n), relative error bound (K, n), top Ritz vectors (K, n, b, dim), steps).
    Full reorthogonalisation (two passes of classical Gram–Schmidt) keeps the basis orthonormal.
    """
    K, n = shape
    b = block
    if not 1 <= b <= dim:
        raise ConfigError(f"block={b} must be between 1 and the operator dimension {dim}.")
    steps_cap = max(1, min(max_iter, dim // b))   # a basis of at most dim vectors
    gen = torch.Generator(device="cpu").manual_seed(seed)
    start = torch.randn(K, n, b, dim, generator=gen, dtype=torch.float64).to(device=device, dtype=dtype)
    if warm is not None:
        warm = warm.to(device=device, dtype=dtype)
        if warm.shape[:2] != (K, n) or warm.shape[-1] != dim:
            raise ConfigError(f"warm start of shape {tuple(warm.shape)} does not fit {K}×{n} problems "
                              f"of dim {dim}.")
        w = warm[:, :, :b]
        # keep the warm directions and fill the block up with the random ones; a little noise
        # keeps the start from being exactly an eigenvector of the new operator's complement
        start[:, :, : w.shape[2]] = (w + 1e-3 * start[:, :, : w.shape[2]]
                                     * w.norm(dim=-1, keepdim=True).clamp_min(1e-30) / math.sqrt(dim))

    # start vectors drawn at random: each fails the random-start bound independently
    n_random = b if warm is None else max(0, b - warm.shape[2])
    lam = torch.zeros(K, n, dtype=dtype, device=device)
    bound = torch.full((K, n), float("inf"), dtype=dtype, device=device)
    vecs = torch.zeros(K, n, b, dim, dtype=dtype, device=device)
    done = torch.zeros(K, n, dtype=torch.bool, device=device)
    # relative error of sqrt(θ) ≤ tol  ⇔  bound/θ ≤ (1 + tol)² − 1
    lam_tol = (1.0 + tol) ** 2 - 1.0

    # the first step at which the random-start bound alone certifies tol: Ritz values are checked
    # there too, whatever check_every says
    delta = RANDOM_START_DELTA ** (1 / n_random) if n_random else 1.0
    first_certified = next((k for k in range(1, steps_cap + 1)
                            if n_random and random_start_bound(dim, k, delta) <= lam_tol), 0)

    idx = None                                  # active sample indices (None = all)
    cap = min(steps_cap, 24)                    # blocks allocated; doubled when full
    Q = torch.empty(K, n, cap * b + b, dim, dtype=dtype, device=device)  # basis rows
    T = torch.zeros(K, n, cap * b + b, cap * b + b, dtype=dtype, device=device)
    Q[:, :, :b] = _orthonormal_rows(start)
    steps = 0
    for j in range(steps_cap):
        steps = j + 1
        lo, hi = j * b, (j + 1) * b
        if j == cap:
            cap = min(steps_cap, 2 * cap)
            Q2 = torch.empty(*Q.shape[:2], cap * b + b, dim, dtype=dtype, device=device)
            T2 = torch.zeros(*T.shape[:2], cap * b + b, cap * b + b, dtype=dtype, device=device)
            Q2[:, :, :hi], T2[:, :, :hi, :hi] = Q[:, :, :hi], T[:, :, :hi, :hi]
            Q, T = Q2, T2
        Qj = Q[:, :, lo:hi]
        Z = matvec(Qj, idx)
        Aj = Qj @ Z.transpose(-1, -2)
        T[:, :, lo:hi, lo:hi] = 0.5 * (Aj + Aj.transpose(-1, -2))
        basis = Q[:, :, :hi]
        for _ in range(2):
            Z = Z - (Z @ basis.transpose(-1, -2)) @ basis
        Qn, R = torch.linalg.qr(Z.transpose(-1, -2))
        Qn = Qn.transpose(-1, -2)
        # on (near) breakdown a column of Z vanishes and QR returns an arbitrary direction for it;
        # T stays right (its R entry is ~0) provided the new block is orthogonal to the basis
        for _ in range(2):
            Qn = _orthonormal_rows(Qn - (Qn @ basis.transpose(-1, -2)) @ basis)
        Q[:, :, hi:hi + b] = Qn
        Bj = R                                              # (…, b, b): A Q_j = … + Q_{j+1} B
        T[:, :, hi:hi + b, lo:hi] = Bj
        T[:, :, lo:hi, hi:hi + b] = Bj.transpose(-1, -2)

        last = j == steps_cap - 1
        if not last and (j + 1) % check_every and j > 0 and steps != first_certified:
            continue
        theta, S = torch.linalg.eigh(T[:, :, :hi, :hi])     # ascending
        res = (Bj @ S[:, :, lo:hi, :]).norm(dim=-2)         # residual norm of every Ritz pair
        t1, r1 = theta[..., -1], res[..., -1]
        scale = t1.abs().clamp_min(torch.finfo(dtype).tiny)
        if hi > 1:
            # Kato–Temple needs an upper bound on λ₂; θ₂ + r₂ is one only once the second Ritz pair
            # has itself converged, so the sharper bound is used only when r₂ is small against the gap
            ritz_gap = theta[..., -1] - theta[..., -2]
            gap = ritz_gap - res[..., -2]
            trusted = (res[..., -2] <= 0.1 * ritz_gap) & (gap > 0)
            kt = torch.where(trusted, r1.square() / gap.clamp_min(torch.finfo(dtype).tiny), r1)
            resid = torch.where(trusted, torch.minimum(r1, kt), torch.full_like(r1, float("inf")))
        else:
            resid = torch.full_like(r1, float("inf"))
        # until the top two Ritz pairs have converged, θ₁ may sit near an eigenvalue below λ_max
        # (its residual then bounds the distance to that one): only the random-start bound holds
        if n_random:
            err = torch.minimum(resid, scale * random_start_bound(dim, steps, delta))
        else:   # a start chosen by the caller (e.g. the previous solve's vectors) is taken on trust
            err = torch.minimum(resid, r1)
        if hi >= dim:                                       # the basis spans the space: exact
            err = torch.zeros_like(err)
        conv = (err <= lam_tol * scale) | (t1 <= torch.finfo(dtype).tiny) | torch.tensor(last, device=device)

        # record newly converged problems (and everything on the last step)
        full_idx = torch.arange(n, device=device) if idx is None else idx
        new = conv & ~done[:, full_idx]
        if new.any():
            ks, cols = new.nonzero(as_tuple=True)
            ss = full_idx[cols]
            lam[ks, ss] = t1[ks, cols]
            bound[ks, ss] = err[ks, cols] / scale[ks, cols]
            top = S[ks, cols][:, :, -b:].flip(-1)           # top b Ritz coefficient vectors
            vecs[ks, ss] = top.transpose(-1, -2) @ basis[ks, cols]
            done[ks, ss] = True
        if bool(done.all()):
            break
        # drop samples whose every member has converged once enough of them have
        active_cols = (~done[:, full_idx]).any(0)
        if active_cols.float().mean() < 0.75:
            keep = active_cols.nonzero(as_tuple=True)[0]
            idx = full_idx[keep]
            Q, T = Q[:, keep], T[:, keep]
    return lam, bound, vecs, steps
