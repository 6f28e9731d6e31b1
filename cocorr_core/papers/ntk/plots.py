"""One function per figure of the NTK chapter (seaborn over the tidy tables)."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns


def plot_width_check(df: pd.DataFrame):
    """Relative error of the empirical NTK against width (log–log), with a 1/√width guide."""
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    sns.lineplot(
        df.assign(hidden_layers=df["depth"].astype(str)),
        x="width",
        y="rel_err",
        hue="hidden_layers",
        marker="o",
        errorbar=("ci", 95),
        ax=ax,
    )
    w = np.array(sorted(df["width"].unique()), float)
    ax.plot(w, 2.0 / np.sqrt(w), "k--", lw=1, label="2/√width")
    ax.set(xscale="log", yscale="log", xlabel="hidden width (units)", ylabel="‖Θ_emp − Θ‖_F / ‖Θ‖_F")
    ax.legend(title="hidden layers", fontsize=8)
    fig.tight_layout()
    return fig


def plot_features(features: pd.DataFrame):
    """Usefulness (clean accuracy) and robustness (FGSM accuracy) of each eigen-feature against its index."""
    long = features.melt(
        id_vars=["seed", "feature"],
        value_vars=["clean_acc", "fgsm_acc"],
        var_name="measure",
        value_name="accuracy",
    )
    long["measure"] = long["measure"].map(
        {"clean_acc": "clean (usefulness)", "fgsm_acc": "FGSM (robustness)"}
    )
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    sns.lineplot(
        long, x=long["feature"] + 1, y="accuracy", hue="measure", marker="o", errorbar=("ci", 95), ax=ax[0]
    )
    ax[0].axhline(float(features["majority"].mean()), color="grey", ls=":", lw=1, label="majority rate")
    ax[0].set(
        xscale="log", xlabel="eigen-index i + 1 (eigenvalues decreasing)", ylabel="test accuracy of sign f_i"
    )
    ax[0].legend(fontsize=8)
    sns.lineplot(
        features, x=features["feature"] + 1, y="eigenvalue", marker="o", errorbar=("ci", 95), ax=ax[1]
    )
    ax[1].set(xscale="log", yscale="log", xlabel="eigen-index i + 1", ylabel="eigenvalue λ_i of Θ(X, X)")
    fig.tight_layout()
    return fig


def plot_flow(flow: pd.DataFrame):
    """Clean, FGSM and PGD accuracy of the gradient-flow predictor f_t against time."""
    finite = flow[np.isfinite(flow["time_lmax"])]
    last = float(finite["time_lmax"].max()) * 10
    shown = flow.assign(time=flow["time_lmax"].where(np.isfinite(flow["time_lmax"]), last))
    long = shown.melt(
        id_vars=["seed", "time"],
        value_vars=["clean_acc_attacked_set", "fgsm_acc", "pgd_acc"],
        var_name="measure",
        value_name="accuracy",
    )
    long["measure"] = long["measure"].map(
        {"clean_acc_attacked_set": "clean", "fgsm_acc": "FGSM", "pgd_acc": "PGD"}
    )
    fig, ax = plt.subplots(figsize=(6, 3.6))
    sns.lineplot(long, x="time", y="accuracy", hue="measure", marker="o", errorbar=("ci", 95), ax=ax)
    ax.set(
        xscale="log",
        xlabel="gradient-flow time η t λ_max (rightmost point: t = ∞)",
        ylabel="test accuracy of f_t",
    )
    fig.tight_layout()
    return fig


def plot_transfer(transfer: pd.DataFrame):
    """Accuracy of the finite networks on clean, NTK-made (transferred) and white-box PGD examples."""
    long = transfer.melt(
        id_vars=["seed", "width"],
        value_vars=["net_clean_acc_attacked_set", "net_on_ntk_adv_acc", "net_whitebox_acc", "ntk_adv_acc"],
        var_name="inputs",
        value_name="accuracy",
    )
    long["inputs"] = long["inputs"].map(
        {
            "net_clean_acc_attacked_set": "network, clean",
            "net_on_ntk_adv_acc": "network, NTK-made PGD (transfer)",
            "net_whitebox_acc": "network, its own PGD",
            "ntk_adv_acc": "kernel f_t, its own PGD",
        }
    )
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    sns.lineplot(long, x="width", y="accuracy", hue="inputs", marker="o", errorbar=("ci", 95), ax=ax[0])
    ax[0].set(xscale="log", xlabel="hidden width (units)", ylabel="test accuracy")
    ax[0].legend(fontsize=7)
    sns.lineplot(transfer, x="width", y="rel_distance", marker="o", errorbar=("ci", 95), ax=ax[1])
    ax[1].set(
        xscale="log", yscale="log", xlabel="hidden width (units)", ylabel="‖f_net − f_t‖ / ‖f_t‖ (test)"
    )
    fig.tight_layout()
    return fig


def plot_distance_heatmaps(dyn: pd.DataFrame, probe: str = "clean", seed: int = 0):
    """Epoch × epoch kernel distance 1 − ⟨K_a, K_b⟩/(‖K_a‖‖K_b‖), one panel per training regime."""
    rows = dyn[(dyn["metric"] == f"distance_{probe}") & (dyn["seed"] == seed)]
    regimes = list(dict.fromkeys(rows["regime"]))
    fig, ax = plt.subplots(1, len(regimes), figsize=(4.2 * len(regimes), 3.6))
    vmax = float(rows["value"].max())
    for axi, regime in zip(np.atleast_1d(ax), regimes):
        m = rows[rows["regime"] == regime].pivot_table(index="epoch", columns="epoch2", values="value")
        sns.heatmap(
            m.iloc[::-1],
            annot=m.shape[0] <= 8,
            fmt=".2g",
            vmin=0,
            vmax=vmax,
            cmap="viridis",
            cbar_kws={"label": "kernel distance"},
            ax=axi,
            annot_kws={"fontsize": 6},
        )
        axi.set(title=f"{regime} training", xlabel="epoch", ylabel="epoch")
    fig.tight_layout()
    return fig


def plot_dynamics_curves(dyn: pd.DataFrame, top: int, probe: str = "clean"):
    """Distance from the initial kernel and tail mass 1 − Σ_top λ²/Σλ² against the epoch, per regime."""
    d = dyn[dyn["metric"] == f"dist_init_{probe}"]
    m = dyn[dyn["metric"] == f"top_mass_{probe}"].assign(value=lambda x: 1 - x["value"])
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    sns.lineplot(d, x="epoch", y="value", hue="regime", marker="o", errorbar=("ci", 95), ax=ax[0])
    ax[0].set(xlabel="epoch", ylabel="distance from the initial kernel")
    sns.lineplot(m, x="epoch", y="value", hue="regime", marker="o", errorbar=("ci", 95), ax=ax[1])
    ax[1].set(xlabel="epoch", yscale="log", ylabel=f"tail mass 1 − Σ_(i≤{top}) λ_i² / Σ λ_i²")
    fig.tight_layout()
    return fig


def finite(x: float) -> float:
    """x, or NaN for ±∞ (for printing)."""
    return x if math.isfinite(x) else float("nan")
