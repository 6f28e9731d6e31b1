"""The law-of-robustness chapter: Lipschitz estimators against exact answers, the proved-case
computations, and every ledger criterion on synthetic tables (including nulls and a power test)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from cocorr_core.ground.errors import ConfigError
from cocorr_core.lipschitz import (
    ensemble_function,
    gradient_ascent,
    gradient_norms,
    lipschitz_bracket,
    path_norm_bound,
    spectral_bound,
    sphere_points,
    two_layer_function,
)
from cocorr_core.measures import two_layer_norms
from cocorr_core.models import TwoLayerEnsemble
from cocorr_core.papers import law_of_robustness as lor
from cocorr_core.papers.law_of_robustness import claims, experiments, theory

D64 = torch.float64


def _weights(K=3, k=5, d=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(K, k, d, generator=g, dtype=D64), torch.randn(K, k, generator=g, dtype=D64)


def _exact_relu_lip_2d(W: torch.Tensor, a: torch.Tensor) -> tuple[float, float]:
    """(Lip, narrowest sector angle) of x ↦ Σ a_ℓ relu(w_ℓ·x) in R², exactly: the gradient is
    constant on each sector between consecutive lines w_ℓ·x = 0, so evaluating at every sector's
    mid-angle covers all of them."""
    angles = torch.atan2(W[:, 1], W[:, 0])
    cuts = torch.sort(torch.cat([angles + math.pi / 2, angles - math.pi / 2]) % (2 * math.pi)).values
    mids = (cuts + torch.roll(cuts, -1) + 2 * math.pi * (torch.arange(len(cuts)) == len(cuts) - 1)) / 2
    P = torch.stack([torch.cos(mids), torch.sin(mids)], 1)
    G = ((P @ W.T > 0).to(D64) * a) @ W
    gaps = (torch.roll(cuts, -1) - cuts) % (2 * math.pi)
    return float(G.norm(dim=1).max()), float(gaps.min())


# ---------------------------------------------------------------- lipschitz.py: exact answers
def test_linear_network_lipschitz_is_norm_of_aT_W():
    W, a = _weights()
    fn = two_layer_function(W, a, activation=lambda z: z)
    X = sphere_points(3, 50, 4, seed=1)
    exact = (a[:, :, None] * W).sum(1).norm(dim=-1)
    torch.testing.assert_close(gradient_norms(fn, X), exact[:, None].expand(3, 50), rtol=1e-12, atol=0)
    br = lipschitz_bracket(fn, W, a, X[0], n_random=20, ascent_steps=3)
    torch.testing.assert_close(br["lower"], exact, rtol=1e-12, atol=0)
    for key in ("spectral", "path"):
        assert bool((br[key] >= exact * (1 - 1e-12)).all())


def test_one_neuron_bracket_is_exact():
    W, a = _weights(K=2, k=1, d=6)
    fn = two_layer_function(W, a)
    br = lipschitz_bracket(fn, W, a, sphere_points(1, 10, 6, seed=2)[0], n_random=200, ascent_steps=2)
    exact = a[:, 0].abs() * W[:, 0].norm(dim=-1)
    for key in ("lower", "spectral", "path", "upper"):
        torch.testing.assert_close(br[key], exact, rtol=1e-12, atol=0)


def test_bracket_brackets_the_brute_force_lipschitz_constant_in_2d():
    W, a = _weights(K=4, k=7, d=2, seed=3)
    fn = two_layer_function(W, a)
    X = sphere_points(1, 30, 2, seed=4)[0]
    smooth = two_layer_function(W, a, activation=lambda z: torch.nn.functional.softplus(z, 20))
    br = lipschitz_bracket(fn, W, a, X, n_random=500, ascent_starts=8, ascent_steps=20, surrogate=smooth)
    exact, narrowest = torch.tensor([_exact_relu_lip_2d(W[i], a[i]) for i in range(4)], dtype=D64).T
    assert bool((br["lower"] <= exact * (1 + 1e-12)).all())
    # 500 random directions hit every sector wider than 0.05 rad (miss chance < 1e-5 per sector)
    wide = narrowest > 0.05
    assert bool(wide.any()) and bool((br["lower"][wide] >= exact[wide] * (1 - 1e-12)).all())
    assert bool((br["upper"] >= exact * (1 - 1e-12)).all())
    assert bool((br["upper"] <= br["spectral"]).all()) and bool((br["upper"] <= br["path"]).all())


def test_gradient_norms_match_the_shared_jacobian_measure():
    model = TwoLayerEnsemble.init(5, 9, qs=[0.0, 0.1], seeds=[0, 1], head="theory", dtype=D64, device="cpu")
    X = sphere_points(1, 40, 5, seed=5)[0]
    ours = gradient_norms(ensemble_function(model), X.expand(2, 40, 5))
    torch.testing.assert_close(ours, two_layer_norms(model, X).full, rtol=1e-10, atol=1e-14)


def test_weight_bounds_match_definitions():
    W, a = _weights(K=2, k=4, d=3)
    for i in range(2):
        assert spectral_bound(W, a)[i].item() == pytest.approx(
            torch.linalg.matrix_norm(W[i], 2).item() * a[i].norm().item(), rel=1e-12)
        assert path_norm_bound(W, a)[i].item() == pytest.approx(
            sum(abs(a[i, j].item()) * W[i, j].norm().item() for j in range(4)), rel=1e-12)


def test_ascent_finds_the_top_of_a_quadratic_and_never_exceeds_it():
    fit = theory.quadratic_fit(6, seed=0)
    assert fit["max_residual"] < 1e-10
    assert fit["lip_random"] <= fit["lip_ascent"] <= fit["lip_exact"] * (1 + 1e-12)
    assert fit["lip_ascent"] >= 0.99 * fit["lip_exact"]
    assert fit["lip_exact"] >= fit["bound"] * (1 - 1e-12)


def test_bad_inputs_raise_clear_errors():
    W, a = _weights()
    with pytest.raises(ConfigError, match="W \\(K, k, d\\)"):
        two_layer_function(W[0], a)
    with pytest.raises(ConfigError, match="\\(K, n, d\\)"):
        gradient_norms(two_layer_function(W, a), torch.zeros(4, 4, dtype=D64))
    with pytest.raises(ConfigError, match="data must have shape"):
        lipschitz_bracket(two_layer_function(W, a), W, a, torch.zeros(5, 7, dtype=D64))
    with pytest.raises(ConfigError):
        gradient_ascent(two_layer_function(W, a), sphere_points(3, 2, 4), step_size=0.0)


# ---------------------------------------------------------------- the proved cases
def test_sympy_gradient_formula_matches_autograd():
    assert theory.gradient_formula_check(k=4, d=3, seed=1) < 1e-12


def test_projection_bound_constants():
    sym = theory.projection_bound_symbolic()
    assert float(sym["ratio_at_n_eq_d"]) == pytest.approx(math.sqrt(2) / 4)
    assert float(sym["bound_times_sqrt_k_over_d_as_n_grows"]) == pytest.approx(math.sqrt(2) / 2)


def test_projection_witness_chain_holds_for_any_margin_one_network():
    model = TwoLayerEnsemble.init(8, 3, qs=[0.0, 0.0], seeds=[0, 1], head="theory", dtype=D64, device="cpu")
    X = sphere_points(1, 60, 8, seed=6)[0]
    X = X[model(X)[0, :, 0].detach().abs() > 1e-2][:8]    # points where f ≠ 0 get a label sign(f)
    y = torch.sign(model(X)[0, :, 0].detach())
    model.A.data[1] = model.A.data[0]          # both members must give the labels' signs
    model.W.data[1] = model.W.data[0] * 2.0
    net = experiments.margin_normalised(model, X, y)
    assert float((net(X)[..., 0].detach() * y).min(1).values.min()) == pytest.approx(1.0)
    w = theory.witness(net, X, y)
    bound = experiments.projection_bound(net.W, X, y).numpy()
    assert (w["witness_quotient"] >= w["witness_bound"] * (1 - 1e-12)).all()
    assert (w["witness_bound"] >= bound * (1 - 1e-12)).all()
    br = lipschitz_bracket(ensemble_function(net), net.W, net.A[:, 0], X, n_random=10, ascent_steps=1)
    assert (br["upper"].numpy() >= w["witness_quotient"] * (1 - 1e-12)).all()


# ---------------------------------------------------------------- ledger criteria on synthetic tables
def _table(slope: float, ratio: float = 10.0, seeds: int = 4, noise: float = 0.05, seed: int = 0):
    rng = np.random.default_rng(seed)
    rows = []
    for n, d in ((200, 10), (400, 10), (400, 20)):
        for k in lor.widths(n, d, lor.get_profile("quick")):
            for s in range(seeds):
                law = math.sqrt(n / k)
                lower = ratio * math.sqrt(n) * k ** slope * math.exp(noise * rng.standard_normal())
                rows.append({"n": n, "d": d, "width": k, "seed": s, "lower": lower, "law": law,
                             "spectral": 2 * lower, "fitted": True})
    return pd.DataFrame(rows)


def test_loglog_slopes_recover_a_known_power():
    slopes = claims.loglog_slopes(_table(-0.5, noise=0.0), "lower")
    assert slopes.shape == (4, 3)
    np.testing.assert_allclose(slopes, -0.5, atol=1e-12)


@pytest.mark.parametrize("slope,expected", [(-0.5, "reproduced"), (-0.4, "reproduced"),
                                            (0.0, "not reproduced"), (0.2, "not reproduced"),
                                            (-1.0, "partly")])
def test_slope_decision_on_synthetic_tables(slope, expected):
    verdict, iv, _ = claims.slope_decision(claims.loglog_slopes(_table(slope), "lower"))
    assert verdict == expected, iv


@pytest.mark.parametrize("ratio,expected", [(10.0, "reproduced"), (1.0, "not reproduced"),
                                            (0.5, "not reproduced")])
def test_bound_decision_on_synthetic_tables(ratio, expected):
    df = _table(-0.5, ratio=ratio)
    df["law"] = math.sqrt(df["n"].iloc[0]) * 0 + np.sqrt(df["n"]) * df["width"] ** -0.5
    verdict, iv, _ = claims.bound_decision(claims.log_ratios(df, "lower", "law"))
    assert verdict == expected, iv


def test_power_false_reproduced_rate_is_at_most_5_percent():
    """>= 200 null grids at the quick profile's seeds and cells: slopes of 0 and −1 for the slope
    claim, and a bound that holds with equality in one cell (true ratio exactly 1) for the bounds."""
    prof = lor.get_profile("quick")
    rng = np.random.default_rng(1)
    cells = len(prof.cells)
    false = {"slope 0": 0, "slope -1": 0, "ratio 1": 0}
    trials = 200
    for _ in range(trials):
        for name, true in (("slope 0", 0.0), ("slope -1", -1.0)):
            sl = true + 0.15 * rng.standard_normal((prof.seeds, cells))
            false[name] += claims.slope_decision(sl)[0] == "reproduced"
        lr = np.array([0.0] + [0.3] * (cells - 1)) + 0.2 * rng.standard_normal((prof.seeds, cells))
        false["ratio 1"] += claims.bound_decision(lr)[0] == "reproduced"
    rates = {k: v / trials for k, v in false.items()}
    assert all(r <= 0.05 for r in rates.values()), rates


def test_front_exports_and_ids():
    assert lor.PAPER == "law_of_robustness" and lor.FIGURES == ()
    assert all(c.id.startswith(("bubeck21.", "bs21.")) for c in lor.CLAIMS)
    assert {c.kind for c in lor.CLAIMS} == {"claim", "check"}
    with pytest.raises(ConfigError):
        lor.claim("bubeck21.nope")


def test_widths_span_n_over_d_to_n():
    prof = lor.get_profile("quick")
    for n, d in prof.cells:
        ks = lor.widths(n, d, prof)
        assert ks[0] == round(prof.width_start * n / d) and ks[-1] <= n and ks == sorted(set(ks))
