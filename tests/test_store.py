"""The result store: keys and namespaces, atomic run directories, corruption repair, cached tables."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

import cocorr_core
from cocorr_core.ground.errors import ConfigError
from cocorr_core.runs.config import RunConfig
from cocorr_core.runs.store import ResultStore, cached_table, current_namespace, default_root

BASE = RunConfig(width=32, q=0.25, epochs=2, n_train=64, n_test=32, device="cpu")


def metrics(cfg: RunConfig) -> pd.DataFrame:
    return pd.DataFrame({"epoch": [0, 1, 2], "metric": ["train_loss"] * 3,
                         "value": [cfg.width + 0.5 * e for e in range(3)]})


def prov(status: str = "ok", **extra) -> dict:
    return {"status": status, "error": None, "failed_epoch": None, "seed": 0, **extra}


@pytest.fixture
def store(tmp_path) -> ResultStore:
    return ResultStore(tmp_path, "test")


# ---------------------------------------------------------------- roots, namespaces, keys
def test_root_argument_env_and_home(tmp_path, monkeypatch):
    monkeypatch.setenv("COCORR_RESULTS", str(tmp_path / "env"))
    assert ResultStore().root == tmp_path / "env"
    assert ResultStore(tmp_path / "arg").root == tmp_path / "arg"
    monkeypatch.delenv("COCORR_RESULTS")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_root() == tmp_path / "home" / ".cache" / "cocorr" / "results"


def test_namespace_names_version_shared_layers_and_paper(tmp_path):
    from cocorr_core.ground.fingerprint import paper_fingerprint, shared_fingerprint

    base = f"v{cocorr_core.__version__}-{shared_fingerprint()}"
    assert ResultStore(tmp_path).namespace == current_namespace() == base
    ns = ResultStore(tmp_path, paper="cocorrelation").namespace
    assert (ns == current_namespace("cocorrelation")
            == f"{base}-cocorrelation-{paper_fingerprint('cocorrelation')}")
    assert ResultStore(tmp_path, paper="cocorrelation").dir == tmp_path / ns


def _fake_package(root):
    for rel in ("ground/errors.py", "data.py", "cli.py", "catalog.py", "papers/a/__init__.py",
                "papers/b/x.py"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(f"# {rel}\n")


def _fingerprints(monkeypatch, root):
    from cocorr_core.ground import fingerprint as fp

    monkeypatch.setattr(fp, "PACKAGE_DIR", root)
    monkeypatch.setattr(fp, "PAPERS_DIR", root / "papers")
    fp.shared_fingerprint.cache_clear()
    fp.paper_fingerprint.cache_clear()
    out = (fp.shared_fingerprint(), fp.paper_fingerprint("a"), fp.paper_fingerprint("b"))
    fp.shared_fingerprint.cache_clear()
    fp.paper_fingerprint.cache_clear()
    return out


@pytest.mark.parametrize("edited, changes", [
    ("papers/a/__init__.py", (False, True, False)),   # one paper: only its own results move
    ("data.py", (True, False, False)),                 # a shared layer: every namespace moves
    ("ground/errors.py", (True, False, False)),
    ("cli.py", (False, False, False)),                 # the top computes nothing
])
def test_an_edit_moves_only_the_namespaces_it_can_change(tmp_path, monkeypatch, edited, changes):
    _fake_package(tmp_path)
    before = _fingerprints(monkeypatch, tmp_path)
    (tmp_path / edited).write_text("# edited\n")
    after = _fingerprints(monkeypatch, tmp_path)
    assert tuple(b != a for b, a in zip(before, after)) == changes


def test_a_changed_core_writes_into_a_new_namespace(tmp_path, monkeypatch):
    import cocorr_core.runs.store as store_module

    before = ResultStore(tmp_path, paper="cocorrelation")
    before.write_run(BASE, metrics(BASE), prov())
    monkeypatch.setattr(store_module, "paper_fingerprint", lambda paper: "0123456789ab")
    after = ResultStore(tmp_path, paper="cocorrelation")
    assert after.namespace.endswith("-cocorrelation-0123456789ab") and after.namespace != before.namespace
    assert after.check_run(BASE) is None and before.check_run(BASE) == "ok"


def test_an_unknown_paper_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no paper subpackage"):
        ResultStore(tmp_path, paper="nonesuch")


def test_run_dir_follows_the_config_key(store):
    assert store.run_dir(BASE) == store.dir / BASE.key()
    assert store.run_dir(BASE.replace(device="auto")) == store.run_dir(BASE)  # device is not part of the key
    assert store.run_dir(BASE.replace(width=64)) != store.run_dir(BASE)
    assert store.run_dir(BASE.replace(seed=1)) != store.run_dir(BASE)
    assert store.run_dir(RunConfig.from_dict(BASE.to_dict())) == store.run_dir(BASE)


def test_older_namespaces_stay_readable(tmp_path):
    old = ResultStore(tmp_path, "v0.0.1-0123abcd")
    old.write_run(BASE, metrics(BASE), prov())
    new = ResultStore(tmp_path)
    assert new.keys() == []  # a new core never sees them silently
    assert "v0.0.1-0123abcd" in new.namespaces()
    assert new.for_namespace("v0.0.1-0123abcd").load_run(BASE)["config"]["width"] == 32


# ---------------------------------------------------------------- writing and reading runs
def test_write_and_load_run(store):
    assert store.check_run(BASE) is None
    assert store.write_run(BASE, metrics(BASE), prov(wall_time_s=1.5))
    path = store.run_dir(BASE)
    assert sorted(os.listdir(path)) == ["config.json", "metrics.parquet", "provenance.json"]
    assert not [p for p in os.listdir(store.dir) if p.startswith(".")]  # no temporary directory left
    rec = store.load_run(BASE)
    assert RunConfig.from_dict(rec["config"]) == BASE
    assert list(rec["metrics"].columns) == ["run", "epoch", "metric", "value"]
    assert (rec["metrics"]["run"] == BASE.key()).all()
    assert rec["metrics"]["value"].tolist() == [32.0, 32.5, 33.0]
    assert rec["provenance"]["key"] == BASE.key() and rec["provenance"]["wall_time_s"] == 1.5
    assert store.check_run(BASE) == "ok"


def test_failed_runs_are_stored(store):
    store.write_run(BASE, None, prov("failed", error="boom", failed_epoch=3))
    assert store.check_run(BASE) == "failed"
    runs = store.runs()
    assert (runs.loc[0, "status"] == "failed" and runs.loc[0, "failed_epoch"] == 3
            and runs.loc[0, "error"] == "boom")


def test_second_writer_of_the_same_run_is_discarded(store):
    assert store.write_run(BASE, metrics(BASE), prov())
    other = metrics(BASE).assign(value=-1.0)
    assert not store.write_run(BASE, other, prov())
    assert store.load_run(BASE)["metrics"]["value"].tolist() == [32.0, 32.5, 33.0]
    assert [p for p in os.listdir(store.dir)] == [BASE.key()]


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("damage", ["truncated_parquet", "missing_provenance", "bad_json", "key_mismatch",
                                    "missing_config"])
def test_corrupt_run_is_detected_and_removed(store, damage):
    store.write_run(BASE, metrics(BASE), prov())
    path = store.run_dir(BASE)
    if damage == "truncated_parquet":
        _truncate(path / "metrics.parquet")
    elif damage == "missing_provenance":
        (path / "provenance.json").unlink()
    elif damage == "bad_json":
        (path / "config.json").write_text('{"model": ')
    elif damage == "key_mismatch":
        (path / "config.json").write_text(json.dumps(BASE.replace(width=33).to_dict()))
    elif damage == "missing_config":
        (path / "config.json").unlink()
    assert list(store.iter_runs()) == []  # listing skips it without deleting
    assert path.exists()
    with pytest.raises(KeyError):
        store.load_run(BASE)
    assert store.check_run(BASE, repair=True) is None
    assert not path.exists()
    assert store.write_run(BASE, metrics(BASE), prov())  # and it can be redone
    assert store.check_run(BASE) == "ok"


def test_stale_temporary_directories_are_ignored_and_cleaned(store):
    store.write_run(BASE, metrics(BASE), prov())
    stale = store.dir / f".tmp-{BASE.key()}-dead"
    stale.mkdir()
    (stale / "config.json").write_text("{}")
    assert store.keys() == [BASE.key()]
    assert store.clean_tmp(older_than_s=3600) == 0  # too recent: might belong to a live writer
    os.utime(stale, (0, 0))
    assert store.clean_tmp(older_than_s=3600) == 1
    assert not stale.exists()


# ---------------------------------------------------------------- cached tables
class Counter:
    def __init__(self):
        self.calls = 0

    def __call__(self) -> pd.DataFrame:
        self.calls += 1
        return pd.DataFrame({"x": [1.0, 2.0], "name": ["a", "b"]})


def test_cached_table_computes_once(store):
    compute = Counter()
    first = cached_table("demo", {"n": 2, "qs": [0.1, 0.2]}, compute, store=store, profile="quick")
    again = cached_table("demo", {"qs": [0.1, 0.2], "n": 2}, compute, store=store, profile="quick")
    assert compute.calls == 1
    pd.testing.assert_frame_equal(first, again)
    pd.testing.assert_frame_equal(first, Counter()())
    entry = store.table_dir("demo", {"n": 2, "qs": [0.1, 0.2]}, "quick")
    assert entry.parent == store.dir / "tables" and entry.name.startswith("demo-")
    assert sorted(os.listdir(entry)) == ["params.json", "provenance.json", "table.parquet"]


def test_cached_table_key_covers_params_profile_and_kind(store):
    compute = Counter()
    cached_table("demo", {"n": 2}, compute, store=store, profile="quick")
    cached_table("demo", {"n": 3}, compute, store=store, profile="quick")
    cached_table("demo", {"n": 2}, compute, store=store, profile="paper")
    cached_table("other", {"n": 2}, compute, store=store, profile="quick")
    assert compute.calls == 4


def test_cached_table_profile_defaults_to_environment(store, monkeypatch):
    compute = Counter()
    monkeypatch.setenv("COCORR_PROFILE", "paper")
    cached_table("demo", {}, compute, store=store)
    cached_table("demo", {}, compute, store=store, profile="paper")
    assert compute.calls == 1


def test_cached_table_redoes_a_corrupt_entry(store):
    compute = Counter()
    cached_table("demo", {"n": 2}, compute, store=store, profile="quick")
    _truncate(store.table_dir("demo", {"n": 2}, "quick") / "table.parquet")
    table = cached_table("demo", {"n": 2}, compute, store=store, profile="quick")
    assert compute.calls == 2
    pd.testing.assert_frame_equal(table, Counter()())


def test_cached_table_rejects_bad_kind_and_unhashable_params(store):
    with pytest.raises(ConfigError, match="kind"):
        cached_table("../escape", {}, Counter(), store=store)
    with pytest.raises(ConfigError, match=r"params\.f"):
        cached_table("demo", {"f": object()}, Counter(), store=store)
