"""The `cocorr` command.

    cocorr data fetch NAME
    cocorr data verify NAME
    cocorr run FIGURE [--profile quick|paper] [--device auto|cpu|cuda] [--out DIR]
                      [--executor inprocess|dask] [--scheduler ADDR | --workers N] [--seeds N]
                      [--retry-failed]
    cocorr figure NAME|all|list [--format svg|pdf|png] [--size slide|page] [--profile P] [--out DIR]
    cocorr page PAGE [--profile P] [--out DIR]
    cocorr sweep show DIR [--namespace NS|all]
    cocorr report [--json] [--profile P]
    cocorr bench [--quick] [--json PATH]

Bad input prints one line `cocorr: error: ...` and exits with code 2 (no traceback); a fault
of the machine (unreadable data, an unwritable store, a full disk) prints one line and exits
with code 1. Either way every run already stored is kept. Ctrl-C exits with 130 and keeps
every completed run in the store. Output piped into a command that stops reading (`head`)
ends quietly.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .ground.devices import DEVICE_CHOICES
from .ground.errors import ConfigError, EnvironmentFault, UserError
from .ground.profiles import PROFILE_NAMES

EXIT_USAGE = 2
EXIT_FAULT = 1
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors in the same format as every other CLI error."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(EXIT_USAGE, f"cocorr: error: {message} (see '{self.prog} --help')\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="cocorr", description="Run, store and report the experiments of the book "
                "'Layers, implicit bias and adversarial robustness'.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    data = sub.add_parser("data", help="datasets", description="Datasets.")
    data_sub = data.add_subparsers(dest="data_command", metavar="ACTION", parser_class=_Parser)
    data_sub.required = True
    fetch = data_sub.add_parser("fetch", help="put a dataset into the data directory and check it",
                                description="Put a dataset (mnist; cifar10 is only checked) into "
                                "$COCORR_DATA and verify its checksums.")
    fetch.add_argument("name", metavar="NAME", help="dataset name, e.g. mnist")
    verify = data_sub.add_parser("verify", help="recompute the checksums of a dataset's files",
                                 description="Hash every file of a dataset in $COCORR_DATA now, whatever "
                                 "an earlier check recorded, and report any that do not match.")
    verify.add_argument("name", metavar="NAME", choices=("mnist",), help="dataset name: mnist")

    run = sub.add_parser("run", help="run (or load) the runs of a figure and save the figure",
                         description="Run every missing run of a figure into the result store, then "
                         "plot it to DIR/figures/<figure>-<profile>.png.")
    run.add_argument("figure", metavar="FIGURE",
                     help="figure name, e.g. fig1 (an unknown name lists the valid ones)")
    run.add_argument("--profile", choices=PROFILE_NAMES, default=None,
                     help="sizes to run at (default: $COCORR_PROFILE, else quick)")
    run.add_argument("--device", choices=DEVICE_CHOICES, default="auto",
                     help="where to train (default: auto = cuda when present)")
    run.add_argument("--out", metavar="DIR", default=None,
                     help="result store root (default: $COCORR_RESULTS, else ~/.cache/cocorr/results)")
    run.add_argument("--executor", choices=("inprocess", "dask"), default="inprocess",
                     help="inprocess (default) or a Dask cluster")
    where = run.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDR", default=None,
                       help="with --executor dask: address of a running Dask scheduler")
    where.add_argument("--workers", metavar="N", type=_positive_int, default=None,
                       help="with --executor dask: start a local cluster with N worker processes")
    run.add_argument("--seeds", metavar="N", type=_positive_int, default=None,
                     help="seeds 0..N-1 per grid cell (default: the profile's count)")
    run.add_argument("--retry-failed", action="store_true",
                     help="rerun runs stored as failed (by default they are kept and reported)")

    figure = sub.add_parser("figure", help="draw a figure of the book from stored results (slides, print)",
                            description="Draw a figure of the book from the result store, computing only "
                            "what is not stored yet, and write it to "
                            "DIR/figures/<name>-<profile>-<size>.<format>. NAME 'all' writes every figure; "
                            "'list' names them.")
    figure.add_argument("name", metavar="NAME",
                        help="figure name, e.g. fig3 or fa-robustness (an unknown name lists the valid ones)")
    figure.add_argument("--format", choices=FIGURE_FORMATS, default="svg", help="file format (default: svg)")
    figure.add_argument("--size", choices=tuple(FIGURE_SIZES), default="slide",
                        help="slide: 16:9 at 13.33 x 7.5 in with large type (default); page: as in the book")
    figure.add_argument("--profile", choices=PROFILE_NAMES, default=None,
                        help="whose stored results to draw (default: $COCORR_PROFILE, else quick)")
    figure.add_argument("--out", metavar="DIR", default=None,
                        help="root of the output (default: $COCORR_RESULTS, else ~/.cache/cocorr/results)")

    page = sub.add_parser("page", help="rerun one page of the book as a notebook (source checkout)",
                          description="Execute notebooks/<PAGE>.md top to bottom with papermill in the given "
                          "profile and write the executed notebook to DIR/<page>.ipynb.")
    page.add_argument("page", metavar="PAGE",
                      help="page name or a unique prefix of it, e.g. fig3 or fig3_init_width")
    page.add_argument("--profile", choices=PROFILE_NAMES, default=None,
                      help="sizes to run at (default: $COCORR_PROFILE, else quick)")
    page.add_argument("--out", metavar="DIR", default="_build/pages",
                      help="where the executed notebook goes (default: _build/pages in the checkout)")

    sweep = sub.add_parser("sweep", help="inspect stored sweeps", description="Inspect stored sweeps.")
    sweep_sub = sweep.add_subparsers(dest="sweep_command", metavar="ACTION", parser_class=_Parser)
    sweep_sub.required = True
    show = sweep_sub.add_parser("show", help="table of the runs in a result store",
                                description="List the runs stored under DIR: key, main config fields, "
                                "status, failed epoch and wall time; failures are listed with their error.")
    show.add_argument("dir", metavar="DIR", help="result store root (the --out of `cocorr run`)")
    show.add_argument("--namespace", metavar="NS", default=None,
                      help="namespace to show (default: this core's, for every paper; 'all' for every one)")

    report = sub.add_parser("report", help="the reproduction ledger",
                            description="Evaluate every registered claim and print its verdict.")
    report.add_argument("--json", action="store_true", help="print the ledger as a JSON list")
    report.add_argument("--profile", choices=PROFILE_NAMES, default=None,
                        help="profile whose results are checked (default: $COCORR_PROFILE, else quick)")

    bench = sub.add_parser("bench", help="run the performance harness (source checkout only)",
                           description="Run `python -m benchmarks` from the repository root.")
    bench.add_argument("--quick", action="store_true", help="small sizes")
    bench.add_argument("--json", metavar="PATH", default=None, help="write the results as JSON to PATH")
    return p


# ---------------------------------------------------------------- commands
def cmd_data(args: argparse.Namespace) -> int:
    """`cocorr data fetch|verify NAME`."""
    from . import data

    if args.data_command == "verify":
        path = data.verify_mnist()
        print(f"{args.name}: every file in {path} matches its recorded SHA-256")
        return 0
    path = data.fetch(args.name)
    print(f"{args.name}: ready in {path}")
    return 0


def preflight(store: Any) -> None:
    """Before any training: the store can be written and MNIST verifies (hashed once per process).
    Raises StoreError or DataError (exit code 2) naming the problem and the fix."""
    from . import data

    store.preflight()
    data.fetch_mnist()      # supplies missing files, hashes the rest once in this process


def figure_run_configs(paper: Any, figure: str, profile: str, device: str, seeds: int | None) -> list:
    """The configs of `paper`'s figure on `device`, with seeds 0..seeds-1 per grid cell when asked."""
    return paper.figure_configs(figure, profile, device=device, seeds=seeds)


