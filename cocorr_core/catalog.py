"""Every paper of the book, for the CLI and the reproduction report (the one place that knows them all)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from .data import cifar10_available
from .ground.errors import ConfigError
from .papers import cocorrelation, feature_averaging, law_of_robustness, ntk
from .runs.ledger import Claim, check_unique, find_claim
from .runs.ledger import ledger as evaluate_all

PAPERS: dict[str, ModuleType] = {cocorrelation.PAPER: cocorrelation, ntk.PAPER: ntk,
                                  feature_averaging.PAPER: feature_averaging,
                                  law_of_robustness.PAPER: law_of_robustness}


def all_claims() -> list[Claim]:
    """Every paper's claims, sorted by id (ids are unique across papers)."""
    return check_unique([c for paper in PAPERS.values() for c in paper.CLAIMS])


def ledger(profile: str | None = None, ids: list[str] | None = None) -> list[dict]:
    """Evaluate every claim of the book (or those in `ids`) at the profile."""
    claims = all_claims()
    if ids is not None:
        claims = [find_claim(claims, i) for i in ids]
    return evaluate_all(claims, profile)


def figure_paper(figure: str) -> ModuleType:
    """The paper that owns a figure name such as 'fig3'."""
    owners = [p for p in PAPERS.values() if figure in p.FIGURES]
    if not owners:
        known = sorted(f for p in PAPERS.values() for f in p.FIGURES)
        raise ConfigError(f"FIGURE={figure!r} is unknown; choose one of {tuple(known)}.")
    return owners[0]


# ---------------------------------------------------------------- the book's figures
@dataclass(frozen=True)
class BookFigure:
    """One figure of the book: where it appears and how to draw it from the result store."""
    name: str
    paper: str
    page: str                       # the notebook that shows it (notebooks/<page>.md)
    draw: Callable[[str], Any]      # profile -> matplotlib Figure; computes only what is not stored


def _cocorrelation(figure: str) -> Callable[[str], Any]:
    def draw(profile: str):
        return cocorrelation.plot_figure(figure, cocorrelation.load_figure(figure, profile), profile)
    return draw


def _fitted_lor(profile: str):
    df = law_of_robustness.sweep_table(profile)
    return df[df.fitted]


def _fa_prof(profile: str):
    return feature_averaging.get_profile(profile)


def _fa_image_panel(dataset: str, profile: str):
    table = feature_averaging.resnet_table(dataset, profile)
    return feature_averaging.plots.resnet_curves(table, title=feature_averaging.DATASET_NAMES[dataset])


_COCORR_PAGES = {"fig1": "fig1_robustness_energy", "fig2": "fig2_resnets", "fig3": "fig3_init_width",
                 "fig4": "fig4_heatmaps", "fig5": "fig5_decomposition", "fig6": "fig6_accumulation",
                 "beyond": "beyond_paper"}
