"""One plotting function per figure. Each takes a tidy table (run, epoch, metric, value and the
config columns) and a Profile, and returns a matplotlib Figure with labelled axes and a title
that states the setting and the profile. Curves are seaborn line plots of the mean over seeds
with a 95% bootstrap band; heat maps are annotated with their values."""
from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt  # keep the caller's backend: notebooks show inline, scripts save
import numpy as np
import pandas as pd
import seaborn as sns

from ...ground.errors import check_choice
from .experiments import ATTACK_EPS, AUTHORS_EPS, FIG1_Q
from .settings import Profile, get_profile
from .tables import accumulated_change, final, mean_over_seeds, select

CODE_SETTING = "code setting: 10-class MNIST, CE, frozen Gaussian head, SGD lr 0.003, batch 512"
THEORY_SETTING = "theory setting: MNIST 0 vs 1, unit-norm inputs, ±1/√m head, BCE, full-batch GD"
PAPER_FIG3_WIDTHS = (32, 512, 2048, 8192)
# The authors' notebook (summry.ipynb, cut before global pooling, CIFAR-10, Adam): ϱ by epoch.
AUTHORS_RESNET_POOL = {
    "wide_resnet50_2": {2: 0.375, 4: 0.510, 10: 0.585, 20: 0.630, 30: 0.655, 40: 0.660, 50: 0.662},
    "resnet50": {2: 0.359, 4: 0.440, 10: 0.559, 20: 0.623, 30: 0.647, 40: 0.662, 50: 0.667},
}
MODEL_LABEL = {"resnet50": "ResNet-50", "wide_resnet50_2": "Wide-ResNet-50-2"}


def _cmap(n: int):
    cm = plt.get_cmap("viridis")
    return [cm(i / max(1, n - 1)) for i in range(n)]


BAND = ("ci", 95)          # seaborn's 95% bootstrap interval of the mean over seeds


def _sizes(prof: Profile) -> str:
    steps = -(-prof.n_train // prof.batch_size) * prof.epochs
    return (f"profile '{prof.name}': {prof.n_train} training images, {prof.epochs} epochs "
            f"({steps} SGD steps), measures on {prof.n_test} test images, {prof.seeds} seeds per cell "
            "(bands: 95% CI over seeds)")


def _epoch_axis(ax) -> None:
    """Epochs on a log-like axis (0 = initialisation stays visible), as they are measured log-spaced."""
    ax.set_xscale("symlog", linthresh=1)
    ax.set_xlabel("epoch (0 = initialisation; log scale beyond 1)")


def _palette(values) -> dict:
    values = sorted(values)
    return dict(zip(values, _cmap(len(values))))


def _curves(ax, rows: pd.DataFrame, hue: str, label, ylabel: str) -> None:
    """Mean over seeds of `rows` (tidy: epoch, value, `hue`, seed) against the epoch, one line and 95% band
    per value of `hue`; `label` maps a hue value to its legend text."""
    if rows.empty:
        _empty(ax)
        return
    order = [label(v) for v in sorted(rows[hue].unique())]
    sns.lineplot(data=rows.assign(**{hue: rows[hue].map(label)}), x="epoch", y="value", hue=hue,
                 hue_order=order, errorbar=BAND, ax=ax, palette="viridis", marker="o", markersize=3)
    _epoch_axis(ax)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7, title=None)


def _rho_by_width(ax, df, act, q, metric="cocorrelation", ylabel="co-correlation ϱ"):
    """`metric` along training, one line (mean over seeds, 95% band) per width, at one activation and q."""
    _curves(ax, select(df, metric, activation=act, q=q), "width", lambda w: f"m={int(w)}", ylabel)


