"""Sweeps: skipping, resuming after a crash or a kill, failure records, executors (threads, Dask)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from cocorr_core.runs.store import ResultStore
from cocorr_core.runs.sweep import load_or_run, load_sweep, run_sweep

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import sweep_fakes as F  # noqa: E402

CONFIGS = F.configs()                      # 4 widths x 2 q x 2 seeds = 16 runs, epochs 0..4
N_ROWS = len(CONFIGS) * 5 * len(F.METRICS)


@pytest.fixture
def store(tmp_path) -> ResultStore:
    return ResultStore(tmp_path, "test")


def expected_table() -> pd.DataFrame:
    rows = [{"run": c.key(), "epoch": e, "metric": m, "value": F.expected_value(c, e, m)}
            for c in CONFIGS for e in range(c.epochs + 1) for m in F.METRICS]
    return pd.DataFrame(rows).sort_values(["run", "epoch", "metric"], ignore_index=True)


def assert_complete(df: pd.DataFrame) -> None:
    """Every run x epoch x metric exactly once, with the runner's values and the config joined in."""
    assert len(df) == N_ROWS
    assert not df.duplicated(["run", "epoch", "metric"]).any()
    pd.testing.assert_frame_equal(df[["run", "epoch", "metric", "value"]].reset_index(drop=True),
                                  expected_table(), check_dtype=False)
    assert (df["status"] == "ok").all()
    by_key = {c.key(): c for c in CONFIGS}
    for run, width, q in df[["run", "width", "q"]].drop_duplicates().itertuples(index=False):
        assert (by_key[run].width, by_key[run].q) == (width, q)


def test_in_process_sweep_runs_once_and_then_skips(store):
    runner = F.CountingRunner()
    summary = run_sweep(CONFIGS + CONFIGS[:3], store=store, runner=runner, group_key=F.group_by_width)
    assert (summary.trained, summary.stored, summary.failed_now, summary.total) == (16, 0, 0, 16)
    assert len(runner.calls) == 4 and runner.n_runs == 16  # one call per width: the batched groups
    assert_complete(load_sweep(store, CONFIGS))
    again = run_sweep(CONFIGS, store=store, runner=runner, group_key=F.group_by_width)
    assert (again.trained, again.stored, again.failed) == (0, 16, 0)
    assert runner.n_runs == 16


def test_load_or_run_returns_the_tidy_table(store):
    df = load_or_run(CONFIGS, store=store, runner=F.runner, group_key=F.group_by_width)
    assert_complete(df)
    assert {"status", "failed_epoch", "width", "q", "seed", "activation"} <= set(df.columns)
    assert df["failed_epoch"].isna().all()
    subset = load_sweep(store, CONFIGS[:2])
    assert set(subset["run"]) == {CONFIGS[0].key(), CONFIGS[1].key()}


def test_a_crashing_group_is_recorded_and_the_sweep_goes_on(store):
    runner = F.CountingRunner(raise_on=3, exc=RuntimeError("out of memory"))
    summary = run_sweep(CONFIGS, store=store, runner=runner, group_key=F.group_by_width)
    crashed = set(runner.calls[2])
    assert (summary.trained, summary.failed_now, summary.failed) == (16, 4, 4)
    assert {f["key"] for f in summary.failures} == crashed
    assert all("out of memory" in f["error"] for f in summary.failures)
    # Failed runs are kept and not rerun unless asked.
    rerun = F.CountingRunner()
    assert run_sweep(CONFIGS, store=store, runner=rerun, group_key=F.group_by_width).stored == 16
    assert rerun.calls == []
    retry = run_sweep(CONFIGS, store=store, runner=rerun, group_key=F.group_by_width, retry_failed=True)
    assert (retry.trained, retry.stored, retry.failed, retry.failures) == (4, 12, 0, [])
    assert {k for call in rerun.calls for k in call} == crashed
    assert_complete(load_sweep(store, CONFIGS))


