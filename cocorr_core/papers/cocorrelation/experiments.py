"""The experiments behind the co-correlation paper's figures (Wang, Min & Ruan 2024, Figs 1–6).

Each figure is a list of RunConfig built from a profile. Figures 1, 3, 4, 5 and 6 share one
code-setting grid (activation × width × q × seed), so the grid trains once and every figure
reads from the stored results. Configs that differ only in q and seed train together as one
batched ensemble (`group_key`, `run_group`).

Code setting (the authors' code): 10-class MNIST, inputs 2X−1, frozen Gaussian head,
cross-entropy, SGD lr 0.003, batch 512, no shuffling.
Theory setting (the theorems): binary unit-norm MNIST, ±1/√m head, BCE, full-batch GD.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch

from ... import data
from ...attacks import autoattack_accuracy, pgd_accuracy
from ...ground.devices import resolve_device
from ...ground.errors import ConfigError, check_choice
from ...measures import authors_power_iteration, split_norms, summarize, two_layer_norms
from ...models import RESNET_CUTS, PixelSpace, TwoLayerEnsemble, build_resnet, resnet_parts
from ...runs.config import RunConfig, grid
from ...runs.sweep import load_or_run
from ...training import accuracy, train_ensemble, train_module
from .settings import THEORY_STEP_SIZES, Profile, get_profile, log_checkpoints, result_store, store_table

FIGURES = ("fig1", "fig2", "fig3", "fig4", "fig5", "fig6", "beyond")
ACTIVATIONS_SHOWN = ("linear", "relu")
ATTACK_EPS = 0.5                 # L2 radius of the paper's AutoAttack, in [0, 1] pixel units
AUTHORS_EPS = ATTACK_EPS * 0.5   # the same 0.5 read in [−1, 1] input units, converted to pixel units
PGD_STEPS = 20
# AutoAttack's standard suite ends with Square (5000 queries): minutes per model on a CPU. The quick
# profile runs its first component, APGD-CE, alone (so its robust accuracy is an upper bound on
# AutoAttack's); the paper profile runs the whole standard suite.
AUTOATTACK_SUITE: dict[str, tuple[str, ...] | None] = {"quick": ("apgd-ce",), "paper": None}
FIG1_Q = 0.25                    # Figs 1 and 5 use q = 0.25
RESNET_LR = 5e-4
RESNET_BATCH = 128
RESNET_MEASURE_ITERS = 30        # power-iteration steps, as in the authors' code
THEORY_LR = THEORY_STEP_SIZES["theory_vs_code"]   # full-batch GD step of the theory-setting grid
THEORY_MEASURE_POINTS = 10       # measurements along a theory-setting run (plus step 1)
ESTIMATOR_N = 500                # test images for the estimator comparison
ACCURACY_N = 10_000              # code setting: clean accuracy on the whole MNIST test set

# What every figure computes along training (cfg.measures).
TWO_LAYER_MEASURES = ("cocorrelation", "norm_correlation", "rel_spread", "dirichlet_full", "test_accuracy")


@dataclass
class RunOutcome:
    """The result of one run: tidy metrics (epoch, metric, value) and a status."""

    config: RunConfig
    metrics: pd.DataFrame
    status: str = "ok"                    # "ok" or "failed"
    failed_epoch: int | None = None
    error: str = ""


# ---------------------------------------------------------------------------- configs
def _check_figure(figure: str) -> None:
    check_choice("figure", figure, FIGURES)


def _seeds(prof: Profile, seeds: Sequence[int] | int | None) -> list[int]:
    if seeds is None:
        return list(range(prof.seeds))
    if isinstance(seeds, int):
        return list(range(seeds))
    return [int(s) for s in seeds]


def code_base(prof: Profile, device: str = "auto") -> RunConfig:
    """The authors' code setting at the sizes of `prof`: one RunConfig (two-layer net, code head,
    PGD at ε = ATTACK_EPS, no AutoAttack: attack_n = 0); `device` is stored in it."""
    return RunConfig(
        model="two_layer", head="code", dataset="mnist", loss="ce", optimizer="sgd",
        lr=prof.lr, batch_size=prof.batch_size, epochs=prof.epochs,
        n_train=prof.n_train, n_test=prof.n_test, measures=TWO_LAYER_MEASURES,
        attack_eps=ATTACK_EPS, attack_n=0, device=device, profile=prof.name,
    )


def code_grid(prof: Profile, device: str = "auto", seeds: Sequence[int] | int | None = None,
              widths: Sequence[int] | None = None, qs: Sequence[float] | None = None) -> list[RunConfig]:
    """activation × width × q × seed in the code setting. Every run gets batched PGD at the end;
    the q = 0.25 runs (Fig. 1) also get AutoAttack on `attack_n` images.

    seeds: a count or a list (None: the profile's); widths, qs: None for the profile's.
    Returns the list of RunConfig."""
    base = code_base(prof, device)
    cfgs = grid(base, activation=ACTIVATIONS_SHOWN, width=widths or prof.widths, q=qs or prof.qs,
                seed=_seeds(prof, seeds))
    return [c.replace(attack_n=prof.attack_n) if math.isclose(c.q, FIG1_Q) else c for c in cfgs]


def theory_grid(prof: Profile, device: str = "auto") -> list[RunConfig]:
    """The theory setting: binary unit-norm MNIST (0 vs 1), ±1/√m head, BCE, full-batch GD.

    Returns a RunConfig per activation × width × q of `prof`, seed 0."""
    base = RunConfig(
        model="two_layer", head="theory", dataset="mnist_binary", loss="bce", optimizer="gd",
        lr=THEORY_LR, batch_size=prof.theory_n, epochs=prof.theory_steps,
        n_train=prof.theory_n, n_test=prof.theory_n, measures=TWO_LAYER_MEASURES,
        device=device, profile=prof.name,
    )
    return grid(base, activation=ACTIVATIONS_SHOWN, width=prof.widths, q=prof.qs, seed=[0])


def beyond_seed_grid(prof: Profile, device: str = "auto") -> list[RunConfig]:
    """The seeds of the beyond-the-paper page: the shared code grid itself (every profile has >= 3 seeds)."""
    return code_grid(prof, device)


def resnet_data_name() -> str:
    """The ResNets' dataset: "cifar10" when CIFAR-10 is on disk, else "mnist32" (its stand-in)."""
    return "cifar10" if data.cifar10_available() else "mnist32"


def resnet_configs(prof: Profile, device: str = "auto") -> list[RunConfig]:
    """ResNet-50 and Wide-ResNet-50-2, frozen classifier, Adam lr 5e-4, one config per cut:
    four RunConfigs (model × cut) at the sizes of `prof`."""
    base = RunConfig(
        model="resnet50", activation="relu", width=1, q=0.0, head="code", dataset=resnet_data_name(),
        n_train=prof.resnet_train_n, n_test=prof.resnet_measure_n, optimizer="adam", loss="ce",
        lr=RESNET_LR, batch_size=min(RESNET_BATCH, prof.resnet_train_n), epochs=prof.resnet_epochs,
        measures=("cocorrelation",), device=device, profile=prof.name,
    )
    return grid(base, model=["resnet50", "wide_resnet50_2"], cut=list(RESNET_CUTS))


def figure_configs(figure: str, profile: str | None = None, device: str = "auto",
                   seeds: Sequence[int] | int | None = None) -> list[RunConfig]:
    """The runs behind one figure at a profile's sizes.

    fig1, fig3, fig4, fig5, fig6 all return the shared code grid (they are views of it).
    "beyond" returns the extra seeds and the theory-setting runs. `figure`: one of FIGURES;
    `profile`: None for the active one; `seeds` as in `code_grid`. Returns a list of RunConfig.
    """
    _check_figure(figure)
    prof = get_profile(profile)
    if figure == "fig2":
        return resnet_configs(prof, device)
    if figure == "beyond":
        return beyond_seed_grid(prof, device) + theory_grid(prof, device)
    return code_grid(prof, device, seeds=seeds)


def group_key(cfg: RunConfig) -> str:
    """Configs with equal keys train as one batched ensemble: everything but q, seed and
    the AutoAttack sample size (and, for ResNets, the cut: one training serves every cut).
    Returns the key of that reduced config (a str)."""
    d = cfg.to_dict()
    for name in ("q", "seed", "attack_n", "device"):
        d.pop(name)
    if cfg.model != "two_layer":
        d.pop("cut")
    return RunConfig.from_dict({**d, "q": 0.0, "seed": 0, "attack_n": 0}).key()


def group_configs(configs: Sequence[RunConfig]) -> list[list[RunConfig]]:
    """`configs` split by `group_key`, in first-seen order: one list per batched training."""
    groups: dict[str, list[RunConfig]] = {}
    for cfg in configs:
        groups.setdefault(group_key(cfg), []).append(cfg)
    return list(groups.values())


# ---------------------------------------------------------------------------- data
def _two_layer_data(cfg: RunConfig, device: torch.device, dtype: torch.dtype):
    """Training inputs, labels, test inputs, labels and test images in pixel units (or None)."""

    if cfg.dataset == "mnist":
        Xtr, ytr = data.load_mnist("train", n=cfg.n_train)
        Xte_pix, yte = data.load_mnist("test", n=max(cfg.n_test, ACCURACY_N))
        Xtr, Xte = data.to_code_inputs(Xtr), data.to_code_inputs(Xte_pix)
    elif cfg.dataset == "mnist_binary":
        Xtr, ytr = data.load_mnist_binary("train", n=cfg.n_train, dtype=dtype)
        Xte, yte = data.load_mnist_binary("test", n=cfg.n_test, dtype=dtype)
        Xte_pix = None
    else:
        raise ConfigError(
            f"dataset={cfg.dataset!r} is not used by the figure experiments; choose 'mnist' (code setting) "
            "or 'mnist_binary' (theory setting)."
        )
    def move(t):
        return None if t is None else t.to(device=device, dtype=dtype if t.is_floating_point() else t.dtype)
    return move(Xtr), move(ytr), move(Xte), move(yte), move(Xte_pix)


# ---------------------------------------------------------------------------- two-layer runs
def measure_two_layer(model, X: torch.Tensor, y: torch.Tensor, n_measure: int | None = None
                      ) -> dict[str, torch.Tensor]:
    """ϱ, ρ, relative spread, 𝔖(f) (certified per-sample norms) and clean accuracy, per member.

    model: a TwoLayerEnsemble of K members; X (n, d) inputs, y (n,) labels; the Jacobian measures
    average over the first `n_measure` inputs (None: all), the accuracy over all n. Returns a dict
    cocorrelation, norm_correlation, rel_spread, dirichlet_full, test_accuracy → float64 (K,), CPU.
    A diverging member (weights blown up) can make the batched eigensolver fail; then every
    member is measured alone and the ones that fail get NaN, so the others keep their curves."""
    try:
        return _measure_two_layer(model, X, y, n_measure)
    except (RuntimeError, ValueError):  # torch.linalg errors are RuntimeErrors
        if model.n_models == 1:
            names = (*TWO_LAYER_MEASURES,)
            return {k: torch.full((1,), float("nan"), dtype=torch.float64) for k in names}
        parts = [measure_two_layer(model.member(k), X, y, n_measure) for k in range(model.n_models)]
        return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}