FIGURE_FORMATS = ("svg", "pdf", "png")
# Inches, and the type sizes that keep a figure legible when projected.
FIGURE_SIZES: dict[str, tuple[float, float] | None] = {"slide": (13.33, 7.5), "page": None}
SLIDE_RC = {"font.size": 16, "axes.titlesize": 17, "axes.labelsize": 17, "xtick.labelsize": 14,
            "ytick.labelsize": 14, "legend.fontsize": 13, "figure.titlesize": 18, "lines.linewidth": 2.2}


def _as_figure(drawn: Any) -> Any:
    """The matplotlib Figure of whatever a plot function returned (Figure, Axes, grid or tuple)."""
    import matplotlib.pyplot as plt

    for obj in (drawn[0] if isinstance(drawn, tuple) and drawn else drawn, drawn):
        if hasattr(obj, "savefig"):
            return obj
        if hasattr(obj, "figure") and hasattr(obj.figure, "savefig"):
            return obj.figure
    return plt.gcf()


def cmd_figure(args: argparse.Namespace) -> int:
    from .ground.paths import check_writable, default_root
    from .ground.profiles import profile_name

    root = Path(args.out).expanduser() if args.out else default_root()
    check_writable(root)   # before any computing

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .catalog import BOOK_FIGURES, book_figure

    if args.name == "list":
        for f in BOOK_FIGURES.values():
            print(f"{f.name:<18} {f.paper:<18} notebooks/{f.page}.md")
        return 0
    profile = profile_name(args.profile)
    names = list(BOOK_FIGURES) if args.name == "all" else [book_figure(args.name).name]
    size = FIGURE_SIZES[args.size]
    for name in names:
        with matplotlib.rc_context(SLIDE_RC if size else {}):
            fig = _as_figure(book_figure(name).draw(profile))
            if size:
                fig.set_size_inches(*size)
            out = root / "figures" / f"{name}-{profile}-{args.size}.{args.format}"
            _save_figure(fig, out, dpi=200 if size else 150)
        plt.close("all")
        print(f"{name}: {out}", flush=True)
    return 0


