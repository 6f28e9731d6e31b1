"""The `cocorr` command: help, one-line errors with exit code 2, and each command's happy path."""
from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch

from cocorr_core import catalog, cli
from cocorr_core.runs.store import ResultStore
from cocorr_core.runs.sweep import run_sweep

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import sweep_fakes as F  # noqa: E402
from tiny_pages import tiny_page  # noqa: E402


def error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("cocorr: error: ") and "Traceback" not in err
    return lines[0]


@pytest.fixture
def fake_experiments(monkeypatch):
    """A stand-in paper front in the catalog: two figures over the fake sweep grid."""
    mod = types.ModuleType("fake_paper")
    mod.FIGURES = ("figA", "figB")

    def figure_configs(figure, profile, device="auto", seeds=None):
        cells = [c.replace(profile=profile) for c in F.configs(2, epochs=2)]
        return cells if seeds is None else [c.replace(seed=s) for c in cells for s in range(seeds)]

    mod.figure_configs = figure_configs
    mod.group_key = F.group_by_width
    mod.run_group = F.runner
    mod.result_store = lambda root=None: ResultStore(root)
    mod.sweep = lambda configs, store, **options: run_sweep(configs, runner=mod.run_group,
                                                            group_key=mod.group_key, store=store, **options)
    mod.seen = {}

    def plot_figure(figure, df, profile):
        import matplotlib.pyplot as plt

        mod.seen.update(figure=figure, profile=profile, df=df)
        fig, ax = plt.subplots()
        ax.plot(df["epoch"], df["value"], ".")
        return fig

    mod.plot_figure = plot_figure
    monkeypatch.setattr(catalog, "PAPERS", {"fake": mod})
    return mod


@pytest.mark.parametrize("argv", [[], ["data"], ["data", "fetch"], ["run"], ["sweep"], ["sweep", "show"],
                                  ["report"], ["bench"], ["figure"], ["page"]])
def test_help_on_every_command(argv, capsys):
    assert cli.main([*argv, "--help"]) == 0
    assert "usage: cocorr" in capsys.readouterr().out


@pytest.mark.parametrize("argv, expected", [
    (["run", "figA", "--profile", "huge"], "--profile"),
    (["run", "figA", "--executor", "spark"], "--executor"),
    (["run", "figA", "--device", "tpu"], "--device"),
    (["run", "figA", "--seeds", "0"], "--seeds"),
    (["run", "figA", "--scheduler", "tcp://x:1", "--workers", "2", "--executor", "dask"], "not allowed"),
    (["figure", "fig3", "--format", "tiff"], "--format"),
    (["figure", "fig3", "--size", "poster"], "--size"),
    (["frobnicate"], "COMMAND"),
    ([], "COMMAND"),
])
def test_usage_errors_exit_2_with_one_line(argv, expected, capsys):
    assert cli.main(argv) == 2
    assert expected in error_line(capsys)


def test_unknown_figure(fake_experiments, capsys, tmp_path):
    assert cli.main(["run", "fig9", "--device", "cpu", "--out", str(tmp_path)]) == 2
    line = error_line(capsys)
    assert "fig9" in line and "figA" in line