def _measure_two_layer(model, X: torch.Tensor, y: torch.Tensor, n_measure: int | None
                       ) -> dict[str, torch.Tensor]:

    with torch.no_grad():
        stats = summarize(two_layer_norms(model, X[:n_measure]))
        acc = accuracy(model(X), y)
    out = {name: stats[name]
           for name in ("cocorrelation", "norm_correlation", "rel_spread", "dirichlet_full")}
    out["test_accuracy"] = acc
    return {k: v.detach().to("cpu", torch.float64) for k, v in out.items()}


def measure_epochs(cfg: RunConfig) -> set[int]:
    """SGD runs: every epoch, or about `measure_points` log-spaced epochs where the profile sets it;
    full-batch GD: about THEORY_MEASURE_POINTS evenly spaced steps."""
    if cfg.optimizer != "gd":
        points = get_profile(cfg.profile).measure_points
        return set(range(cfg.epochs + 1)) if points is None else set(log_checkpoints(cfg.epochs, points))
    if cfg.epochs <= THEORY_MEASURE_POINTS:
        return set(range(cfg.epochs + 1))
    every = max(1, cfg.epochs // THEORY_MEASURE_POINTS)
    return set(range(0, cfg.epochs + 1, every)) | {1, cfg.epochs}


def _attack_metrics(model, cfgs: Sequence[RunConfig], Xpix: torch.Tensor, y: torch.Tensor,
                    alive: list[bool]) -> list[dict[str, float]]:
    """Final-epoch robust accuracies: batched L2 PGD for every member, AutoAttack for members
    with attack_n > 0; each at ε = 0.5 pixel units and at the authors' convention."""

    n_pgd = min(len(y), max([c.attack_n for c in cfgs] + [min(len(y), 1000)]))
    out: list[dict[str, float]] = [{} for _ in cfgs]
    for name, eps in (("", ATTACK_EPS), ("_authors", AUTHORS_EPS)):
        pgd = pgd_accuracy(PixelSpace(model), Xpix[:n_pgd], y[:n_pgd], eps=eps, norm="L2", steps=PGD_STEPS)
        for k in range(len(cfgs)):
            if alive[k]:
                out[k][f"pgd_accuracy{name}"] = float(pgd[k])
        for k, cfg in enumerate(cfgs):
            if alive[k] and cfg.attack_n > 0:
                n = min(cfg.attack_n, len(y))
                out[k][f"autoattack_accuracy{name}"] = autoattack_accuracy(
                    PixelSpace(model, member=k), Xpix[:n], y[:n], eps=eps, norm="L2", version="standard",
                    seed=cfg.seed, device=Xpix.device, attacks=AUTOATTACK_SUITE[cfg.profile])
    return out


def _run_two_layer(cfgs: Sequence[RunConfig]) -> list[RunOutcome]:

    cfg0 = cfgs[0]
    device = resolve_device(cfg0.device)
    dtype = torch.float64 if cfg0.head == "theory" else torch.float32
    Xtr, ytr, Xte, yte, Xpix = _two_layer_data(cfg0, device, dtype)
    model = TwoLayerEnsemble.init(
        Xtr.shape[1], cfg0.width, [c.q for c in cfgs], [c.seed for c in cfgs],
        head=cfg0.head, activation=cfg0.activation, dtype=dtype, device=device)
    when = measure_epochs(cfg0)

    def on_epoch(epoch: int, net) -> dict[str, torch.Tensor]:
        return measure_two_layer(net, Xte, yte, cfg0.n_test) if epoch in when else {}

    result = train_ensemble(
        model, Xtr, ytr, optimizer=cfg0.optimizer, loss=cfg0.loss, lr=cfg0.lr,
        batch_size=cfg0.batch_size, epochs=cfg0.epochs, shuffle=False, seed=cfg0.seed, on_epoch=on_epoch)
    hist = result.history
    failed = list(result.failed_epoch)
    # a measurement that overflowed also marks the member as failed, at the first such epoch
    bad = hist[~hist["value"].map(math.isfinite)]
    for k, e in bad.groupby("member")["epoch"].min().items():
        failed[k] = int(e) if failed[k] is None else min(failed[k], int(e))
    alive = [f is None for f in failed]
    extra: list[dict[str, float]] = [{} for _ in cfgs]
    if cfg0.attack_eps > 0 and Xpix is not None and any(alive):
        extra = _attack_metrics(model, cfgs, Xpix, yte, alive)

    outcomes = []
    for k, cfg in enumerate(cfgs):
        rows = hist[hist["member"] == k][["epoch", "metric", "value"]]
        if not alive[k]:  # keep what was measured before the failure
            rows = rows[(rows["epoch"] < failed[k]) & rows["value"].map(math.isfinite)]
        tail = pd.DataFrame({"epoch": cfg.epochs, "metric": list(extra[k]), "value": list(extra[k].values())})
        metrics = pd.concat([rows, tail], ignore_index=True).astype({"epoch": int, "value": float})
        if alive[k]:
            outcomes.append(RunOutcome(cfg, metrics))
        else:
            outcomes.append(RunOutcome(cfg, metrics, "failed", failed[k],
                                       f"training loss became non-finite at epoch {failed[k]} "
                                       f"(lr={cfg.lr}, width={cfg.width}, q={cfg.q})"))
    return outcomes


# ---------------------------------------------------------------------------- ResNets (Fig. 2)
def _resnet_data(cfg: RunConfig, device: torch.device):
    """Training images in [−1, 1] (Normalize(0.5, 0.5), as the authors) and the measurement images."""

    if cfg.dataset == "cifar10":
        Xtr, ytr = data.load_cifar10("train", n=cfg.n_train)
        Xte, yte = data.load_cifar10("test", n=cfg.n_test)
    elif cfg.dataset == "mnist32":
        Xtr, ytr = data.load_mnist32("train", n=cfg.n_train)
        Xte, yte = data.load_mnist32("test", n=cfg.n_test)
    else:
        raise ConfigError(f"dataset={cfg.dataset!r} is not an image set for ResNets; "
                          "choose 'cifar10' or 'mnist32'.")
    return [t.to(device) for t in (data.to_code_inputs(Xtr), ytr, data.to_code_inputs(Xte), yte)]


def _run_resnet(cfgs: Sequence[RunConfig]) -> list[RunOutcome]:

    cfg0 = cfgs[0]
    device = resolve_device(cfg0.device)
    Xtr, ytr, Xte, yte = _resnet_data(cfg0, device)
    net = build_resnet(cfg0.model, n_classes=10, seed=cfg0.seed, device=device)
    cuts = [c.cut for c in cfgs]

    def on_epoch(epoch: int, module) -> dict[str, torch.Tensor]:
        was_training = module.training
        module.eval()  # BatchNorm uses its running statistics while we differentiate
        out: dict[str, torch.Tensor] = {}
        for i, cut in enumerate(cuts):
            inner, outer = resnet_parts(module, cut)
            stats = summarize(split_norms(inner, outer, Xte, max_iter=RESNET_MEASURE_ITERS))
            out[f"cocorrelation@{i}"] = stats["cocorrelation"].reshape(-1)[:1]
        with torch.no_grad():
            out["test_accuracy"] = accuracy(module(Xte).unsqueeze(0), yte)
        module.train(was_training)
        return {k: v.detach().to("cpu", torch.float64).reshape(1) for k, v in out.items()}

    result = train_module(net, Xtr, ytr, optimizer=cfg0.optimizer, lr=cfg0.lr,
                          batch_size=cfg0.batch_size, epochs=cfg0.epochs, on_epoch=on_epoch)
    hist, failed = result.history, result.failed_epoch[0]
    outcomes = []
    for i, cfg in enumerate(cfgs):
        rows = hist[hist["metric"].isin([f"cocorrelation@{i}", "test_accuracy",
                                         "train_loss"])][["epoch", "metric", "value"]]
        rows = rows.assign(metric=rows["metric"].replace({f"cocorrelation@{i}": "cocorrelation"}))
        rows = rows.reset_index(drop=True).astype({"epoch": int, "value": float})
        if failed is None:
            outcomes.append(RunOutcome(cfg, rows))
        else:
            outcomes.append(RunOutcome(cfg, rows, "failed", int(failed),
                                       f"loss became non-finite at epoch {failed}"))
    return outcomes


def run_group(configs: Sequence[RunConfig]) -> list[RunOutcome]:
    """Train one group (configs with one `group_key`) together and measure it every epoch.

    Returns one RunOutcome per config, in order (metrics: epoch, metric, value)."""
    configs = list(configs)
    if not configs:
        return []
    keys = {group_key(c) for c in configs}
    if len(keys) != 1:
        raise ConfigError(f"run_group needs configs of one group (equal group_key); got {len(keys)} groups. "
                          "Split them with experiments.group_configs.")
    if configs[0].model == "two_layer":
        return _run_two_layer(configs)
    return _run_resnet(configs)


# ---------------------------------------------------------------------------- tables
def outcomes_table(outcomes: Sequence[RunOutcome]) -> pd.DataFrame:
    """Tidy table of outcomes: run, epoch, metric, value, status plus config columns."""
    frames = []
    for o in outcomes:
        d = o.config.to_dict()
        d.pop("measures")
        frames.append(o.metrics.assign(run=o.config.key(), status=o.status, **d))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def load_figure(figure: str, profile: str | None = None, device: str = "auto") -> pd.DataFrame:
    """The tidy table of a figure from the result store (trains what is missing).

    figure: one of FIGURES. One row per run × epoch × metric: run, epoch, metric, value, status
    + config columns (activation, width, q, seed, …); runs from the store also carry failed_epoch."""
    if figure == "fig2":
        return resnet_table(profile, device)
    return load_or_run(figure_configs(figure, profile, device), runner=run_group, group_key=group_key,
                       store=result_store())


def resnet_table(profile: str | None = None, device: str = "auto") -> pd.DataFrame:
    """Fig. 2's table, memoised in the result store: run, epoch, metric (cocorrelation,
    test_accuracy, train_loss), value, status + config columns (model, cut, …)."""
    cfgs = figure_configs("fig2", profile, device)
    params = {"configs": [c.key() for c in cfgs], "dataset": cfgs[0].dataset}
    return store_table("fig2_resnets", params, lambda: outcomes_table(
        [o for g in group_configs(cfgs) for o in run_group(g)]), profile)


def estimator_table(profile: str | None = None, device: str = "auto") -> pd.DataFrame:
    """ϱ along training measured two ways: certified per-sample norms (ours) and the authors'
    30-step power iteration. Code setting, ReLU, q ∈ {min q, 0.25}, the narrowest and the second-widest
    width, at the profile's measured epochs.

    One row per (epoch, member): epoch, activation, width, q, ours, authors, bias = authors − ours."""
    prof = get_profile(profile)
    qs = sorted({min(prof.qs), FIG1_Q})
    widths = sorted({prof.widths[0], prof.widths[-2]})
    cfgs = [c.replace(attack_eps=0.0, attack_n=0, n_test=min(prof.n_test, ESTIMATOR_N))
            for c in code_grid(prof, device, seeds=[0], widths=widths, qs=qs) if c.activation == "relu"]
    params = {"configs": [c.key() for c in cfgs]}
    return store_table("estimator_check", params, lambda: _estimator_rows(cfgs), profile)


def _estimator_rows(cfgs: Sequence[RunConfig]) -> pd.DataFrame:

    frames = []
    for group in group_configs(cfgs):
        cfg0 = group[0]
        device = resolve_device(cfg0.device)
        Xtr, ytr, Xte, yte, _ = _two_layer_data(cfg0, device, torch.float32)
        Xte = Xte[:cfg0.n_test]
        model = TwoLayerEnsemble.init(Xtr.shape[1], cfg0.width, [c.q for c in group], [c.seed for c in group],
                                      head=cfg0.head, activation=cfg0.activation, device=device)
        rows: list[dict[str, Any]] = []
        when = measure_epochs(cfg0)

        def on_epoch(epoch: int, net) -> dict[str, torch.Tensor]:
            if epoch not in when:
                return {}
            with torch.no_grad():
                ours = summarize(two_layer_norms(net, Xte))["cocorrelation"]
            for k, cfg in enumerate(group):
                member = net.as_classifier(k)
                W = net.W[k].detach()
                act = net.activation
                def inner(x, W=W, act=act):
                    return (torch.relu(x @ W.T) if act == "relu" else x @ W.T)
                full = authors_power_iteration(member, Xte)
                inn = authors_power_iteration(inner, Xte)
                head_norm = torch.linalg.matrix_norm(net.A[k].detach().to(torch.float64), ord=2)
                rho_auth = torch.sqrt((full.double() ** 2).mean()) / (
                    head_norm * torch.sqrt((inn.double() ** 2).mean()))
                rows.append(dict(epoch=epoch, activation=cfg.activation, width=cfg.width, q=cfg.q,
                                 ours=float(ours[k]), authors=float(rho_auth)))
            return {}

        train_ensemble(model, Xtr, ytr, optimizer=cfg0.optimizer, loss=cfg0.loss, lr=cfg0.lr,
                       batch_size=cfg0.batch_size, epochs=cfg0.epochs, shuffle=False, seed=0,
                       on_epoch=on_epoch)
        frames.append(pd.DataFrame(rows))
    df = pd.concat(frames, ignore_index=True)
    df["bias"] = df["authors"] - df["ours"]
    return df