def notebook_stems(root: Path) -> list[str]:
    return sorted(p.stem for p in (root / "notebooks").glob("*.md"))


def resolve_page(page: str, root: Path) -> str:
    """The notebook stem that `page` names exactly or as a unique prefix."""
    stems = notebook_stems(root)
    if not stems:
        raise UserError(f"`cocorr page` needs a source checkout: there is no notebooks/ folder in {root}.")
    if page in stems:
        return page
    matches = [s for s in stems if s.startswith(page)]
    if len(matches) != 1:
        what = "is ambiguous" if matches else "is unknown"
        raise ConfigError(f"PAGE={page!r} {what}; choose one of {tuple(matches or stems)}.")
    return matches[0]


def cmd_page(args: argparse.Namespace) -> int:
    import time

    from .ground.profiles import profile_name

    root = source_root()
    stem = resolve_page(args.page, root)
    profile = profile_name(args.profile)
    out_dir = Path(args.out).expanduser()
    out_dir = out_dir if out_dir.is_absolute() else root / out_dir
    out_dir.mkdir(parents=True, exist_ok=True)

    try:
        import jupytext
        import papermill
    except ImportError as exc:
        raise UserError(f"`cocorr page` needs jupytext and papermill ({exc.name} is missing): "
                        "run `make setup` or `pip install -e '.[dev]'`.") from None

    nb = jupytext.read(root / "notebooks" / f"{stem}.md")
    out = out_dir / f"{stem}.ipynb"
    print(f"running notebooks/{stem}.md ({profile} profile) -> {out}", flush=True)
    start = time.perf_counter()
    try:
        papermill.execute_notebook(nb, str(out), parameters={"PROFILE": profile}, kernel_name="python3",
                                   cwd=str(root / "notebooks"), progress_bar=False)
    except papermill.PapermillExecutionError as exc:
        print(f"cocorr: page {stem} failed in cell {exc.exec_count}: {exc.ename}: {exc.evalue}; the notebook "
              f"as far as it ran is {out}", file=sys.stderr)
        return EXIT_FAULT
    print(f"done in {time.perf_counter() - start:.0f} s: {out}")
    return 0