def energy_factors(df: pd.DataFrame, **where) -> pd.DataFrame:
    """log ϱ(e)/ϱ(1) and log of the rest of 𝔖(f) = ϱ · (𝔖(f)/ϱ) relative to epoch 1, per run and epoch:
    columns activation, width, q, seed, epoch, factor ("ϱ" or "rest: 𝔖(f)/ϱ"), value."""
    rho = select(df, "cocorrelation", **where)
    energy = select(df, "dirichlet_full", **where)
    key = ["activation", "width", "q", "seed", "epoch"]
    m = rho[key + ["value"]].merge(energy[key + ["value"]], on=key, suffixes=("_rho", "_e"))
    m = m[m["epoch"] >= 1]
    if m.empty:
        return pd.DataFrame(columns=[*key, "factor", "value"])
    m["rest"] = m["value_e"] / m["value_rho"]
    first = m[m["epoch"] == m["epoch"].min()].set_index(key[:4])
    m = m.join(first[["value_rho", "rest"]].add_suffix("_1"), on=key[:4])
    rows = [m[key].assign(factor="ϱ", value=np.log(m["value_rho"] / m["value_rho_1"])),
            m[key].assign(factor="rest: 𝔖(f)/ϱ", value=np.log(m["rest"] / m["rest_1"]))]
    return pd.concat(rows, ignore_index=True)


def _mean_curves(df: pd.DataFrame, metric: str, **where) -> pd.DataFrame:
    rows = select(df, metric, **where)
    return rows.groupby(["activation", "width", "q", "epoch"])["value"].agg(["mean", "std"]).reset_index()


def _empty(ax, text="no runs at this profile"):
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="grey")


# ---------------------------------------------------------------------------- Fig. 1
def fig1(df: pd.DataFrame, prof: Profile):
    """Fig. 1: AutoAttack robust accuracy and 𝔖(f) against width at q = 0.25 (both ε readings),
    robust accuracy against 𝔖(f) per run, and ϱ along training per width (linear and ReLU).

    df: the code grid's tidy table (run, epoch, metric, value, status + config columns);
    prof: the Profile named in the title. Returns a matplotlib Figure."""
    fig, axd = plt.subplot_mosaic([["a", "a", "b", "b", "s", "s"], ["c", "c", "c", "d", "d", "d"]],
                                  figsize=(15, 8.5), layout="constrained")
    robust = []
    for metric, reading in (("autoattack_accuracy", f"ε={ATTACK_EPS} pixels"),
                            ("autoattack_accuracy_authors", f"ε={ATTACK_EPS} in [−1,1] (={AUTHORS_EPS} px)")):
        t = final(df, metric, q=FIG1_Q)
        robust.append(t.assign(reading=reading))
    robust = pd.concat(robust, ignore_index=True)
    energy = final(df, "dirichlet_full", q=FIG1_Q)
    if robust.empty:
        _empty(axd["a"], "no AutoAttack results")
    else:
        sns.lineplot(data=robust, x="width", y="value", hue="activation", style="reading", errorbar=BAND,
                     marker="o", ax=axd["a"], palette={"linear": "tab:blue", "relu": "tab:red"})
    if not energy.empty:
        sns.lineplot(data=energy, x="width", y="value", hue="activation", errorbar=BAND, marker="o",
                     ax=axd["b"], palette={"linear": "tab:blue", "relu": "tab:red"})
        pixel = robust[robust["reading"].str.contains("pixels")]
        m = energy.merge(pixel, on=["activation", "width", "q", "seed"], suffixes=("_e", "_r"))
        sns.scatterplot(data=m, x="value_e", y="value_r", hue="activation", size="width", ax=axd["s"],
                        palette={"linear": "tab:blue", "relu": "tab:red"})
    for key in ("a", "b"):
        axd[key].set_xscale("log", base=2)
        axd[key].set_xlabel("hidden width m (log scale)")
    axd["a"].set_ylabel("robust accuracy (AutoAttack, L2)")
    axd["a"].set_title(f"(a) robust accuracy, q={FIG1_Q}")
    axd["b"].set_ylabel(r"$\mathfrak{S}(f)$: RMS of ‖J_f(x)‖₂ (logit per unit input)")
    axd["b"].set_yscale("log")
    axd["b"].set_title(f"(b) Dirichlet energy of f, q={FIG1_Q}")
    axd["s"].set_xscale("log")
    axd["s"].set_xlabel(r"$\mathfrak{S}(f)$ (log scale)")
    axd["s"].set_ylabel(f"robust accuracy, ε={ATTACK_EPS} pixels")
    axd["s"].set_title(r"each run: robust accuracy against $\mathfrak{S}(f)$")
    for key, act in (("c", "linear"), ("d", "relu")):
        _curves(axd[key], select(df, "cocorrelation", activation=act, q=FIG1_Q), "width",
                lambda w: f"m={int(w)}", "co-correlation ϱ")
        axd[key].set_title(f"({key}) ϱ during training, {act}, q={FIG1_Q}")
    for key in ("a", "b", "s"):
        if axd[key].get_legend_handles_labels()[0]:
            axd[key].legend(fontsize=7)
    fig.suptitle(f"Fig. 1 — {CODE_SETTING}\n{_sizes(prof)}, AutoAttack on {prof.attack_n} test images")
    return fig


