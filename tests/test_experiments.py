"""Figure experiments: configs per profile, grouping into ensembles, a tiny real run, plots."""
from __future__ import annotations

import math

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch

matplotlib.use("Agg")

from cocorr_core.ground.errors import ConfigError
from cocorr_core.papers.cocorrelation import experiments as ex
from cocorr_core.papers.cocorrelation import tables
from cocorr_core.papers.cocorrelation.plots import plot_figure
from cocorr_core.papers.cocorrelation.settings import get_profile
from cocorr_core.runs.config import RunConfig

TINY = dict(width=8, epochs=2, n_train=256, n_test=256, measures=ex.TWO_LAYER_MEASURES, device="cpu")


@pytest.mark.parametrize("profile", ["quick", "paper"])
def test_code_grid_sizes_follow_the_profile(profile):
    prof = get_profile(profile)
    cfgs = ex.figure_configs("fig3", profile)
    assert len(cfgs) == 2 * len(prof.widths) * len(prof.qs) * prof.seeds
    assert {c.width for c in cfgs} == set(prof.widths)
    assert {c.q for c in cfgs} == set(prof.qs)
    assert {c.seed for c in cfgs} == set(range(prof.seeds))
    for c in cfgs:
        assert (c.epochs, c.n_train, c.n_test, c.lr, c.batch_size) == (
            prof.epochs, prof.n_train, prof.n_test, 0.003, 512)
        assert (c.head, c.dataset, c.loss, c.optimizer, c.profile) == ("code", "mnist", "ce", "sgd", profile)
        # AutoAttack (attack_n > 0) only on Fig. 1's q = 0.25 runs; PGD (attack_eps) on all
        assert c.attack_eps == 0.5
        assert c.attack_n == (prof.attack_n if math.isclose(c.q, 0.25) else 0)
    # Figures 1, 3, 4, 5, 6 share one grid, so it trains once
    for fig in ("fig1", "fig4", "fig5", "fig6"):
        assert [c.key() for c in ex.figure_configs(fig, profile)] == [c.key() for c in cfgs]


def test_paper_profile_is_the_papers_grid():
    cfgs = ex.figure_configs("fig4", "paper")
    assert sorted({c.width for c in cfgs}) == [2**k for k in range(4, 14)]
    assert sorted({c.q for c in cfgs}) == [-0.15, -0.10, -0.05, 0.0, 0.05, 0.10, 0.15, 0.25]
    assert {c.epochs for c in cfgs} == {50} and {c.n_train for c in cfgs} == {60000}
    assert len({c.seed for c in cfgs}) == 5      # see test_figure_claims.py::test_why_five_seeds


def test_resnet_and_beyond_configs():
    prof = get_profile("quick")
    rn = ex.figure_configs("fig2", "quick")
    assert {(c.model, c.cut) for c in rn} == {(m, cut) for m in ("resnet50", "wide_resnet50_2")
                                              for cut in ex.RESNET_CUTS}
    assert {(c.optimizer, c.lr, c.epochs, c.n_train, c.n_test) for c in rn} == {
        ("adam", 5e-4, prof.resnet_epochs, prof.resnet_train_n, prof.resnet_measure_n)}
    beyond = ex.figure_configs("beyond", "quick")
    theory = [c for c in beyond if c.head == "theory"]
    assert theory and {(c.loss, c.optimizer, c.dataset) for c in theory} == {("bce", "gd", "mnist_binary")}
    assert {c.epochs for c in theory} == {prof.theory_steps}
    assert {c.seed for c in beyond if c.head == "code"} == set(range(prof.seeds))
    with pytest.raises(ConfigError, match="figure"):
        ex.figure_configs("fig9", "quick")