def _save_figure(fig: Any, path: Path, dpi: int = 150) -> None:
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close("all")


def cmd_run(args: argparse.Namespace) -> int:
    from .ground.paths import check_writable, default_root
    from .ground.profiles import profile_name

    check_writable(Path(args.out).expanduser() if args.out else default_root())   # before loading torch

    from .catalog import figure_paper
    from .ground.devices import resolve_device
    from .runs.sweep import load_sweep

    profile = profile_name(args.profile)
    resolve_device(args.device)  # fails now, with a clear message, if cuda is asked for but absent
    if args.executor != "dask" and (args.scheduler or args.workers):
        raise ConfigError("--scheduler and --workers need --executor dask.")
    paper = figure_paper(args.figure)
    configs = figure_run_configs(paper, args.figure, profile, args.device, args.seeds)
    store = paper.result_store(args.out)
    preflight(store)
    print(f"{args.figure} ({profile} profile): {len(configs)} runs, store {store.dir}", flush=True)
    summary = paper.sweep(configs, store=store, executor=args.executor, scheduler=args.scheduler,
                          workers=args.workers, retry_failed=args.retry_failed)
    print(summary, flush=True)
    df = load_sweep(store, configs)

    import matplotlib

    matplotlib.use("Agg")
    out = store.root / "figures" / f"{args.figure}-{profile}.png"
    _save_figure(paper.plot_figure(args.figure, df, profile), out)
    print(f"figure written to {out}")
    return 0


SHOW_FIELDS = ("model", "dataset", "activation", "width", "q", "optimizer", "epochs", "seed", "profile")


def cmd_sweep_show(args: argparse.Namespace) -> int:
    """`cocorr sweep show DIR`: the runs of the chosen namespaces, counted ok / failed / damaged."""
    import pandas as pd

    from .catalog import PAPERS
    from .runs.store import ResultStore, check_namespace, current_namespace

    root = Path(args.dir).expanduser()
    if args.namespace not in (None, "all"):
        check_namespace(args.namespace)
    if not root.is_dir():
        raise UserError(f"DIR={str(root)!r} is not a directory; give the root of a result store "
                        "(the --out of `cocorr run`).")
    store = ResultStore(root)
    spaces = store.namespaces()
    if args.namespace == "all":
        chosen = spaces
    else:
        wanted = [args.namespace] if args.namespace else [current_namespace(p) for p in (None, *PAPERS)]
        chosen = [ns for ns in wanted if ns in spaces]
        if not chosen:
            hint = (f"stored namespaces: {', '.join(spaces)}; pass --namespace NS or --namespace all"
                    if spaces else "it holds no runs")
            print(f"no runs of namespace {', '.join(wanted)} in {root} ({hint}).")
            return 0
    tables, damaged = [], []
    for ns in chosen:
        ns_store = store.for_namespace(ns)
        runs = ns_store.runs()
        if len(runs):
            tables.append(runs.assign(namespace=ns))
        damaged += [(ns, key) for key in ns_store.damaged()]
    if tables:
        runs = pd.concat(tables, ignore_index=True)
        print(_runs_table(runs, several=len(chosen) > 1))
    else:
        runs = pd.DataFrame(columns=["key", "status"])
        print(f"no complete runs in {root} (namespaces: {', '.join(chosen)}).")
    n_failed = int((runs["status"] == "failed").sum())
    print(f"\n{len(runs) + len(damaged)} runs: {len(runs) - n_failed} ok, {n_failed} failed, "
          f"{len(damaged)} damaged")
    for _, r in runs[runs["status"] == "failed"].iterrows():
        print(f"  failed {r['key']} at epoch {r['failed_epoch']}: {r['error']}")
    for ns, key in damaged:
        print(f"  damaged {key} in {ns}: incomplete, unreadable or failing its checksums; "
              "the next sweep redoes it")
    others = [s for s in spaces if s not in chosen]
    if others:
        print(f"other namespaces in {root} (results of other core versions; --namespace NS or all): "
              f"{', '.join(others)}")
    return 0