# ---------------------------------------------------------------------------- Fig. 2
def fig2(df: pd.DataFrame, prof: Profile):
    """Fig. 2: ϱ along training of ResNet-50 and Wide-ResNet-50-2 at both cuts, with the authors'
    values. df: Fig. 2's tidy table (run, epoch, metric, value, status + config columns incl. model,
    cut, dataset); prof: the Profile named in the title. Returns a matplotlib Figure."""
    models = ["resnet50", "wide_resnet50_2"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), layout="constrained", sharey=True)
    dataset = str(df["dataset"].iloc[0]) if "dataset" in df.columns and len(df) else "?"
    for ax, model in zip(axes, models):
        rows = select(df, "cocorrelation", model=model)
        for cut, ls in (("stem", "-o"), ("pool", "-s")):
            s = rows[rows["cut"] == cut].sort_values("epoch")
            if not s.empty:
                ax.plot(s["epoch"], s["value"], ls, label=f"cut '{cut}' (ours, {dataset})")
        ref = AUTHORS_RESNET_POOL[model]
        ax.plot(list(ref), list(ref.values()), ":x", color="grey",
                label="authors' notebook, cut before pooling (CIFAR-10, 50 epochs)")
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xlabel("epoch (0 = initialisation; log scale)")
        ax.set_ylabel("co-correlation ϱ between the two blocks")
        ax.set_title(MODEL_LABEL[model])
        ax.legend(fontsize=7)
    stand_in = " (MNIST at 32×32×3 as a STAND-IN for CIFAR-10)" if dataset == "mnist32" else ""
    fig.suptitle("Fig. 2 — ϱ of ResNets trained with Adam lr 5e-4, frozen classifier, on "
                 f"{dataset}{stand_in}\n"
                 f"profile '{prof.name}': {prof.resnet_train_n} training images, "
                 f"{prof.resnet_epochs} epochs, ϱ on {prof.resnet_measure_n} test images")
    return fig


# ---------------------------------------------------------------------------- Fig. 3
def fig3_widths(prof: Profile, available: Sequence[int]) -> list[int]:
    """The paper's Fig. 3 widths (32, 512, 2048, 8192) when all are in `available`, else every
    available width, sorted; `prof` is not used."""
    wanted = [w for w in PAPER_FIG3_WIDTHS if w in set(available)]
    return wanted if len(wanted) == len(PAPER_FIG3_WIDTHS) else sorted(available)


def fig3(df: pd.DataFrame, prof: Profile, setting: str = CODE_SETTING):
    """Fig. 3: ϱ along training for every q, one panel per activation × width (`fig3_widths`).

    df: the code grid's tidy table (run, epoch, metric, value, status + config columns);
    prof: the Profile named in the title; setting: the title's setting line. Returns a Figure."""
    avail = sorted(select(df, "cocorrelation")["width"].unique())
    widths = fig3_widths(prof, avail)
    acts = ["relu", "linear"]
    fig, axes = plt.subplots(len(acts), max(1, len(widths)), figsize=(3.8 * max(1, len(widths)), 7),
                             layout="constrained", sharey=True, squeeze=False)
    for i, act in enumerate(acts):
        for j, w in enumerate(widths):
            ax = axes[i, j]
            _curves(ax, select(df, "cocorrelation", activation=act, width=w), "q", lambda q: f"q={q:+.2f}",
                    "co-correlation ϱ")
            ax.set_title(f"{act}, width {w}")
    fig.suptitle(f"Fig. 3 — ϱ under different initialisations q\n{setting}; {_sizes(prof)}")
    return fig


