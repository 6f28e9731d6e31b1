"""Power of the theory chapter's claim criteria: over 200 simulated null grids at the quick
profile's seeds and sizes, each criterion says "reproduced" in at most 5 % of them.

Each null sits on the boundary of its claim (the least favourable case): the constant needed
grows like m^GROWTH_TOL, the fraction of good steps is FRACTION_MIN, the median ratio ②/① is
NEGLIGIBLE_RATIO, the rise of ϱ does not depend on 1/‖W‖², and the Lemma B.2 trials fall within
their rate with probability 1 − δ."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cocorr_core.papers.cocorrelation import claims_dynamics as cd
from cocorr_core.papers.cocorrelation import claims_theory as ct
from cocorr_core.papers.cocorrelation.settings import (
    LEMMA_DELTA,
    THEORY_SIZES,
    dynamics_settings,
    get_profile,
)

GRIDS = 200
MAX_RATE = 0.05
DYN = dynamics_settings("quick")
SEEDS = DYN.seeds
SZ = THEORY_SIZES["quick"]


def _rate(trial) -> float:
    rng = np.random.default_rng(12345)
    return float(np.mean([bool(trial(rng)) for _ in range(GRIDS)]))


@pytest.mark.parametrize("widths", [DYN.linear_widths, DYN.relu_widths], ids=["linear", "relu"])
def test_growth_criterion_null(widths):
    def trial(rng):
        rows = [(s, w, np.exp(cd.GROWTH_TOL * np.log(w) + 0.3 * rng.normal()))
                for s in range(SEEDS) for w in widths]
        iv = cd.growth_slope(pd.DataFrame(rows, columns=["seed", "width", "K"]), "K")
        return cd.holds_below(iv, cd.GROWTH_TOL, cd.GROWTH_EST_MAX)
    assert _rate(trial) <= MAX_RATE


@pytest.mark.parametrize("cells,steps", [(len(DYN.linear_widths) * 2, DYN.steps), (1, DYN.relu_steps)],
                         ids=["linear_steps", "relu_steps"])
def test_fraction_criterion_null(cells, steps):
    def trial(rng):
        p = rng.beta(cd.FRACTION_MIN * 200, (1 - cd.FRACTION_MIN) * 200, size=(SEEDS, cells))
        arr = rng.binomial(steps, p) / steps
        return cd.holds_above(cd.seed_mean(arr), cd.FRACTION_MIN, cd.FRACTION_EST_MIN)
    assert _rate(trial) <= MAX_RATE


def test_negligible_ratio_criterion_null():
    def trial(rng):
        arr = cd.NEGLIGIBLE_RATIO * np.exp(0.5 * rng.normal(size=(SEEDS, 2)))
        return cd.holds_below(cd.seed_mean(arr), cd.NEGLIGIBLE_RATIO, cd.NEGLIGIBLE_EST_MAX)
    assert _rate(trial) <= MAX_RATE


def test_speed_criterion_null():
    seeds = get_profile("quick").seeds
    cells = [(w, q) for w in SZ.widths for q in SZ.qs]

    def trial(rng):
        rows = [{"width": w, "q": q, "seed": s, "inv_norm_sq": w ** (1 + 2 * q), "rise": np.exp(rng.normal())}
                for w, q in cells for s in range(seeds)]
        eff = ct.speed_effects(pd.DataFrame(rows))
        return ct.holds_above(eff["spearman"], 0.0, ct.SPEARMAN_EST_MIN)
    assert _rate(trial) <= MAX_RATE


def test_lemma_criterion_null():
    cells = len(SZ.lemma_widths) * len(SZ.lemma_ns) * sum(q > 0 for q in SZ.qs)

    def trial(rng):
        within = (rng.random((SZ.lemma_trials, cells)) < 1 - LEMMA_DELTA) * 1.0
        return ct.interval_above(cd.seed_mean(within), 1 - LEMMA_DELTA)
    assert _rate(trial) <= MAX_RATE
