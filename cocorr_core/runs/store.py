"""The result store: one directory per run, written atomically, with provenance.

Layout::

    <root>/<namespace>/<run_key>/{config.json, metrics.parquet, provenance.json}
    <root>/<namespace>/tables/<kind>-<hash>/{params.json, table.parquet, provenance.json}

`namespace` is ``v<version>-<shared>-<paper>-<paper fingerprint>``: the fingerprint of the
shared layers plus that of the one paper whose results these are (``v<version>-<shared>``
for results that belong to no paper). A changed shared layer or a changed paper writes into
a fresh namespace, so results computed by older code are never reused silently (they stay
readable through `ResultStore.for_namespace`), while editing one paper keeps the others'.

Every entry is written into a hidden ``.tmp-*`` directory, fsynced, and renamed into place
in one step, so a reader sees either nothing or a complete entry, and many workers can
write at once. Its provenance, written last, holds the SHA-256 of every other file of the
entry. An entry that is incomplete, unreadable or whose files do not match their checksums
(a file deleted, truncated, flipped or rewritten by hand) is detected when it is next
checked, removed, and redone.

Writers that share a store claim a run before training it: an atomic lock file
``<namespace>/.claims/<run_key>.lock`` holding the host, process id and time. Another writer
skips a claimed run and waits for it, or takes the claim over once it is stale (its process
is gone on this host, or it is older than `CLAIM_TIMEOUT_S`).
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import importlib.metadata
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from .. import __version__
from ..ground.errors import ConfigError, UserError
from ..ground.fingerprint import paper_fingerprint, shared_fingerprint
from ..ground.paths import check_writable, default_root
from ..ground.profiles import profile_name
from .config import RunConfig

METRIC_COLUMNS = ("run", "epoch", "metric", "value")
STATUSES = ("ok", "failed")
TABLES_DIR = "tables"
_KIND_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.]*$")
_STALE_TMP_S = 3600.0  # a temporary directory only lives while files are written (seconds)
CLAIMS_DIR = ".claims"
CLAIM_TIMEOUT_S = 12 * 3600.0  # a claim older than this is stale, whoever holds it (seconds)
_NAMESPACE_RE = re.compile(r"^v\d+\.\d+\.\d+-[0-9a-f]+(-[a-z0-9_]+-[0-9a-f]+)?$")


def is_run_namespace(name: str) -> bool:
    """True for a namespace this package writes (``v<version>-<fingerprint>[-<paper>-<fp>]``)."""
    return bool(_NAMESPACE_RE.match(name))


def check_namespace(name: str) -> str:
    """`name` if it is a plain namespace name; a ConfigError for paths and hidden names."""
    if not isinstance(name, str) or not name or "/" in name or "\\" in name or name.startswith(".") \
            or name in ("..", "."):
        raise ConfigError(f"namespace={name!r} must be a plain directory name such as "
                          "'v0.2.0-<fingerprint>-cocorrelation-<fingerprint>' (see `cocorr sweep show`).")
    return name


def _sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _sha256_file(path: Path) -> str:
    return _sha256_bytes(path.read_bytes())


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def current_namespace(paper: str | None = None) -> str:
    """Namespace of results written by this version of the shared layers and of `paper`
    (the name of a subpackage of `cocorr_core.papers`, or None for results of no paper)."""
    base = f"v{__version__}-{shared_fingerprint()}"
    return base if paper is None else f"{base}-{paper}-{paper_fingerprint(paper)}"


@lru_cache(maxsize=1)
def git_commit() -> str | None:
    """Commit of the source checkout the core runs from, or None (installed copy, no git)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
            capture_output=True, text=True, timeout=10, check=True,
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _torch_version() -> str | None:
    """torch's version, without importing torch when the runner did not (a fake runner in tests)."""
    torch = sys.modules.get("torch")
    if torch is not None:
        return torch.__version__
    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return None


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


def base_provenance() -> dict[str, Any]:
    """What every stored entry records about the code and machine that produced it."""
    return {
        "package_version": __version__,
        "shared_fingerprint": shared_fingerprint(),
        "git_commit": git_commit(),
        "torch_version": _torch_version(),
        "python_version": platform.python_version(),
        "host": platform.node(),
    }


# ---------------------------------------------------------------- file helpers
def _write_bytes(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _write_json(path: Path, obj: Any) -> None:
    _write_bytes(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default).encode())