# ---------------------------------------------------------------------------- Fig. 4
def fig4(df: pd.DataFrame, prof: Profile):
    """Fig. 4: heat maps over width × q of the clean test accuracy and ϱ at the last epoch (means over
    seeds, annotated), per activation.

    df: the code grid's tidy table (run, epoch, metric, value, status + config columns);
    prof: the Profile named in the title. Returns a matplotlib Figure."""
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5), layout="constrained")
    for i, act in enumerate(("linear", "relu")):
        for j, (metric, label, cmap) in enumerate((("test_accuracy", "clean test accuracy", "viridis"),
                                                   ("cocorrelation", "final ϱ", "magma"))):
            ax = axes[i, j]
            t = mean_over_seeds(final(df, metric, activation=act))
            if t.empty:
                _empty(ax)
                continue
            piv = t.pivot(index="q", columns="width", values="value").sort_index(ascending=False)
            piv.index = [f"{q:+.2f}" for q in piv.index]
            sns.heatmap(piv, annot=True, fmt=".2f", cmap=cmap, ax=ax, cbar_kws={"label": label},
                        annot_kws={"fontsize": 8})
            ax.set_xlabel("hidden width m")
            ax.set_ylabel("initialisation exponent q")
            ax.set_title(f"{act}: {label} (mean over seeds)")
    fig.suptitle("Fig. 4 — accuracy and co-correlation over width × q at the last epoch\n"
                 f"{CODE_SETTING}; {_sizes(prof)}")
    return fig


# ---------------------------------------------------------------------------- Fig. 5
def fig5(df: pd.DataFrame, prof: Profile):
    """Fig. 5: relative spread √var/μ and ρ along training per width at q = 0.25, and which factor of
    Theorem 4.5 moves 𝔖(f): log-change of ϱ against that of the rest (𝔖(f)/ϱ) since epoch 1.

    df: the code grid's tidy table (run, epoch, metric, value, status + config columns);
    prof: the Profile named in the title. Returns a matplotlib Figure."""
    fig, axes = plt.subplots(2, 3, figsize=(16, 7.5), layout="constrained", squeeze=False)
    for i, act in enumerate(("linear", "relu")):
        _rho_by_width(axes[i, 0], df, act, FIG1_Q, "rel_spread", "relative spread √var/μ")
        axes[i, 0].set_title(f"(a) relative spread, {act}, q={FIG1_Q}")
        _rho_by_width(axes[i, 1], df, act, FIG1_Q, "norm_correlation", "norm correlation ρ")
        axes[i, 1].set_title(f"(b) ρ, {act}, q={FIG1_Q}")
        _curves(axes[i, 2], energy_factors(df, activation=act, q=FIG1_Q), "factor", str,
                "log of the factor relative to epoch 1")
        axes[i, 2].axhline(0, color="grey", lw=0.5)
        axes[i, 2].set_title(f"(c) what moves 𝔖(f), {act}, q={FIG1_Q} (all widths)")
    fig.suptitle(f"Fig. 5 — the factors of Theorem 4.5\n{CODE_SETTING}; {_sizes(prof)}")
    return fig