def test_group_key_batches_q_and_seed_only():
    cfgs = ex.figure_configs("fig3", "quick")
    groups = ex.group_configs(cfgs)
    prof = get_profile("quick")
    assert len(groups) == 2 * len(prof.widths)
    for g in groups:
        assert len({(c.activation, c.width) for c in g}) == 1
        assert len(g) == len(prof.qs) * prof.seeds
    a = cfgs[0]
    assert ex.group_key(a) == ex.group_key(a.replace(q=0.1, seed=3, attack_n=7))
    assert ex.group_key(a) != ex.group_key(a.replace(lr=0.01))
    assert ex.group_key(a) != ex.group_key(a.replace(width=a.width * 2))
    rn = ex.figure_configs("fig2", "quick")
    assert len(ex.group_configs(rn)) == 2  # one training per ResNet serves both cuts


def test_run_group_tiny_returns_tidy_metrics():
    cfgs = [RunConfig(q=q, seed=s, **TINY) for q, s in ((0.0, 0), (0.25, 1))]
    outcomes = ex.run_group(cfgs)
    assert [o.config for o in outcomes] == cfgs
    for o in outcomes:
        assert o.status == "ok" and o.failed_epoch is None
        m = o.metrics
        assert list(m.columns) == ["epoch", "metric", "value"]
        assert set(m["epoch"]) == {0, 1, 2}
        assert set(ex.TWO_LAYER_MEASURES) | {"train_loss"} <= set(m["metric"])
        per_epoch = m.groupby("metric")["epoch"].nunique()
        assert (per_epoch[list(ex.TWO_LAYER_MEASURES)] == 3).all()
        rho = m[m["metric"] == "cocorrelation"]["value"]
        assert ((rho > 0) & (rho <= 1 + 1e-6)).all()
        acc = m[m["metric"] == "test_accuracy"]["value"]
        assert ((acc >= 0) & (acc <= 1)).all()


def test_run_group_member_equals_single_run():
    cfgs = [RunConfig(q=q, **TINY) for q in (-0.1, 0.25)]
    together = ex.run_group(cfgs)[1].metrics
    alone = ex.run_group(cfgs[1:])[0].metrics
    pd.testing.assert_frame_equal(together.reset_index(drop=True), alone.reset_index(drop=True),
                                  check_exact=False, rtol=1e-4)


def test_run_group_attacks_at_the_last_epoch():
    cfgs = [RunConfig(q=0.25, attack_eps=0.5, attack_n=16, **TINY), RunConfig(q=0.0, attack_eps=0.5, **TINY)]
    a, b = ex.run_group(cfgs)
    for o in (a, b):
        last = o.metrics[o.metrics["epoch"] == 2]["metric"]
        assert {"pgd_accuracy", "pgd_accuracy_authors"} <= set(last)
    assert {"autoattack_accuracy", "autoattack_accuracy_authors"} <= set(a.metrics["metric"])
    assert "autoattack_accuracy" not in set(b.metrics["metric"])
    v = a.metrics.set_index("metric")["value"]
    clean = a.metrics[(a.metrics.metric == "test_accuracy") & (a.metrics.epoch == 2)]["value"].iloc[0]
    # a smaller radius can only leave more points robust (same PGD start seeds)
    assert 0 <= v["pgd_accuracy"] <= v["pgd_accuracy_authors"] + 1e-9
    assert 0 <= v["autoattack_accuracy"] <= 1 and clean >= 0


def test_diverging_config_is_a_failed_outcome():
    (bad,) = ex.run_group([RunConfig(q=-1.0, lr=1e37, **TINY)])
    assert bad.status == "failed" and bad.failed_epoch is not None and bad.failed_epoch >= 0
    assert "non-finite" in bad.error
    assert bad.metrics["value"].map(math.isfinite).all()  # what was measured before it diverged


def test_run_group_rejects_mixed_groups():
    with pytest.raises(ConfigError, match="group"):
        ex.run_group([RunConfig(**TINY), RunConfig(**{**TINY, "width": 16})])


