"""Batched block Lanczos (`linalg.lanczos.top_eigenvalues`) against dense float64 eigensolvers."""
from __future__ import annotations

import pytest
import torch

from cocorr_core.ground.errors import ConfigError
from cocorr_core.linalg.lanczos import top_eigenvalues

CPU = torch.device("cpu")


def psd_batch(n, dim, seed, top=None):
    """n random PSD matrices (float64) with a clustered top of the spectrum, like a Marchenko–Pastur edge."""
    g = torch.Generator().manual_seed(seed)
    B = torch.randn(n, 2 * dim, dim, generator=g, dtype=torch.float64) / dim**0.5
    M = B.transpose(-1, -2) @ B
    if top is not None:
        M = M + top * torch.eye(dim, dtype=torch.float64)[:1].T @ torch.eye(dim, dtype=torch.float64)[:1]
    return M


def matvec_of(M):
    def matvec(V, idx):
        Mi = M if idx is None else M[idx]
        return V @ Mi[None]
    return matvec


@pytest.mark.parametrize("tol", [1e-1, 1e-3, 1e-6])
@pytest.mark.parametrize("block", [1, 3])
def test_top_eigenvalue_within_certified_bound(tol, block):
    M = psd_batch(12, 50, seed=1)
    exact = torch.linalg.eigvalsh(M)[:, -1]
    lam, bound, _, _ = top_eigenvalues(matvec_of(M), (1, 12), 50, dtype=torch.float64, device=CPU,
                                       tol=tol, block=block)
    rel = (exact - lam[0]) / exact
    assert bool((rel >= -1e-12).all())                 # Ritz values are lower bounds
    assert bool((rel <= bound[0] + 1e-12).all())       # and the certificate holds
    assert bool((bound <= (1 + tol) ** 2 - 1).all())   # at the asked tolerance (on sqrt λ)


def test_warm_start_orthogonal_to_the_top_is_rescued_by_the_random_vector():
    M = psd_batch(6, 40, seed=2, top=5.0)               # top eigenvector e_1, well separated
    exact = torch.linalg.eigvalsh(M)[:, -1]
    warm = torch.zeros(1, 6, 2, 40, dtype=torch.float64)
    warm[..., 0, 1] = 1.0                              # both warm directions orthogonal to e_1 ...
    warm[..., 1, 2] = 1.0
    lam, bound, _, _ = top_eigenvalues(matvec_of(M), (1, 6), 40, dtype=torch.float64, device=CPU,
                                       tol=1e-8, block=3, warm=warm)   # ... the third vector is random
    assert float(((exact - lam[0]) / exact).abs().max()) <= 2e-8


def test_bad_block_and_warm_shapes():
    M = psd_batch(2, 10, seed=3)
    with pytest.raises(ConfigError, match="block"):
        top_eigenvalues(matvec_of(M), (1, 2), 10, dtype=torch.float64, device=CPU, tol=1e-6, block=11)
    with pytest.raises(ConfigError, match="warm"):
        top_eigenvalues(matvec_of(M), (1, 2), 10, dtype=torch.float64, device=CPU, tol=1e-6,
                        warm=torch.zeros(1, 3, 1, 10, dtype=torch.float64))


def test_ritz_values_are_checked_when_the_random_start_bound_first_certifies():
    """With checks every 2 steps, a solve certified by the random-start bound at an odd step k
    stops at k, not k + 1."""
    from cocorr_core.linalg.lanczos import RANDOM_START_DELTA, random_start_bound
    dim, tol, block = 400, 0.1, 3
    delta = RANDOM_START_DELTA ** (1 / block)
    k = next(k for k in range(1, 100) if random_start_bound(dim, k, delta) <= (1 + tol) ** 2 - 1)
    assert k % 2 == 1
    # a flat spectrum: the second Ritz pair never converges, so only the random-start bound certifies
    M = torch.diag(torch.linspace(1.0, 1.05, dim, dtype=torch.float64))[None].expand(4, dim, dim)
    lam, bound, _, steps = top_eigenvalues(matvec_of(M), (1, 4), dim, dtype=torch.float64, device=CPU,
                                           tol=tol, block=block, check_every=2)
    assert steps == k
    assert bool((bound[0] == random_start_bound(dim, k, delta)).all())
    assert bool((lam[0] <= 1.05 + 1e-12).all() & ((1.05 - lam[0]) / 1.05 <= bound[0]).all())


def test_two_layer_norms_choose_their_block_by_tolerance():
    """One start vector where the random-start bound certifies (tol ≥ 1e-2), three below."""
    from cocorr_core.measures import KATO_TEMPLE_BELOW, two_layer_norms
    from cocorr_core.models import TwoLayerEnsemble
    model = TwoLayerEnsemble.init(60, 180, [0.0], [1], dtype=torch.float64, device="cpu")
    X = torch.randn(5, 60, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for tol, block in ((KATO_TEMPLE_BELOW, 1), (KATO_TEMPLE_BELOW / 2, 3)):
        ns = two_layer_norms(model, X, tol=tol, exact_dim=8)
        assert ns.state["inner"].shape[2] == block
    with pytest.raises(ConfigError, match="block"):
        two_layer_norms(model, X, tol=1e-2, exact_dim=8, block=0)