# ---------------------------------------------------------------------------- Fig. 6
def fig6(df: pd.DataFrame, prof: Profile):
    """Fig. 6: accumulated change ϱ(last) − ϱ(start) against width, one line per q (mean over seeds,
    95% band), for start = 1 (as the paper) and start = 0 (initialisation), per activation.

    df: the code grid's tidy table (run, epoch, metric, value, status + config columns);
    prof: the Profile named in the title. Returns a matplotlib Figure."""
    fig, axes = plt.subplots(2, 2, figsize=(12, 8), layout="constrained", squeeze=False)
    for i, act in enumerate(("relu", "linear")):
        for j, start in enumerate((1, 0)):
            ax = axes[i, j]
            t = accumulated_change(df, start=start, activation=act)
            if t.empty:
                _empty(ax)
            else:
                order = [f"q={q:+.2f}" for q in sorted(t["q"].unique())]
                sns.lineplot(data=t.assign(q=t["q"].map(lambda q: f"q={q:+.2f}")), x="width", y="delta",
                             hue="q", hue_order=order, errorbar=BAND, marker="o", palette="viridis", ax=ax)
                ax.legend(fontsize=7, title=None)
            ax.axhline(0, color="grey", lw=0.5)
            ax.set_xscale("log", base=2)
            ax.set_xlabel("hidden width m (log scale)")
            ax.set_ylabel(f"ϱ(last epoch) − ϱ(epoch {start})")
            which = "epoch 1 (as the paper)" if start == 1 else "epoch 0 (initialisation)"
            ax.set_title(f"{act}: accumulated change from {which}")
    fig.suptitle(f"Fig. 6 — accumulation of co-correlation\n{CODE_SETTING}; {_sizes(prof)}")
    return fig


# ---------------------------------------------------------------------------- beyond the paper
def beyond_seeds(df: pd.DataFrame, prof: Profile):
    """ϱ vs epoch, mean over seeds with a 95% band, one panel per (activation, width), one line per q.

    df: the "beyond" tidy table (run, epoch, metric, value, status + config columns incl. seed,
    head; only head "code" is drawn); prof: the Profile named in the title. Returns a Figure."""
    rows = select(df, "cocorrelation", head="code") if "head" in df.columns else select(df, "cocorrelation")
    n_seeds = rows["seed"].nunique()
    panels = sorted({(a, w) for a, w in zip(rows["activation"], rows["width"])})
    fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(3.6 * max(1, len(panels)), 3.8),
                             layout="constrained", sharey=True, squeeze=False)
    for ax, (act, w) in zip(axes[0], panels):
        _curves(ax, rows[(rows["activation"] == act) & (rows["width"] == w)], "q", lambda q: f"q={q:+.2f}",
                "ϱ (mean, 95% CI over seeds)")
        ax.set_title(f"{act}, width {w}")
    fig.suptitle(f"Seeds: {n_seeds} per cell — {CODE_SETTING}; {_sizes(prof)}")
    return fig


