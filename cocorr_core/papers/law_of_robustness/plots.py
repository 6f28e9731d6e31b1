"""Figures of the law-of-robustness chapter (seaborn over the tidy tables)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from .claims import loglog_slopes

ESTIMATES = {"lower": "lower (max ‖∇f‖)", "spectral": "‖W‖_op‖a‖₂", "path": "path norm"}


def slope_table(df: pd.DataFrame) -> pd.DataFrame:
    """Mean log–log slope against k of each estimate, per (n, d) cell (rows) and estimate (columns)."""
    out = {}
    cells = df[["n", "d"]].drop_duplicates().sort_values(["n", "d"])
    for col, label in ESTIMATES.items():
        out[label] = np.nanmean(loglog_slopes(df, col), axis=0)
    return pd.DataFrame(out, index=pd.MultiIndex.from_frame(cells)).round(3)


def _long(df: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    return df.melt(id_vars=["n", "d", "width", "seed"], value_vars=list(columns), var_name="estimate",
                   value_name="value").replace({"estimate": columns})


def plot_bracket(df: pd.DataFrame):
    """Lipschitz bracket against width, one panel per (n, d), with √(n/k) and the fitted slopes."""
    cells = df[["n", "d"]].drop_duplicates().sort_values(["n", "d"]).itertuples(index=False)
    cells = list(cells)
    slopes = slope_table(df)
    fig, axes = plt.subplots(1, len(cells), figsize=(3.6 * len(cells), 3.4), sharey=True)
    for ax, (n, d) in zip(np.atleast_1d(axes), cells):
        sub = df[(df.n == n) & (df.d == d)]
        long = _long(sub, ESTIMATES)
        sns.lineplot(long, x="width", y="value", hue="estimate", errorbar=("ci", 95), marker="o", ax=ax)
        ks = np.array(sorted(sub.width.unique()), float)
        ax.plot(ks, np.sqrt(n / ks), "k--", lw=1, label="√(n/k)")
        ax.set(xscale="log", yscale="log", xlabel="neurons k",
               ylabel="Lipschitz constant (output per unit input)",
               title=f"n={n}, d={d}")
        handles, labels = ax.get_legend_handles_labels()
        labels = [f"{lab} (slope {slopes.loc[(n, d), lab]:.2f})" if lab in slopes.columns else lab
                  for lab in labels]
        ax.legend(handles, labels, fontsize=7)
    fig.tight_layout()
    return fig


def plot_universal(df: pd.DataFrame):
    """Lower Lipschitz estimate against the parameter count p = k(d + 2), with √(nd/p) and p = nd."""
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    sub = df.assign(cell=[f"n={n}, d={d}" for n, d in zip(df.n, df.d)])
    sns.lineplot(sub, x="params", y="lower", hue="cell", errorbar=("ci", 95), marker="o", ax=ax)
    for (n, d), g in df.groupby(["n", "d"]):
        p = np.array(sorted(g.params.unique()), float)
        ax.plot(p, np.sqrt(n * d / p), "--", lw=1, color="gray")
        ax.axvline(n * d, color="gray", lw=0.6, ls=":")
    ax.set(xscale="log", yscale="log", xlabel="parameters p = k(d+2)", ylabel="lower Lipschitz estimate",
           title="dashed: √(nd/p); dotted: p = nd")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_cocorrelation(df: pd.DataFrame):
    """Dirichlet energy and co-correlation ϱ of the same networks against width."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    sub = df.assign(cell=[f"n={n}, d={d}" for n, d in zip(df.n, df.d)])
    sns.lineplot(sub, x="width", y="dirichlet_full", hue="cell", errorbar=("ci", 95), marker="o", ax=axes[0])
    axes[0].set(xscale="log", yscale="log", xlabel="neurons k", ylabel="Dirichlet energy √E‖∇f(x)‖²")
    sns.lineplot(sub, x="width", y="cocorrelation", hue="cell", errorbar=("ci", 95), marker="o", ax=axes[1])
    axes[1].set(xscale="log", xlabel="neurons k", ylabel="co-correlation ϱ")
    for ax in axes:
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_nd(nd: pd.DataFrame):
    """n = d: the bracket, the projection witness and the bounds against width, with √(n/k);
    one panel per dimension."""
    cols = {"upper": "min(spectral, path)", "lower": "lower (max ‖∇f‖)",
            "witness_quotient": "witness quotient",
            "proj_bound": "√(n_min/(k‖X‖²))"}
    dims = sorted(int(n) for n in nd.n.unique())
    fig, axes = plt.subplots(1, len(dims), figsize=(6.5 * len(dims), 3.8), squeeze=False)
    for ax, n in zip(axes[0], dims):
        cell = nd[nd.n == n]
        sns.lineplot(_long(cell, cols), x="width", y="value", hue="estimate", errorbar=("ci", 95),
                     marker="o", ax=ax)
        ks = np.array(sorted(cell.width.unique()), float)
        ax.plot(ks, np.sqrt(n / ks), "k--", lw=1, label="√(n/k)")
        ax.set(xscale="log", yscale="log", xlabel="neurons k", ylabel="Lipschitz constant",
               title=f"n = d = {n}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
