"""Figures of the feature-averaging chapter (seaborn over the tidy tables of `experiments`)."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from . import geometry
from .claims import averaging_effects


def cosine_heatmaps(cos: pd.DataFrame, seed: int = 0):
    """Figure 2 (synthetic): cos(μ_i, w_j) at the last step, binary network (left) and k-class
    network (right), for one seed; annotated."""
    last = cos[(cos["step"] == cos["step"].max()) & (cos["seed"] == seed)]
    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    titles = {"binary": "binary network: feature averaging", "k-class": "k-class network: feature decoupling"}
    for ax, (model, title) in zip(axes, titles.items()):
        grid = last[last["model"] == model].pivot(index="centre", columns="neuron", values="cos")
        grid.index = [f"μ{i + 1}" for i in grid.index]
        grid.columns = [f"w{j + 1}" for j in grid.columns]
        sns.heatmap(
            grid,
            annot=True,
            fmt=".2f",
            annot_kws={"size": 7},
            cmap="viridis",
            ax=ax,
            vmin=min(0.0, float(grid.values.min())),
            cbar_kws={"label": "cosine"},
        )
        ax.set_title(title)
        ax.set_xlabel("neuron (binary: w1–w5 have head +1/m)" if model == "binary" else "sub-network j")
        ax.set_ylabel("cluster centre (μ1–μ5: class +1)")
    fig.tight_layout()
    return fig


def averaging_over_training(cos: pd.DataFrame, k: int):
    """Mean own- and other-class cosines (binary network) and own-cluster cosine (k-class) by GD step,
    with 95% intervals over seeds; dashed: 1/√|J_s|."""
    steps = sorted(cos["step"].unique())
    rows = []
    for step in steps:
        eff = averaging_effects(cos, k, step=step)
        for seed, row in eff.iterrows():
            rows += [
                {
                    "step": step,
                    "seed": seed,
                    "quantity": "binary: cosine to own-class centres",
                    "value": row["own_cos"],
                },
                {
                    "step": step,
                    "seed": seed,
                    "quantity": "binary: |cosine| to other class",
                    "value": row["off"],
                },
            ]
    kc = cos[cos["model"] == "k-class"]
    mine = kc[kc["centre"] == kc["neuron"] // max(1, kc["neuron"].nunique() // k)]
    for (step, seed), v in mine.groupby(["step", "seed"])["cos"].mean().items():
        rows.append({"step": step, "seed": seed, "quantity": "k-class: cosine to own cluster", "value": v})
    table = pd.DataFrame(rows)
    fig, ax = plt.subplots(figsize=(8, 4.2))
    sns.lineplot(data=table, x="step", y="value", hue="quantity", marker="o", errorbar=("ci", 95), ax=ax)
    ax.axhline(1 / math.sqrt(k // 2), ls="--", c="grey", lw=1)
    ax.text(steps[-1], 1 / math.sqrt(k // 2) + 0.02, "1/√|J_s|", ha="right", fontsize=8)
    ax.set_xscale("symlog", linthresh=1)
    ax.set_xlabel("GD step t")
    ax.set_ylabel("cosine (mean over neurons)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig, table


def robustness_curves(rob: pd.DataFrame, d: int, k: int):
    """Figure 3 (synthetic): robust accuracy against the L2 radius, per readout (colour) and attack
    (panel), 95% intervals over seeds; dashed lines at √(d/k), √(d/6·…) and √(d/2)."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 4), sharey=True)
    for ax, attack in zip(axes, ("PGD", "targeted", "both")):
        sns.lineplot(
            data=rob[rob["attack"] == attack],
            x="radius",
            y="robust_accuracy",
            hue="readout",
            errorbar=("ci", 95),
            marker=".",
            ax=ax,
        )
        for r, label in (
            (geometry.fa_radius(d, k), "√(d/k)"),
            (geometry.rho_beta(d, k - k // 2, 0.0), "ρ(0)"),
            (geometry.optimal_radius(d), "√(d/2)"),
        ):
            ax.axvline(r, ls="--", c="grey", lw=1)
            ax.text(r, 1.02, label, ha="center", fontsize=8)
        ax.set_title(f"attack: {attack}", pad=14)
        ax.set_xlabel("L2 radius ρ")
        ax.set_ylabel("robust accuracy")
    fig.tight_layout()
    return fig


def fa_curve(table: pd.DataFrame, d: int, k: int):
    """The idealised averaged network: measured robust accuracy under each attack and Φ(√(d/k) − ρ)."""
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    sns.lineplot(data=table, x="radius", y="robust_accuracy", hue="attack", marker="o", ax=ax)
    grid = np.linspace(0, table["radius"].max(), 200)
    ax.plot(grid, geometry.robust_accuracy_fa(grid, d, k), "k--", lw=1, label="Φ(√(d/k) − ρ)")
    ax.set_xlabel("L2 radius ρ")
    ax.set_ylabel("robust accuracy")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def resnet_curves(table: pd.DataFrame, title: str | None = None):
    """Figure 3 on images (a `resnet_table`): robust accuracy against the L2 radius in pixel units
    per readout (colour) and attack (panel), 95% intervals over seeds; `title` names the data."""
    attacks = ("PGD", "targeted", "both")
    fig, axes = plt.subplots(1, len(attacks), figsize=(13, 4.2 if title else 3.8), sharey=True)
    if title:
        fig.suptitle(title)
    for ax, attack in zip(axes, attacks):
        sns.lineplot(
            data=table[table["attack"] == attack],
            x="radius",
            y="robust_accuracy",
            hue="readout",
            marker="o",
            errorbar=("ci", 95),
            ax=ax,
        )
        ax.set_title(f"attack: {attack}")
        ax.set_xlabel("L2 radius ρ (pixels in [0, 1])")
        ax.set_ylabel("binary robust accuracy")
    fig.tight_layout()
    return fig


def peer_curves(table: pd.DataFrame):
    """Idealised networks in the two set-ups under the targeted centre attacks."""
    setups = list(table["setup"].unique())
    fig, axes = plt.subplots(1, len(setups), figsize=(6 * len(setups), 3.8))
    for ax, setup in zip(np.atleast_1d(axes), setups):
        sns.lineplot(
            data=table[table["setup"] == setup],
            x="radius",
            y="robust_accuracy",
            hue="network",
            marker=".",
            ax=ax,
        )
        ax.set_title(setup)
        ax.set_xlabel("L2 radius ρ" + (" (unit-norm centres)" if setup.startswith("Min") else ""))
        ax.set_ylabel("robust accuracy (targeted)")
    fig.tight_layout()
    return fig