def beyond_robustness(df: pd.DataFrame, prof: Profile):
    """Batched PGD robust accuracy against final ϱ over the whole width × q grid.

    df: the "beyond" tidy table (run, epoch, metric, value, status + config columns incl. head;
    only head "code" is drawn); prof: the Profile named in the title. Returns a matplotlib Figure."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), layout="constrained", squeeze=False)
    for ax, act in zip(axes[0], ("linear", "relu")):
        rho = final(df, "cocorrelation", activation=act, head="code")
        pgd = final(df, "pgd_accuracy", activation=act, head="code")
        m = rho.merge(pgd, on=["activation", "width", "q", "seed"], suffixes=("_rho", "_pgd"))
        if m.empty:
            _empty(ax)
            continue
        sc = ax.scatter(m["value_rho"], m["value_pgd"], c=np.log2(m["width"]), cmap="viridis",
                        marker="o", s=20 + 60 * (m["q"] - m["q"].min()))
        fig.colorbar(sc, ax=ax, label="log₂ width")
        ax.set_xlabel("final co-correlation ϱ")
        ax.set_ylabel(f"PGD robust accuracy (L2, ε={ATTACK_EPS} pixels)")
        ax.set_title(f"{act} (marker size grows with q)")
    fig.suptitle(f"Does ϱ predict robustness across width × q? {CODE_SETTING}; {_sizes(prof)}")
    return fig


def estimator_bias(table: pd.DataFrame, prof: Profile):
    """ϱ from certified norms vs the authors' 30-step power iteration, along training.

    table: `experiments.estimator_table` (epoch, activation, width, q, ours, authors, bias);
    prof: the Profile named in the title. Returns a matplotlib Figure."""
    cells = sorted({(a, w, q) for a, w, q in zip(table["activation"], table["width"], table["q"])})
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), layout="constrained")
    colors = _cmap(len(cells))
    for color, (a, w, q) in zip(colors, cells):
        s = table[(table["activation"] == a) & (table["width"] == w) & (table["q"] == q)].sort_values("epoch")
        label = f"{a}, m={w}, q={q:+.2f}"
        axes[0].plot(s["epoch"], s["ours"], "-", color=color, label=label)
        axes[0].plot(s["epoch"], s["authors"], ":", color=color)
        axes[1].plot(s["epoch"], s["bias"], "-o", color=color, label=label, ms=3)
    axes[0].set_xlabel("epoch (0 = initialisation)")
    axes[0].set_ylabel("ϱ (solid: certified; dotted: authors' estimator)")
    axes[1].axhline(0, color="grey", lw=0.5)
    axes[1].set_xlabel("epoch (0 = initialisation)")
    axes[1].set_ylabel("ϱ(authors' estimator) − ϱ(certified)")
    axes[1].legend(fontsize=7)
    fig.suptitle(f"Estimator check — {CODE_SETTING}; profile '{prof.name}'")
    return fig


def theory_vs_code(code: pd.DataFrame, theory: pd.DataFrame, prof: Profile):
    """Figs 1c/1d (ϱ per width at q = 0.25) and Fig. 3's q-dependence, in both settings.

    code, theory: tidy tables (run, epoch, metric, value, status + config columns) of the code
    grid and the theory grid; prof: the Profile named in the title. Returns a matplotlib Figure."""
    fig, axes = plt.subplots(2, 4, figsize=(16, 7.5), layout="constrained", squeeze=False)
    for i, (name, df) in enumerate((("code", code), ("theory", theory))):
        for j, act in enumerate(("linear", "relu")):
            ax = axes[i, j]
            _rho_by_width(ax, df, act, FIG1_Q)
            ax.set_title(f"{name} setting, {act}, q={FIG1_Q}")
            ax.legend(fontsize=6)
        widest = select(df, "cocorrelation")["width"].max()
        for j, act in enumerate(("linear", "relu")):
            ax = axes[i, 2 + j]
            c = _mean_curves(df, "cocorrelation", activation=act, width=widest)
            qs = sorted(c["q"].unique())
            for color, q in zip(_cmap(len(qs)), qs):
                s = c[c["q"] == q]
                ax.plot(s["epoch"], s["mean"], color=color, label=f"q={q:+.2f}")
            ax.set_title(f"{name} setting, {act}, width {widest}")
            ax.set_xlabel("epoch / GD step" if name == "theory" else "epoch")
            ax.set_ylabel("co-correlation ϱ")
            ax.legend(fontsize=6)
    for j in range(2):
        axes[1, j].set_xlabel("full-batch GD step (0 = initialisation)")
    fig.suptitle(f"Theory setting vs code setting\nrow 1: {CODE_SETTING}, {prof.epochs} epochs; "
                 f"row 2: {THEORY_SETTING}, {prof.theory_n} samples, {prof.theory_steps} steps")
    return fig


def beyond(df: pd.DataFrame, prof: Profile):
    """The "beyond" figure: `beyond_seeds(df, prof)`, a matplotlib Figure."""
    return beyond_seeds(df, prof)


PLOTTERS = {"fig1": fig1, "fig2": fig2, "fig3": fig3, "fig4": fig4, "fig5": fig5, "fig6": fig6,
            "beyond": beyond}


def plot_figure(figure: str, df: pd.DataFrame, profile: str | None = None):
    """The matplotlib Figure of `figure` (a key of PLOTTERS) drawn from its tidy table.

    df: the figure's tidy table (run, epoch, metric, value, status + config columns), as from
    `experiments.load_figure`; profile: None for the active one."""
    check_choice("figure", figure, tuple(PLOTTERS))
    return PLOTTERS[figure](df, get_profile(profile))