def test_an_interrupted_sweep_resumes_without_loss_or_duplicates(store):
    runner = F.CountingRunner(raise_on=3, exc=KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        run_sweep(CONFIGS, store=store, runner=runner, group_key=F.group_by_width)
    finished = {k for call in runner.calls[:2] for k in call}
    assert set(store.keys()) == finished and len(finished) == 8
    rest = F.CountingRunner()
    summary = run_sweep(CONFIGS, store=store, runner=rest, group_key=F.group_by_width)
    assert (summary.trained, summary.stored) == (8, 8)
    assert not finished & {k for call in rest.calls for k in call}
    assert_complete(load_sweep(store, CONFIGS))


def test_a_diverging_run_is_recorded_failed_at_its_epoch(store):
    summary = run_sweep(CONFIGS, store=store, runner=F.nan_runner, group_key=F.group_by_width)
    diverging = {c.key() for c in CONFIGS if c.q < 0}
    assert (summary.trained, summary.failed_now, summary.failed) == (16, 8, 8)
    assert {f["key"] for f in summary.failures} == diverging
    assert {f["failed_epoch"] for f in summary.failures} == {3}
    df = load_sweep(store, CONFIGS)
    failed = df[df["run"].isin(diverging)]
    assert (failed["status"] == "failed").all() and (failed["failed_epoch"] == 3).all()
    assert (df.loc[~df["run"].isin(diverging), "status"] == "ok").all()
    runs = store.runs().set_index("key")
    assert runs.loc[sorted(diverging), "error"].str.contains("epoch 3").all()


def test_a_runner_reported_failure_is_kept(store):
    def runner(configs):
        out = F.runner(configs)
        out[0].status, out[0].failed_epoch, out[0].error = "failed", 1, "loss exploded"
        return out

    summary = run_sweep(CONFIGS[:2], store=store, runner=runner, group_key=lambda c: 0)
    assert summary.failed == 1 and summary.failures[0]["failed_epoch"] == 1
    assert summary.failures[0]["error"] == "loss exploded"


def test_bad_input_stops_the_sweep_instead_of_recording_failures(store):
    from cocorr_core.ground.errors import ConfigError

    def runner(configs):
        raise ConfigError("dataset files are missing; run `cocorr data fetch mnist`")

    with pytest.raises(ConfigError, match="cocorr data fetch"):
        run_sweep(CONFIGS, store=store, runner=runner, group_key=F.group_by_width)
    assert store.keys() == []
    with ThreadPoolExecutor(max_workers=2) as pool, pytest.raises(ConfigError):
        run_sweep(CONFIGS, store=store, executor=pool, runner=runner, group_key=F.group_by_width)
    assert store.keys() == []


def test_corrupt_run_directories_are_redone(store):
    run_sweep(CONFIGS, store=store, runner=F.runner, group_key=F.group_by_width)
    a, b = store.run_dir(CONFIGS[0]), store.run_dir(CONFIGS[5])
    data = (a / "metrics.parquet").read_bytes()
    (a / "metrics.parquet").write_bytes(data[: len(data) // 3])
    (b / "provenance.json").unlink()
    rerun = F.CountingRunner()
    summary = run_sweep(CONFIGS, store=store, runner=rerun, group_key=F.group_by_width)
    assert (summary.trained, summary.stored) == (2, 14)
    assert sorted(k for call in rerun.calls for k in call) == sorted([CONFIGS[0].key(), CONFIGS[5].key()])
    assert_complete(load_sweep(store, CONFIGS))


def test_thread_pool_gives_the_in_process_table(tmp_path):
    serial = load_or_run(CONFIGS, store=ResultStore(tmp_path / "a", "test"), runner=F.runner,
                         group_key=F.group_by_width)
    with ThreadPoolExecutor(max_workers=2) as pool:
        threaded = load_or_run(CONFIGS, store=ResultStore(tmp_path / "b", "test"), executor=pool,
                               runner=F.runner, group_key=F.group_by_width)
    pd.testing.assert_frame_equal(serial, threaded)


def test_thread_pool_records_a_crashing_group(store):
    def runner(configs):
        if configs[0].width == 32:
            raise ValueError("bad group")
        return F.runner(configs)

    with ThreadPoolExecutor(max_workers=2) as pool:
        summary = run_sweep(CONFIGS, store=store, executor=pool, runner=runner, group_key=F.group_by_width)
    assert (summary.trained, summary.failed_now, summary.failed) == (16, 4, 4)


def test_unknown_executor_and_stray_dask_options_are_config_errors(store):
    from cocorr_core.ground.errors import ConfigError

    with pytest.raises(ConfigError, match="executor"):
        run_sweep(CONFIGS[:1], store=store, executor="spark", runner=F.runner)
    with pytest.raises(ConfigError, match="workers"):
        run_sweep(CONFIGS[:1], store=store, executor="inprocess", workers=2, runner=F.runner)


@pytest.mark.slow
def test_dask_gives_the_in_process_table(tmp_path, monkeypatch):
    distributed = pytest.importorskip("dask.distributed")
    # Worker processes import the fake runner from this directory.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    serial = load_or_run(CONFIGS, store=ResultStore(tmp_path / "a", "test"), runner=F.runner,
                         group_key=F.group_by_width)
    # workers=N: a local cluster that the sweep starts and closes.
    local = load_or_run(CONFIGS, store=ResultStore(tmp_path / "b", "test"), executor="dask", workers=2,
                        runner=F.runner, group_key=F.group_by_width)
    pd.testing.assert_frame_equal(serial, local)
    # scheduler=ADDRESS: an existing cluster, which the sweep leaves running.
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        remote = load_or_run(CONFIGS, store=ResultStore(tmp_path / "c", "test"), executor="dask",
                             scheduler=cluster.scheduler_address, runner=F.runner, group_key=F.group_by_width)
        assert cluster.status.name == "running" and len(cluster.workers) == 2
    pd.testing.assert_frame_equal(serial, remote)


def test_progress_bar_only_when_asked_or_on_a_terminal(store, capsys):
    # stderr is captured: no TTY
    run_sweep(CONFIGS[:4], store=store, runner=F.runner, group_key=F.group_by_width)
    assert capsys.readouterr().err == ""
    run_sweep(CONFIGS[4:8], store=store, runner=F.runner, group_key=F.group_by_width, progress=True)
    assert "4/4" in capsys.readouterr().err


def test_a_killed_sweep_process_resumes_to_the_complete_table(tmp_path):
    store = ResultStore(tmp_path, "test")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, str(HERE / "sweep_fakes.py"), str(tmp_path), "test"], env=env)
    try:
        deadline = time.monotonic() + 60
        while len(store.keys()) < 3:  # wait until a few runs are on disk, then kill it mid-sweep
            assert proc.poll() is None, "the sweep process ended before it could be killed"
            assert time.monotonic() < deadline, "the sweep process wrote no runs within 60 s"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    stored = {r["key"] for r in store.iter_runs(with_metrics=False)}
    assert set(store.keys()) == stored  # every visible run directory is complete
    assert 3 <= len(stored) < len(CONFIGS)
    rest = F.CountingRunner()
    summary = run_sweep(CONFIGS, store=store, runner=rest, group_key=lambda c: c.key())
    assert summary.stored == len(stored) and summary.trained == len(CONFIGS) - len(stored)
    assert not stored & {k for call in rest.calls for k in call}
    assert_complete(load_sweep(store, CONFIGS))