_FIGURES = [
    *(BookFigure(f, cocorrelation.PAPER, _COCORR_PAGES[f], _cocorrelation(f)) for f in cocorrelation.FIGURES),
    BookFigure("ntk-width", ntk.PAPER, "ntk_kernels", lambda p: ntk.plot_width_check(ntk.width_table(p))),
    BookFigure("ntk-flow", ntk.PAPER, "ntk_attacks_features", lambda p: ntk.plot_flow(ntk.flow_table(p))),
    BookFigure("ntk-transfer", ntk.PAPER, "ntk_attacks_features",
               lambda p: ntk.plot_transfer(ntk.transfer_table(p))),
    BookFigure("ntk-features", ntk.PAPER, "ntk_attacks_features",
               lambda p: ntk.plot_features(ntk.features_table(p))),
    BookFigure("ntk-distances", ntk.PAPER, "ntk_dynamics",
               lambda p: ntk.plot_distance_heatmaps(ntk.dynamics_table(p), probe="clean", seed=0)),
    BookFigure("ntk-dynamics", ntk.PAPER, "ntk_dynamics",
               lambda p: ntk.plot_dynamics_curves(ntk.dynamics_table(p), ntk.get_profile(p).dyn_top,
                                                  probe="adversarial")),
    BookFigure("fa-cosines", feature_averaging.PAPER, "fa_fig2_averaging",
               lambda p: feature_averaging.plots.cosine_heatmaps(feature_averaging.cosine_table(p), seed=0)),
    BookFigure("fa-averaging", feature_averaging.PAPER, "fa_fig2_averaging",
               lambda p: feature_averaging.plots.averaging_over_training(feature_averaging.cosine_table(p),
                                                                         _fa_prof(p).k)[0]),
    BookFigure("fa-ideal", feature_averaging.PAPER, "fa_fig3_robustness",
               lambda p: feature_averaging.plots.fa_curve(feature_averaging.idealised_fa_curve(p),
                                                          _fa_prof(p).d, _fa_prof(p).k)),
    BookFigure("fa-robustness", feature_averaging.PAPER, "fa_fig3_robustness",
               lambda p: feature_averaging.plots.robustness_curves(feature_averaging.robustness_table(p),
                                                                   _fa_prof(p).d, _fa_prof(p).k)),
    BookFigure("fa-mnist", feature_averaging.PAPER, "fa_fig3_robustness",
               lambda p: _fa_image_panel("mnist", p)),
    BookFigure("fa-cifar", feature_averaging.PAPER, "fa_fig3_robustness", lambda p: _fa_image_panel(
        "cifar10" if cifar10_available() else "cifar_stand_in", p)),
    BookFigure("fa-peers", feature_averaging.PAPER, "fa_peers",
               lambda p: feature_averaging.plots.peer_curves(feature_averaging.peer_table(p))),
    BookFigure("lor-bracket", law_of_robustness.PAPER, "lor_conjecture",
               lambda p: law_of_robustness.plot_bracket(_fitted_lor(p))),
    BookFigure("lor-universal", law_of_robustness.PAPER, "lor_conjecture",
               lambda p: law_of_robustness.plot_universal(_fitted_lor(p))),
    BookFigure("lor-cocorrelation", law_of_robustness.PAPER, "lor_conjecture",
               lambda p: law_of_robustness.plot_cocorrelation(_fitted_lor(p))),
    BookFigure("lor-nd", law_of_robustness.PAPER, "lor_proved_cases",
               lambda p: law_of_robustness.plot_nd(law_of_robustness.nd_table(p))),
]
BOOK_FIGURES: dict[str, BookFigure] = {f.name: f for f in _FIGURES}


def book_figure(name: str) -> BookFigure:
    """The figure called `name` (e.g. 'fig3', 'fa-robustness'); an unknown name lists the valid ones."""
    if name not in BOOK_FIGURES:
        raise ConfigError(f"FIGURE={name!r} is unknown; choose one of {tuple(BOOK_FIGURES)}.")
    return BOOK_FIGURES[name]


# ---------------------------------------------------------------- what the stored results cost
def compute_seconds(profile: str | None = None, root: str | None = None,
                    since: str | None = None) -> dict[str, float]:
    """Seconds of computing behind each paper's stored results at `profile` (this core's runs and
    tables), as their provenance records them: what a first, cold run of its pages costs on top of
    the pages' own run time. A run trained in a group of g counts g-th of the group's time.
    `since` (an ISO time with zone) counts only what started at or after it."""
    import json

    from .ground.profiles import profile_name
    from .runs.store import TABLES_DIR, ResultStore

    profile = profile_name(profile)
    seconds = {}
    for name in PAPERS:
        store = ResultStore(root, paper=name)
        total = 0.0
        for rec in store.iter_runs(with_metrics=False):
            prov = rec["provenance"]
            if (rec["config"].get("profile") == profile and prov.get("wall_time_s") is not None
                    and _started_since(prov, since)):
                total += prov["wall_time_s"] / max(int(prov.get("group_size") or 1), 1)
        for path in sorted((store.dir / TABLES_DIR).glob("*/provenance.json")):
            prov = json.loads(path.read_text())
            if prov.get("profile") == profile and _started_since(prov, since):
                total += float(prov.get("wall_time_s") or 0.0)
        seconds[name] = total
    return seconds


def _started_since(provenance: dict, since: str | None) -> bool:
    from datetime import datetime

    if since is None:
        return True
    start = provenance.get("start_time")
    return start is not None and datetime.fromisoformat(start) >= datetime.fromisoformat(since)