def _write_parquet(path: Path, df: pd.DataFrame) -> None:
    with open(path, "wb") as f:
        df.to_parquet(f, index=False)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _json_default(obj: Any) -> Any:
    """Make numpy / torch scalars and paths JSON-ready."""
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item") and callable(obj.item):
        try:
            return obj.item()
        except (ValueError, RuntimeError):
            pass
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def _remove_file(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def _remove_dir(path: Path) -> None:
    """Remove a directory so that it never looks half-deleted: rename it away first."""
    trash = path.parent / f".trash-{path.name}-{uuid.uuid4().hex[:8]}"
    try:
        os.rename(path, trash)
    except FileNotFoundError:
        return
    shutil.rmtree(trash, ignore_errors=True)


def _publish(tmp: Path, final: Path) -> bool:
    """Rename a finished temporary directory into place. False if another writer won."""
    _fsync_dir(tmp)
    try:
        os.rename(tmp, final)
    except OSError:
        # The final name appeared meanwhile (another worker finished the same entry first).
        shutil.rmtree(tmp, ignore_errors=True)
        return False
    _fsync_dir(final.parent)
    return True


def _canonical(obj: Any, where: str) -> Any:
    """A JSON-ready, order-independent copy of cache parameters (so equal params hash equal)."""
    if isinstance(obj, RunConfig):
        return obj.to_dict()
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        return repr(obj)  # exact; also accepts inf
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, dict):
        return {str(k): _canonical(v, f"{where}.{k}")
                for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", 0) == 0:
        return _canonical(obj.item(), where)
    raise ConfigError(
        f"cache parameter {where} has type {type(obj).__name__}, which has no stable hash; "
        "pass numbers, strings, booleans, lists, dicts or RunConfig objects."
    )


class CorruptEntry(Exception):
    """A stored entry is incomplete or unreadable (internal; the entry is redone)."""


def _check_sums(path: Path, prov: dict, raw: dict[str, bytes], required: bool) -> None:
    """Raise CorruptEntry unless every file in `raw` matches its SHA-256 in the provenance.
    Entries of older namespaces written before checksums existed pass when not `required`."""
    sums = prov.get("sha256")
    if sums is None and not required:
        return
    if not isinstance(sums, dict):
        raise CorruptEntry(f"{path}: provenance holds no checksums")
    for name, data in raw.items():
        if sums.get(name) != _sha256_bytes(data):
            raise CorruptEntry(f"{path}: {name} does not match its SHA-256 in provenance.json")


# ---------------------------------------------------------------- the store
class ResultStore:
    """Results on disk, one directory per run (see the module docstring for the layout).

    `root`: the argument, else $COCORR_RESULTS, else ~/.cache/cocorr/results.
    `namespace`: defaults to `current_namespace(paper)`; pass another to read older results.
    `paper`: the paper whose results these are (its subpackage name under `cocorr_core.papers`).
    """

    def __init__(self, root: str | os.PathLike | None = None, namespace: str | None = None, *,
                 paper: str | None = None):
        self.root = Path(root).expanduser() if root is not None else default_root()
        self.paper = paper
        self.namespace = check_namespace(namespace or current_namespace(paper))

    def __repr__(self) -> str:
        return f"ResultStore(root={str(self.root)!r}, namespace={self.namespace!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ResultStore) and (self.root, self.namespace) == (other.root, other.namespace)

    def __hash__(self) -> int:
        return hash((self.root, self.namespace))

    @property
    def dir(self) -> Path:
        return self.root / self.namespace

    @property
    def is_current(self) -> bool:
        return self.namespace == current_namespace(self.paper)

    def namespaces(self) -> list[str]:
        """Every run namespace under the root (older cores' results included); other folders
        (figures, anything else) are left out."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and is_run_namespace(p.name))

    def preflight(self) -> None:
        """Check, before any work, that this store can be written: create its folder and a probe
        file in it, then remove the probe. Raises StoreError naming the folder and the fix."""
        check_writable(self.dir)

    def for_namespace(self, namespace: str) -> ResultStore:
        return ResultStore(self.root, namespace, paper=self.paper)

    # ------------------------------------------------------------ runs
    def run_dir(self, config_or_key: RunConfig | str) -> Path:
        key = config_or_key.key() if isinstance(config_or_key, RunConfig) else str(config_or_key)
        return self.dir / key

    def keys(self) -> list[str]:
        """Names of the run directories present (not yet checked)."""
        if not self.dir.is_dir():
            return []
        return sorted(
            p.name for p in self.dir.iterdir()
            if p.is_dir() and not p.name.startswith(".") and p.name != TABLES_DIR
        )

    def _read_run(self, key: str, with_metrics: bool, strict: bool) -> dict[str, Any]:
        """Read and check one run directory; raise CorruptEntry when anything is wrong."""
        path = self.run_dir(key)
        try:
            prov = json.loads((path / "provenance.json").read_text())
            raw = {name: (path / name).read_bytes() for name in ("config.json", "metrics.parquet")}
        except Exception as exc:  # missing file, bad JSON, ...
            raise CorruptEntry(f"{path}: {type(exc).__name__}: {exc}") from None
        if not isinstance(prov, dict):
            raise CorruptEntry(f"{path}: provenance.json is not an object")
        _check_sums(path, prov, raw, required=strict)
        try:
            config = json.loads(raw["config.json"])
            metrics = pd.read_parquet(path / "metrics.parquet")
        except Exception as exc:  # truncated parquet, bad JSON, ...
            raise CorruptEntry(f"{path}: {type(exc).__name__}: {exc}") from None
        if not isinstance(config, dict):
            raise CorruptEntry(f"{path}: config.json is not an object")
        if prov.get("key") != key or prov.get("status") not in STATUSES:
            raise CorruptEntry(f"{path}: provenance key/status do not match the directory")
        try:
            config_key = RunConfig.from_dict(config).key()
        except (UserError, TypeError) as exc:
            # Only an older core's results may hold configs this core cannot read.
            if strict:
                raise CorruptEntry(f"{path}: config.json is not a valid RunConfig ({exc})") from None
            config_key = key
        if config_key != key:
            raise CorruptEntry(f"{path}: config.json hashes to another key")
        if list(metrics.columns[:4]) != list(METRIC_COLUMNS) or not (metrics["run"] == key).all():
            raise CorruptEntry(f"{path}: metrics.parquet has unexpected columns or run ids")
        record = {"key": key, "config": config, "provenance": prov}
        if with_metrics:
            record["metrics"] = metrics
        return record

    def check_run(self, config_or_key: RunConfig | str, *, repair: bool = True) -> str | None:
        """'ok' or 'failed' for a complete stored run, None when absent.

        A corrupt directory counts as absent and, with `repair`, is removed so it can be redone.
        """
        key = self.run_dir(config_or_key).name
        if not self.run_dir(key).is_dir():
            return None
        try:
            return self._read_run(key, with_metrics=False,
                                  strict=self.is_current or repair)["provenance"]["status"]
        except CorruptEntry:
            if repair:
                _remove_dir(self.run_dir(key))
            return None

    def load_run(self, config_or_key: RunConfig | str) -> dict[str, Any]:
        """{'key', 'config' (dict), 'provenance' (dict), 'metrics' (DataFrame)}; KeyError if
        absent/corrupt."""
        key = self.run_dir(config_or_key).name
        try:
            return self._read_run(key, with_metrics=True, strict=self.is_current)
        except CorruptEntry as exc:
            raise KeyError(f"no complete run {key} in {self.dir} ({exc})") from None

    def iter_runs(self, keys: Iterable[str] | None = None, *, with_metrics: bool = True):
        """Complete runs (corrupt or missing ones are skipped, never deleted here)."""
        for key in (self.keys() if keys is None else keys):
            if not self.run_dir(key).is_dir():
                continue
            try:
                yield self._read_run(key, with_metrics=with_metrics, strict=self.is_current)
            except CorruptEntry:
                continue

    def damaged(self) -> list[str]:
        """Keys of run folders that are incomplete, unreadable or fail their checksums (not removed)."""
        bad = []
        for key in self.keys():
            try:
                self._read_run(key, with_metrics=True, strict=self.is_current)
            except CorruptEntry:
                bad.append(key)
        return bad

    def write_run(self, config: RunConfig, metrics: pd.DataFrame, provenance: dict[str, Any]) -> bool:
        """Store one run atomically. Returns False (and keeps the other copy) if it was already there."""
        key = config.key()
        prov = dict(provenance, key=key)
        if prov.get("status") not in STATUSES:
            raise ValueError(f"provenance status {prov.get('status')!r} is not one of {STATUSES}")
        table = tidy_metrics(metrics, key)
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / f".tmp-{key}-{uuid.uuid4().hex}"
        tmp.mkdir()
        try:
            _write_json(tmp / "config.json", config.to_dict())
            _write_parquet(tmp / "metrics.parquet", table)
            prov["sha256"] = {name: _sha256_file(tmp / name) for name in ("config.json", "metrics.parquet")}
            _write_json(tmp / "provenance.json", prov)  # last: it certifies the files above
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return _publish(tmp, self.run_dir(key))

    def remove_run(self, config_or_key: RunConfig | str) -> None:
        _remove_dir(self.run_dir(config_or_key))

    # ------------------------------------------------------------ claims of concurrent writers
    def _claim_path(self, key: str) -> Path:
        return self.dir / CLAIMS_DIR / f"{key}.lock"

    def claim_holder(self, key: str) -> dict[str, Any] | None:
        """{host, pid, time} of the writer that holds the claim on run `key`, or None."""
        try:
            info = json.loads(self._claim_path(key).read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {"host": "?", "pid": -1, "time": 0.0}   # half-written: judged by its age below
        return info if isinstance(info, dict) else {"host": "?", "pid": -1, "time": 0.0}

    def claim_is_stale(self, info: dict[str, Any], timeout_s: float = CLAIM_TIMEOUT_S) -> bool:
        """A claim is stale when its process is gone on this host or it is older than `timeout_s`."""
        age = time.time() - float(info.get("time") or 0.0)
        if age > timeout_s:
            return True
        pid = int(info.get("pid") or -1)
        return info.get("host") == platform.node() and pid > 0 and not _pid_alive(pid)

    def claim_run(self, key: str, timeout_s: float = CLAIM_TIMEOUT_S) -> bool:
        """Claim run `key` for this process with an atomic lock file. True when claimed (also when
        a stale claim was taken over); False when another live writer holds it."""
        path = self._claim_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                info = self.claim_holder(key)
                if info is not None and not self.claim_is_stale(info, timeout_s):
                    return False
                _remove_file(path)   # stale (or just released): take it over
                continue
            with os.fdopen(fd, "w") as f:
                json.dump({"host": platform.node(), "pid": os.getpid(), "time": time.time()}, f)
            return True
        return False

    def release_run(self, key: str) -> None:
        """Remove this process's claim on run `key` (a claim held by another writer is kept)."""
        info = self.claim_holder(key)
        if info is not None and info.get("pid") == os.getpid() and info.get("host") == platform.node():
            _remove_file(self._claim_path(key))

    def runs(self) -> pd.DataFrame:
        """One row per complete run: key, status, failed_epoch, error, wall_time_s, start_time,
        config fields."""
        rows = []
        for rec in self.iter_runs(with_metrics=False):
            prov = rec["provenance"]
            row = {
                "key": rec["key"], "status": prov.get("status"), "failed_epoch": prov.get("failed_epoch"),
                "error": prov.get("error"), "wall_time_s": prov.get("wall_time_s"),
                "start_time": prov.get("start_time"),
            }
            row.update(config_columns(rec["config"]))
            rows.append(row)
        df = pd.DataFrame(rows, columns=None if rows else ["key", "status", "failed_epoch", "error",
                                                           "wall_time_s", "start_time"])
        if len(df):
            df["failed_epoch"] = df["failed_epoch"].astype("Int64")
        return df

    def clean_tmp(self, older_than_s: float = _STALE_TMP_S) -> int:
        """Delete temporary directories left by killed writers. Returns how many were removed."""
        removed = 0
        for parent in (self.dir, self.dir / TABLES_DIR):
            if not parent.is_dir():
                continue
            for p in parent.iterdir():
                if p.name.startswith((".tmp-", ".trash-")):
                    try:
                        if time.time() - p.stat().st_mtime > older_than_s:
                            shutil.rmtree(p, ignore_errors=True)
                            removed += 1
                    except FileNotFoundError:
                        pass
        return removed

    # ------------------------------------------------------------ generic tables
    def table_dir(self, kind: str, params: dict[str, Any], profile: str | None = None) -> Path:
        if not isinstance(kind, str) or not _KIND_RE.match(kind):
            raise ConfigError(f"cache kind={kind!r} must be letters, digits, '_' or '.', e.g. 'resnet_cut'.")
        ident = {"kind": kind, "params": _canonical(params, "params"), "profile": profile_name(profile)}
        digest = hashlib.sha256(json.dumps(ident, sort_keys=True,
                                           separators=(",", ":")).encode()).hexdigest()[:16]
        return self.dir / TABLES_DIR / f"{kind}-{digest}"

    def _read_table(self, path: Path) -> pd.DataFrame:
        try:
            prov = json.loads((path / "provenance.json").read_text())
            raw = {name: (path / name).read_bytes() for name in ("params.json", "table.parquet")}
        except Exception as exc:
            raise CorruptEntry(f"{path}: {type(exc).__name__}: {exc}") from None
        if not isinstance(prov, dict) or prov.get("entry") != path.name:
            raise CorruptEntry(f"{path}: provenance does not name this entry")
        _check_sums(path, prov, raw, required=self.is_current)
        try:
            json.loads(raw["params.json"])
            table = pd.read_parquet(path / "table.parquet")
        except Exception as exc:
            raise CorruptEntry(f"{path}: {type(exc).__name__}: {exc}") from None
        return table

    def cached_table(self, kind: str, params: dict[str, Any], compute: Callable[[], pd.DataFrame], *,
                     profile: str | None = None) -> pd.DataFrame:
        """See the module-level `cached_table`."""
        path = self.table_dir(kind, params, profile)
        if path.is_dir():
            try:
                return self._read_table(path)
            except CorruptEntry:
                _remove_dir(path)
        start, t0 = now_iso(), time.perf_counter()
        table = compute()
        if not isinstance(table, pd.DataFrame):
            raise TypeError(f"cached_table({kind!r}): compute() returned {type(table).__name__}, "
                            "not a DataFrame")
        prov = dict(base_provenance(), entry=path.name, kind=kind, profile=profile_name(profile),
                    start_time=start, end_time=now_iso(), wall_time_s=time.perf_counter() - t0)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".tmp-{path.name}-{uuid.uuid4().hex}"
        tmp.mkdir()
        try:
            _write_json(tmp / "params.json", {"kind": kind, "params": _canonical(params, "params"),
                                              "profile": profile_name(profile)})
            # Keep the index only when it carries information.
            keep_index = not isinstance(table.index, pd.RangeIndex)
            with open(tmp / "table.parquet", "wb") as f:
                table.to_parquet(f, index=keep_index)
                f.flush()
                os.fsync(f.fileno())
            prov["sha256"] = {name: _sha256_file(tmp / name) for name in ("params.json", "table.parquet")}
            _write_json(tmp / "provenance.json", prov)  # last: it certifies the files above
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _publish(tmp, path)
        # Read back what is stored, so the first call and every later call return the same table.
        return self._read_table(path)


def as_store(store: ResultStore | str | os.PathLike | None, paper: str | None = None) -> ResultStore:
    """Accept a ResultStore, a root directory, or None (the default root), for `paper`'s results."""
    return store if isinstance(store, ResultStore) else ResultStore(store, paper=paper)


def cached_table(kind: str, params: dict[str, Any], compute: Callable[[], pd.DataFrame], *,
                 store: ResultStore | str | os.PathLike | None = None, profile: str | None = None,
                 paper: str | None = None) -> pd.DataFrame:
    """Memoise any DataFrame in the store.

    The entry is keyed by `kind`, `params` (JSON-like values; dict order does not matter),
    the profile (argument, else $COCORR_PROFILE, else 'quick') and the store namespace
    (package version, shared-layer fingerprint and `paper`'s fingerprint). The first call runs
    `compute()`; later calls read the stored table. A corrupt entry is recomputed.
    """
    return as_store(store, paper).cached_table(kind, params, compute, profile=profile)


def tidy_metrics(metrics: pd.DataFrame | None, key: str) -> pd.DataFrame:
    """A runner's metrics (epoch, metric, value, ...) as the stored table (run, epoch, metric, value, ...)."""
    if metrics is None or len(metrics) == 0:
        extra = [] if metrics is None else [c for c in metrics.columns if c not in METRIC_COLUMNS]
        table = pd.DataFrame({"run": pd.Series(dtype=str), "epoch": pd.Series(dtype="int64"),
                              "metric": pd.Series(dtype=str), "value": pd.Series(dtype="float64")})
        for c in extra:
            table[c] = pd.Series(dtype=metrics[c].dtype)
        return table
    missing = [c for c in ("epoch", "metric", "value") if c not in metrics.columns]
    if missing:
        raise ValueError(f"run {key}: metrics table lacks column(s) {missing}; it needs epoch, metric, value")
    extra = [c for c in metrics.columns if c not in METRIC_COLUMNS]
    table = pd.DataFrame({
        "run": key,
        "epoch": metrics["epoch"].astype("int64").to_numpy(),
        "metric": metrics["metric"].astype(str).to_numpy(),
        "value": metrics["value"].astype("float64").to_numpy(),
    })
    for c in extra:
        table[c] = metrics[c].to_numpy()
    return table


def config_columns(config: dict[str, Any]) -> dict[str, Any]:
    """Config fields as flat table columns, in RunConfig's field order (tuples become 'a,b')."""
    order = [f.name for f in dataclasses.fields(RunConfig)]
    names = [n for n in order if n in config] + sorted(n for n in config if n not in order)
    return {k: (",".join(map(str, config[k])) if isinstance(config[k], (list, tuple)) else config[k])
            for k in names}