def _runs_table(runs: Any, several: bool) -> str:
    """The runs as text: key, the config fields whose values differ between runs (the shown fields
    always), status, failed epoch and wall time."""
    import pandas as pd

    skip = {"key", "status", "failed_epoch", "error", "wall_time_s", "start_time", "namespace", "device"}
    fields = [c for c in runs.columns if c not in skip]
    varying = [c for c in fields if c in SHOW_FIELDS or runs[c].astype(str).nunique() > 1]
    runs = runs.sort_values([c for c in ("namespace", *varying) if c in runs.columns], kind="stable")
    cols = ["key"] + (["namespace"] if several else []) + varying + ["status", "failed_epoch", "wall_time_s"]
    table = runs[cols].copy()
    table["wall_time_s"] = pd.to_numeric(table["wall_time_s"], errors="coerce").round(2)
    with pd.option_context("display.max_rows", None, "display.width", 250, "display.max_columns", None):
        return table.to_string(index=False)


def _format_numbers(numbers: dict[str, Any], limit: int = 80) -> str:
    parts = []
    for k, v in numbers.items():
        v = v.item() if hasattr(v, "item") and getattr(v, "ndim", 0) == 0 else v
        parts.append(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}")
    text = ", ".join(parts)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _json_ready(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    return str(obj)


def cmd_report(args: argparse.Namespace) -> int:
    from .ground.paths import check_writable, default_root

    check_writable(default_root())   # before loading torch

    from .catalog import PAPERS, ledger
    from .runs.ledger import count_line, headline
    from .runs.store import ResultStore

    for name in PAPERS:
        preflight(ResultStore(paper=name))

    entries = ledger(args.profile)
    if args.json:
        print(json.dumps(entries, indent=2, default=_json_ready))
        return 0
    if not entries:
        print("no claims are registered.")
        return 0
    width = max(len(e["id"]) for e in entries)
    print(f"{'id':<{width}}  {'kind':<5}  {'verdict':<14}  {'profile':<7}  numbers")
    for e in sorted(entries, key=lambda e: (e.get("kind", "claim") != "claim", e["id"])):
        print(f"{e['id']:<{width}}  {e.get('kind', 'claim'):<5}  {e['verdict']:<14}  {e['profile']:<7}  "
              f"{_format_numbers(e['numbers'])}")
    print(headline(entries))
    print(f"(our own {count_line(entries, 'check')}, counted apart)")
    return 0


def source_root() -> Path:
    """The directory that holds the cocorr_core package (a repository root in a source checkout)."""
    return Path(__file__).resolve().parent.parent


def cmd_bench(args: argparse.Namespace) -> int:
    root = source_root()
    if not ((root / "benchmarks" / "__main__.py").is_file()
            or (root / "benchmarks" / "__init__.py").is_file()):
        raise UserError(f"`cocorr bench` needs a source checkout of the repository: there is no benchmarks "
                        f"package in {root}. Run it from a clone installed with `pip install -e .`.")
    cmd = [sys.executable, "-m", "benchmarks"]
    if args.quick:
        cmd.append("--quick")
    if args.json:
        cmd += ["--json", str(Path(args.json).expanduser().resolve())]
    return subprocess.run(cmd, cwd=root).returncode


COMMANDS = {"data": cmd_data, "run": cmd_run, "figure": cmd_figure, "page": cmd_page, "report": cmd_report,
            "bench": cmd_bench}


def _error_line(exc: BaseException) -> None:
    message = " ".join(str(exc).split())  # one line, whatever the message holds
    print(f"cocorr: error: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `cocorr` command with `argv` (default: sys.argv); returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    command = cmd_sweep_show if args.command == "sweep" else COMMANDS[args.command]
    try:
        return command(args)
    except UserError as exc:
        _error_line(exc)
        return EXIT_USAGE
    except BrokenPipeError:  # the reader stopped (`| head`): end quietly
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (EnvironmentFault, OSError) as exc:
        _error_line(exc)
        return EXIT_FAULT
    except KeyboardInterrupt:
        print("\ncocorr: interrupted; completed runs are kept in the store, run the same command again "
              "to resume.", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