def _synthetic(epochs=3):
    rows = []
    for act in ("linear", "relu"):
        for w in (16, 64):
            for q in (-0.15, 0.25):
                run = f"{act}{w}{q}"
                base = dict(run=run, status="ok", activation=act, width=w, q=q, seed=0, head="code",
                            model="two_layer", cut="", dataset="mnist")
                for e in range(epochs + 1):
                    for metric, v in (("cocorrelation", 0.5 + 0.01 * e * (q > 0)), ("norm_correlation", 0.99),
                                      ("rel_spread", 0.1), ("dirichlet_full", 3.0 / w),
                                      ("test_accuracy", 0.8)):
                        rows.append(dict(base, epoch=e, metric=metric, value=v))
                for metric in ("autoattack_accuracy", "autoattack_accuracy_authors", "pgd_accuracy"):
                    rows.append(dict(base, epoch=epochs, metric=metric, value=0.1 * math.log2(w) / 6))
    return pd.DataFrame(rows)


def test_table_views():
    df = _synthetic()
    f = tables.final(df, "cocorrelation", q=0.25)
    assert len(f) == 4 and (f["epoch"] == 3).all() and f["value"].tolist() == pytest.approx([0.53] * 4)
    acc = tables.accumulated_change(df, start=1, q=0.25)
    assert acc["delta"].tolist() == pytest.approx([0.02] * 4)
    assert tables.accumulated_change(df, start=0, q=-0.15)["delta"].abs().max() == 0
    failed = df.assign(status="failed")
    assert tables.final(failed, "cocorrelation").empty


@pytest.mark.parametrize("figure", ["fig1", "fig3", "fig4", "fig5", "fig6", "beyond"])
def test_plot_figure_labels_axes(figure):
    fig = plot_figure(figure, _synthetic(), "quick")
    axes = [ax for ax in fig.axes if (ax.has_data() or ax.images) and ax.get_label() != "<colorbar>"]
    assert axes
    for ax in axes:
        assert ax.get_xlabel() and ax.get_ylabel(), (figure, ax.get_title())
    assert "quick" in fig._suptitle.get_text()
    matplotlib.pyplot.close(fig)


def test_plot_fig2():
    rows = [dict(run=m + c, status="ok", model=m, cut=c, dataset="mnist32", epoch=e, metric="cocorrelation",
                 value=0.3 + 0.1 * e) for m in ("resnet50", "wide_resnet50_2") for c in ("stem", "pool")
            for e in range(3)]
    fig = plot_figure("fig2", pd.DataFrame(rows), "quick")
    assert "STAND-IN" in fig._suptitle.get_text()
    matplotlib.pyplot.close(fig)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_run_group_on_cuda_matches_cpu():
    cfg = RunConfig(q=0.25, **{**TINY, "device": "cuda"})
    gpu = ex.run_group([cfg])[0].metrics
    cpu = ex.run_group([cfg.replace(device="cpu")])[0].metrics
    def rho(m):
        return m[m.metric == "cocorrelation"]["value"].to_numpy()
    assert rho(gpu) == pytest.approx(rho(cpu), rel=1e-3)


def test_energy_factors_split_the_log_energy_exactly():
    """ϱ doubling every epoch and 𝔖(f) = 6ϱ: log ϱ(e)/ϱ(1) = (e − 1) log 2, and the rest 𝔖(f)/ϱ stays
    at log 1 = 0, for every run; epoch 0 is left out."""
    from cocorr_core.papers.cocorrelation.plots import energy_factors
    rows = []
    for seed in (0, 1):
        for epoch in range(4):
            rho = 0.1 * (seed + 1) * 2.0**epoch
            for metric, value in (("cocorrelation", rho), ("dirichlet_full", 6 * rho)):
                rows.append(dict(activation="relu", width=64, q=0.25, seed=seed, epoch=epoch,
                                 metric=metric, value=value, status="ok"))
    out = energy_factors(pd.DataFrame(rows))
    assert set(out["epoch"]) == {1, 2, 3} and len(out) == 2 * 2 * 3
    rho = out[out["factor"] == "ϱ"]
    np.testing.assert_allclose(rho["value"], (rho["epoch"] - 1) * np.log(2.0), atol=1e-12)
    np.testing.assert_allclose(out[out["factor"] != "ϱ"]["value"], 0.0, atol=1e-12)