def test_cuda_without_a_gpu(fake_experiments, capsys, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    assert cli.main(["run", "figA", "--device", "cuda", "--out", str(tmp_path)]) == 2
    assert "cuda" in error_line(capsys)


def test_dask_options_need_the_dask_executor(fake_experiments, capsys, tmp_path):
    assert cli.main(["run", "figA", "--workers", "2", "--device", "cpu", "--out", str(tmp_path)]) == 2
    assert "--executor dask" in error_line(capsys)


def test_run_stores_the_runs_and_saves_the_figure(fake_experiments, capsys, tmp_path):
    assert cli.main(["run", "figB", "--profile", "paper", "--device", "cpu", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    png = tmp_path / "figures" / "figB-paper.png"
    assert png.is_file() and png.read_bytes()[:4] == b"\x89PNG"
    assert str(png) in out
    df = fake_experiments.seen["df"]
    assert fake_experiments.seen["profile"] == "paper"
    assert len(df) == 8 * 3 * len(F.METRICS) and set(df["profile"]) == {"paper"}
    assert len(ResultStore(tmp_path).keys()) == 8
    # A second call reads everything from the store.
    assert cli.main(["run", "figB", "--profile", "paper", "--device", "cpu", "--out", str(tmp_path)]) == 0
    assert "8 already stored" in capsys.readouterr().out


def test_run_keeps_failed_runs_unless_asked_to_retry(fake_experiments, capsys, tmp_path):
    fake_experiments.figure_configs = (lambda figure, profile, device="auto", seeds=None:
                                       F.configs(2, epochs=4))
    fake_experiments.run_group = F.nan_runner
    argv = ["run", "figA", "--device", "cpu", "--out", str(tmp_path)]
    assert cli.main(argv) == 0
    assert "4 failed" in capsys.readouterr().out
    fake_experiments.run_group = F.runner
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "8 runs: 0 trained now, 8 already stored, 4 failed (of which 4 stored earlier)" in out
    assert out.count("  failed ") == 4     # the summary and its failure lines add up
    assert cli.main([*argv, "--retry-failed"]) == 0
    out = capsys.readouterr().out
    assert "8 runs: 4 trained now, 4 already stored, 0 failed (of which 0 stored earlier)" in out
    assert (fake_experiments.seen["df"]["status"] == "ok").all()


def test_run_seeds_expands_each_grid_cell(fake_experiments, tmp_path):
    assert cli.main(["run", "figA", "--device", "cpu", "--seeds", "3", "--out", str(tmp_path)]) == 0
    df = fake_experiments.seen["df"]
    assert sorted(df["seed"].unique()) == [0, 1, 2]
    assert df["run"].nunique() == 4 * 3  # 2 widths x 2 q, three seeds each


def test_sweep_show_lists_runs_and_failures(tmp_path, capsys):
    store = ResultStore(tmp_path)
    run_sweep(F.configs(2, epochs=4), store=store, runner=F.nan_runner, group_key=F.group_by_width)
    ResultStore(tmp_path, "v0.0.0-0123abcd").write_run(F.configs(1)[0], None, {"status": "ok"})
    assert cli.main(["sweep", "show", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for cfg in F.configs(2):
        assert cfg.key() in out
    assert "8 runs: 4 ok, 4 failed" in out
    assert out.count("at epoch 3: non-finite train_loss") == 4
    assert "v0.0.0-0123abcd" in out  # older namespaces are pointed out, not mixed in
    assert cli.main(["sweep", "show", str(tmp_path), "--namespace", "all"]) == 0
    assert "9 runs" in capsys.readouterr().out


def test_sweep_show_missing_directory(tmp_path, capsys):
    assert cli.main(["sweep", "show", str(tmp_path / "nowhere")]) == 2
    assert "nowhere" in error_line(capsys)


LEDGER = [{"id": "demo.claim", "paper": "wang2024implicit", "statement": "s", "verdict": "partly",
           "criterion": "x < 1", "numbers": {"slope": 0.123456, "n": 3}, "profile": "quick", "page": ""}]


def test_report_table_and_json(monkeypatch, capsys):
    seen = []
    monkeypatch.setattr(catalog, "ledger", lambda profile=None: seen.append(profile) or LEDGER)
    assert cli.main(["report", "--profile", "paper"]) == 0
    out = capsys.readouterr().out
    assert "demo.claim" in out and "partly" in out and "slope=0.1235" in out
    assert cli.main(["report", "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert {"id", "paper", "statement", "verdict", "profile", "numbers"} <= set(entries[0])
    assert seen == ["paper", None]


def test_bench_outside_a_source_checkout(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(cli, "source_root", lambda: tmp_path)
    assert cli.main(["bench", "--quick"]) == 2
    assert "source checkout" in error_line(capsys)


def test_bench_runs_the_benchmarks_package(monkeypatch, tmp_path):
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "__main__.py").write_text(
        "import json, sys, pathlib\npathlib.Path('argv.json').write_text(json.dumps(sys.argv[1:]))\n")
    monkeypatch.setattr(cli, "source_root", lambda: tmp_path)
    assert cli.main(["bench", "--quick", "--json", str(tmp_path / "r.json")]) == 0
    assert json.loads((tmp_path / "argv.json").read_text()) == ["--quick", "--json", str(tmp_path / "r.json")]


def test_data_fetch(monkeypatch, capsys, tmp_path):
    import cocorr_core.data as data

    monkeypatch.setattr(data, "fetch", lambda name: tmp_path / name)
    assert cli.main(["data", "fetch", "mnist"]) == 0
    assert str(tmp_path / "mnist") in capsys.readouterr().out


def test_keyboard_interrupt_exits_130(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setitem(cli.COMMANDS, "report", interrupted)
    assert cli.main(["report"]) == 130
    assert "completed runs are kept" in capsys.readouterr().err


def test_installed_command_prints_no_traceback(tmp_path):
    exe = Path(sys.executable).parent / "cocorr"
    if not exe.exists():
        pytest.skip("the cocorr console script is not installed in this environment")
    for argv in (["run", "fig1", "--profile", "bogus"], ["sweep", "show", str(tmp_path / "none")]):
        res = subprocess.run([str(exe), *argv], capture_output=True, text=True, timeout=120)
        assert res.returncode == 2, res.stderr
        assert res.stderr.startswith("cocorr: error: ") and len(res.stderr.strip().splitlines()) == 1
        assert "Traceback" not in res.stderr
    res = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "usage: cocorr" in res.stdout


# ---------------------------------------------------------------- cocorr figure / cocorr page
@pytest.fixture
def one_book_figure(monkeypatch):
    import matplotlib.pyplot as plt

    def draw(profile):
        fig, ax = plt.subplots(figsize=(4, 3))
        ax.plot([0, 1], [0, 1])
        ax.set_xlabel("epoch")
        return ax                     # a plot function may return its axes
    fig = catalog.BookFigure("figX", "fake", "fig3_init_width", draw)
    monkeypatch.setattr(catalog, "BOOK_FIGURES", {"figX": fig})
    return fig


def test_every_book_figure_names_a_page_of_its_paper():
    for f in catalog.BOOK_FIGURES.values():
        assert (HERE.parent / "notebooks" / f"{f.page}.md").is_file(), f.name
        assert f.paper in catalog.PAPERS, f.name
    assert set(catalog.PAPERS["cocorrelation"].FIGURES) <= set(catalog.BOOK_FIGURES)


def test_figure_unknown_name_lists_the_figures(one_book_figure, capsys, tmp_path):
    assert cli.main(["figure", "fig99", "--out", str(tmp_path)]) == 2
    assert "fig99" in (line := error_line(capsys)) and "figX" in line


@pytest.mark.parametrize("fmt, magic", [("png", b"\x89PNG"), ("svg", b"<?xml"), ("pdf", b"%PDF")])
def test_figure_writes_a_slide(one_book_figure, capsys, tmp_path, fmt, magic):
    assert cli.main(["figure", "figX", "--format", fmt, "--size", "slide", "--out", str(tmp_path)]) == 0
    out = tmp_path / "figures" / f"figX-quick-slide.{fmt}"
    assert str(out) in capsys.readouterr().out
    assert out.read_bytes().startswith(magic)


def test_slide_is_larger_than_the_page_figure(one_book_figure, tmp_path):
    from PIL import Image

    for size in ("slide", "page"):
        assert cli.main(["figure", "figX", "--format", "png", "--size", size, "--out", str(tmp_path)]) == 0
    slide = Image.open(tmp_path / "figures" / "figX-quick-slide.png").size
    page = Image.open(tmp_path / "figures" / "figX-quick-page.png").size
    assert slide[0] > 2000 and slide[0] / slide[1] == pytest.approx(16 / 9, rel=0.1)
    assert page[0] < 1000


def test_figure_list(one_book_figure, capsys):
    assert cli.main(["figure", "list"]) == 0
    assert "figX" in capsys.readouterr().out


def test_page_unknown_or_ambiguous(capsys):
    assert cli.main(["page", "nosuchpage"]) == 2
    assert "nosuchpage" in error_line(capsys)
    assert cli.main(["page", "fig"]) == 2
    line = error_line(capsys)
    assert "ambiguous" in line and "fig3_init_width" in line and "theory_definitions" not in line


TINY_PAGE = tiny_page("Tiny", 'print("profile", PROFILE)')


@pytest.mark.notebooks
def test_page_runs_a_notebook_with_the_profile(monkeypatch, tmp_path, capsys):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "tiny_page.md").write_text(TINY_PAGE)
    monkeypatch.setattr(cli, "source_root", lambda: tmp_path)
    assert cli.main(["page", "tiny", "--profile", "paper", "--out", "pages"]) == 0
    nb = json.loads((tmp_path / "pages" / "tiny_page.ipynb").read_text())
    outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
    assert any("profile paper" in "".join(o.get("text", "")) for o in outputs)


@pytest.mark.notebooks
def test_page_that_fails_says_where(monkeypatch, tmp_path, capsys):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "bad.md").write_text(TINY_PAGE.replace('print("profile", PROFILE)', "1 / 0"))
    monkeypatch.setattr(cli, "source_root", lambda: tmp_path)
    assert cli.main(["page", "bad", "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "ZeroDivisionError" in err and str(tmp_path / "o" / "bad.ipynb") in err
