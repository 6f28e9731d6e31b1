"""Sweeps: run a list of RunConfigs through an executor into the result store.

Runs that can train together (same `group_key`) form a group, and a group is one task:
the runner trains it as one batched ensemble and the task writes each run's directory
itself, so workers write in parallel and an interrupted sweep loses at most the groups in
flight. Completed runs are skipped on the next call; failed runs are kept (status
'failed') and rerun only with `retry_failed=True`.

A run failure is about the run (divergence, NaN, a numerical error) and is stored as a failed
run. An environment fault (unreadable data, an unwritable store, a full disk) stops the sweep
at once with `EnvironmentFault`, stores nothing for the runs in flight and keeps every run
already stored. Before any training the store is checked to be writable.

Several writers (processes, Dask workers on a shared filesystem) may run one sweep on one
store: each run is claimed before it is trained (`ResultStore.claim_run`), a writer skips the
runs others hold and then waits for them, taking over claims that turn stale, so every run
is trained once.

Executors: None or "inprocess" (groups one after another in this process), any
`concurrent.futures.Executor` (e.g. a ThreadPoolExecutor, or a Dask client's
`get_executor()`), or "dask" (a `dask.distributed.Client`: `scheduler=ADDRESS` connects to
a running cluster, `workers=N` starts a local one on loopback).
"""
from __future__ import annotations

import concurrent.futures as cf
import math
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..ground.errors import ConfigError, EnvironmentFault, UserError
from .config import RunConfig
from .store import (
    CLAIM_TIMEOUT_S,
    METRIC_COLUMNS,
    ResultStore,
    as_store,
    base_provenance,
    config_columns,
    now_iso,
    tidy_metrics,
)

EXECUTORS = ("inprocess", "dask")
Runner = Callable[[list[RunConfig]], list[Any]]


@dataclass
class SweepSummary:
    """What one `run_sweep` call did; trained + stored + by_others = total distinct configs.

    trained: trained by this call (ok or failed); stored: already stored when the call began
    (ok or failed); by_others: finished by another writer while this call waited. `failures`
    lists every run of the sweep whose stored status is 'failed', new or old; `failed_earlier`
    counts those among them that were stored before this call.
    """

    trained: int = 0
    stored: int = 0
    by_others: int = 0
    failed_now: int = 0
    failed_earlier: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.trained + self.stored + self.by_others

    @property
    def failed(self) -> int:
        """Runs of this sweep whose stored status is 'failed' (new or old)."""
        return len(self.failures)

    def __str__(self) -> str:
        others = f", {self.by_others} by another writer" if self.by_others else ""
        text = (f"{self.total} runs: {self.trained} trained now, {self.stored} already stored{others}, "
                f"{self.failed} failed (of which {self.failed_earlier} stored earlier)")
        for f in self.failures:
            text += f"\n  failed {f['key']} at epoch {f['failed_epoch']}: {f['error']}"
        return text


# ---------------------------------------------------------------- the group task
def _first_nonfinite_epoch(metrics: pd.DataFrame | None) -> tuple[int, str] | None:
    """(epoch, metric) of the first non-finite value, or None."""
    if metrics is None or len(metrics) == 0:
        return None
    values = pd.to_numeric(metrics["value"], errors="coerce").astype("float64")
    bad = metrics[~values.map(math.isfinite)]
    if len(bad) == 0:
        return None
    first = bad.sort_values("epoch").iloc[0]
    return int(first["epoch"]), str(first["metric"])


def _device_name(device: str) -> str | None:
    """The hardware behind `device`; None when the runner never loaded torch (a fake runner)."""
    if "torch" not in sys.modules:
        return None
    try:
        from ..ground.devices import device_name, resolve_device

        return device_name(resolve_device(device))
    except Exception as exc:  # provenance must never fail a run
        return f"unknown ({exc})"


def run_group_task(configs: list[RunConfig], store: ResultStore, runner: Runner,
                   claim_timeout_s: float = CLAIM_TIMEOUT_S) -> list[dict[str, Any]]:
    """Claim, train and store one group. Returns one record per run: key, status ('ok',
    'failed', or 'claimed' when another writer holds or has stored the run), failed_epoch, error.

    Runs where the runner raised, returned no outcome, reported failure, or produced a
    non-finite value are stored with status 'failed' (and the epoch where it happened).
    A `UserError` (bad input) or an OSError (the environment: data, disk, store) stops the
    sweep and stores nothing for this group; the latter is raised as `EnvironmentFault`.
    """
    mine, records = [], []
    for cfg in configs:
        key = cfg.key()
        if store.claim_run(key, claim_timeout_s):
            if store.check_run(cfg, repair=True) is None:
                mine.append(cfg)
                continue
            store.release_run(key)   # stored meanwhile by another writer
        records.append({"key": key, "status": "claimed", "failed_epoch": None, "error": None})
    try:
        return records + _train_and_store(mine, store, runner) if mine else records
    finally:
        for cfg in mine:
            store.release_run(cfg.key())


def _train_and_store(configs: list[RunConfig], store: ResultStore, runner: Runner) -> list[dict[str, Any]]:
    start, t0 = now_iso(), time.perf_counter()
    outcomes: dict[str, Any] = {}
    group_error = None
    try:
        for out in runner(list(configs)) or []:
            outcomes[out.config.key()] = out
    except UserError:
        raise  # bad input (missing data, no GPU): stop the sweep with its message, store nothing
    except OSError as exc:
        raise EnvironmentFault(_environment_message(exc, "while training")) from exc
    except Exception as exc:
        group_error = f"{type(exc).__name__}: {exc} [{_last_frame(exc)}]"
    end, wall = now_iso(), time.perf_counter() - t0
    common = base_provenance()
    records = []
    for cfg in configs:
        key = cfg.key()
        out = outcomes.get(key)
        metrics = getattr(out, "metrics", None)
        status = getattr(out, "status", "failed")
        failed_epoch = getattr(out, "failed_epoch", None)
        error = getattr(out, "error", None)
        if group_error is not None:
            status, error, metrics = "failed", group_error, None
        elif out is None:
            status, error = "failed", "the runner returned no outcome for this run"
        elif status not in ("ok", "failed"):
            status, error = "failed", f"the runner returned status {status!r}"
        try:
            tidy_metrics(metrics, key)
        except (ValueError, TypeError, KeyError) as exc:  # a malformed table fails this run only
            status, error, metrics = "failed", f"bad metrics table: {exc}", None
        nonfinite = _first_nonfinite_epoch(metrics)
        if nonfinite is not None:
            epoch, metric = nonfinite
            if failed_epoch is None or epoch < failed_epoch:
                failed_epoch = epoch
            if status == "ok":
                status, error = "failed", f"non-finite {metric} at epoch {epoch}"
        if status == "failed" and not error:
            error = "the run failed"
        error = error or None  # one spelling for "no error"
        prov = dict(common, seed=cfg.seed, profile=cfg.profile, device=cfg.device,
                    device_name=_device_name(cfg.device), start_time=start, end_time=end,
                    wall_time_s=wall, group_size=len(configs), status=status, error=error,
                    failed_epoch=None if failed_epoch is None else int(failed_epoch))
        try:
            store.write_run(cfg, metrics, prov)
        except OSError as exc:
            message = _environment_message(exc, f"while storing run {key} in {store.dir}")
            raise EnvironmentFault(message) from exc
        records.append({"key": key, "status": status, "failed_epoch": prov["failed_epoch"], "error": error})
    return records


def _environment_message(exc: OSError, when: str) -> str:
    where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
    return (f"{exc.strerror or exc}{where} {when}; nothing was stored for the runs in flight and every "
            "run stored before is kept. Fix the data or the store and run the same command again.")


def _last_frame(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    return f"{os.path.basename(tb[-1].filename)}:{tb[-1].lineno}" if tb else "?"


# ---------------------------------------------------------------- planning
def _unique(configs: Iterable[RunConfig]) -> list[RunConfig]:
    seen: dict[str, RunConfig] = {}
    for cfg in configs:
        if not isinstance(cfg, RunConfig):
            raise ConfigError(f"a sweep takes RunConfig objects; got {type(cfg).__name__}: {cfg!r}")
        seen.setdefault(cfg.key(), cfg)
    return list(seen.values())


def _own_key(cfg: RunConfig) -> str:
    return cfg.key()


def _groups(configs: list[RunConfig], group_key: Callable[[RunConfig], Any]) -> list[list[RunConfig]]:
    groups: dict[Any, list[RunConfig]] = {}
    for cfg in configs:
        groups.setdefault(group_key(cfg), []).append(cfg)
    return list(groups.values())


def _progress_bar(total: int, progress: bool | None):
    from tqdm import tqdm

    enabled = sys.stderr.isatty() if progress is None else bool(progress)
    return tqdm(total=total, unit="run", desc="sweep", disable=not enabled, file=sys.stderr)


# ---------------------------------------------------------------- executors
class _DaskExecutor:
    """A Dask client as an Executor; closes only what it started."""

    def __init__(self, scheduler: str | None, workers: int | None):
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise ConfigError("executor='dask' needs dask and distributed: "
                              "pip install 'cocorr-core[dist]'.") from None
        if scheduler and workers:
            raise ConfigError("give either scheduler=ADDRESS (an existing cluster) or workers=N "
                              "(a local one), not both.")
        self.cluster = None
        if scheduler:
            self.client = Client(scheduler)
        else:
            n = workers or os.cpu_count() or 1
            if not isinstance(n, int) or n < 1:
                raise ConfigError(f"workers={workers!r} must be a positive integer.")
            self.cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                        host="127.0.0.1", dashboard_address=None)
            self.client = Client(self.cluster)
        self.executor = self.client.get_executor()

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def _resolve_executor(executor: Any, scheduler: str | None, workers: int | None):
    """(executor or None for in-process, closer)"""
    if (scheduler or workers) and executor != "dask":
        raise ConfigError("scheduler= and workers= only apply with executor='dask'.")
    if executor is None or executor == "inprocess":
        return None, None
    if executor == "dask":
        dask = _DaskExecutor(scheduler, workers)
        return dask.executor, dask.close
    if isinstance(executor, cf.Executor):
        return executor, None
    if hasattr(executor, "get_executor"):  # a dask.distributed.Client
        return executor.get_executor(), None
    raise ConfigError(
        f"executor={executor!r} is not supported; use 'inprocess', 'dask', or a concurrent.futures.Executor."
    )


# ---------------------------------------------------------------- public API
def run_sweep(configs: Iterable[RunConfig], *, runner: Runner, store: ResultStore | str | None = None,
              executor: Any = None, group_key: Callable[[RunConfig], Any] | None = None,
              progress: bool | None = None, retry_failed: bool = False,
              scheduler: str | None = None, workers: int | None = None,
              claim_timeout_s: float = CLAIM_TIMEOUT_S, poll_s: float = 1.0) -> SweepSummary:
    """Run every config that the store does not hold yet; see the module docstring.

    `runner(configs) -> list[outcome]` trains one group (a paper's `run_group`); each outcome has
    `config`, `metrics` (epoch, metric, value), `status`, `failed_epoch` and `error`. Configs with
    equal `group_key(cfg)` form one group (None: every run alone). A paper's front binds both.
    `progress`: None shows a bar only when stderr is a terminal. Runs claimed by another writer
    are waited for (polling every `poll_s` seconds) and taken over once their claim is stale
    (`claim_timeout_s`). Raises StoreError before any work when the store cannot be written.
    """
    store = as_store(store)
    configs = _unique(configs)
    if not callable(runner):
        raise ConfigError(f"runner={runner!r} must be a callable that trains a group of configs.")
    store.preflight()
    store.clean_tmp()
    summary = SweepSummary()
    todo, failed_before = [], set()
    for cfg in configs:
        state = store.check_run(cfg, repair=True)  # a corrupt directory is removed here
        if state is None:
            todo.append(cfg)
        elif state == "failed" and retry_failed:
            store.remove_run(cfg)
            todo.append(cfg)
        else:
            summary.stored += 1
            if state == "failed":
                failed_before.add(cfg.key())
    if todo:
        pool, close = _resolve_executor(executor, scheduler, workers)
        bar = _progress_bar(len(todo), progress)
        def groups(cfgs: list[RunConfig]) -> list[list[RunConfig]]:
            return _groups(cfgs, group_key or _own_key)

        try:
            waiting = _run_groups(pool, groups(todo), store, runner, summary, bar, claim_timeout_s)
            while waiting:
                stored = [c for c in waiting if store.check_run(c, repair=False) is not None]
                summary.by_others += len(stored)
                bar.update(len(stored))
                waiting = [c for c in waiting if c not in stored]
                free = [c for c in waiting if _claim_free(store, c, claim_timeout_s)]
                if free:
                    waiting = [c for c in waiting if c not in free]
                    waiting += _run_groups(pool, groups(free), store, runner, summary, bar, claim_timeout_s)
                elif waiting:
                    time.sleep(poll_s)
        finally:
            bar.close()
            if close is not None:
                close()
    summary.failures = _failures(store, configs)
    summary.failed_earlier = sum(f["key"] in failed_before for f in summary.failures)
    return summary


def _claim_free(store: ResultStore, cfg: RunConfig, timeout_s: float) -> bool:
    info = store.claim_holder(cfg.key())
    return info is None or store.claim_is_stale(info, timeout_s)


def _run_groups(pool, groups, store, runner, summary, bar, claim_timeout_s) -> list[RunConfig]:
    """Run the groups in this process (pool None) or on the executor; returns the configs that
    another writer holds (to be waited for)."""
    by_key = {c.key(): c for g in groups for c in g}
    claimed: list[RunConfig] = []

    def tally(records: list[dict]) -> None:
        for rec in records:
            if rec["status"] == "claimed":
                claimed.append(by_key[rec["key"]])
                continue
            summary.trained += 1
            summary.failed_now += rec["status"] != "ok"
            bar.update(1)

    if pool is None:
        for group in groups:
            tally(run_group_task(group, store, runner, claim_timeout_s))
        return claimed
    futures = {pool.submit(run_group_task, group, store, runner, claim_timeout_s): group for group in groups}
    try:
        for fut in cf.as_completed(futures):
            group = futures[fut]
            try:
                records = fut.result()
            except (UserError, EnvironmentFault):
                raise
            except Exception as exc:  # the task itself died (worker lost, pickling)
                records = _store_group_failure(group, store, exc)
            tally(records)
    except BaseException:
        for fut in futures:
            fut.cancel()
        raise
    return claimed


def _store_group_failure(group: list[RunConfig], store: ResultStore, exc: BaseException) -> list[dict]:
    """Mark the runs of a group whose task failed outside the runner (those not written by it)."""
    records = []
    now = now_iso()
    error = f"the group task failed: {type(exc).__name__}: {exc}"
    for cfg in group:
        if store.check_run(cfg, repair=True) is None:
            store.write_run(cfg, None, dict(base_provenance(), seed=cfg.seed, profile=cfg.profile,
                                            device=cfg.device, device_name=None, start_time=now, end_time=now,
                                            wall_time_s=None, group_size=len(group), status="failed",
                                            error=error, failed_epoch=None))
        records.append({"key": cfg.key(), "status": store.check_run(cfg, repair=False) or "failed",
                        "failed_epoch": None, "error": error})
    return records


def _failures(store: ResultStore, configs: list[RunConfig]) -> list[dict[str, Any]]:
    failures = []
    for rec in store.iter_runs([c.key() for c in configs], with_metrics=False):
        prov = rec["provenance"]
        if prov["status"] == "failed":
            failures.append({"key": rec["key"], "failed_epoch": prov.get("failed_epoch"),
                             "error": prov.get("error"), "config": rec["config"]})
    return failures


def load_sweep(store_or_root: ResultStore | str | None = None,
               configs: Sequence[RunConfig] | None = None) -> pd.DataFrame:
    """One tidy DataFrame: a row per run x epoch x metric, with the run's config fields,
    `status` and `failed_epoch` joined in (ready for seaborn). `configs` restricts it to
    those runs (missing ones are left out); None loads every run of the store's namespace.
    """
    store = as_store(store_or_root)
    keys = None if configs is None else [c.key() for c in _unique(configs)]
    frames = []
    for rec in store.iter_runs(keys):
        prov = rec["provenance"]
        m = rec["metrics"]
        m = m.assign(status=prov["status"], failed_epoch=prov.get("failed_epoch"))
        for name, value in config_columns(rec["config"]).items():
            m[name] = value
        frames.append(m)
    if not frames:
        return pd.DataFrame(columns=[*METRIC_COLUMNS, "status", "failed_epoch"])
    frames = [f for f in frames if len(f)] or frames[:1]
    df = pd.concat(frames, ignore_index=True)
    df["failed_epoch"] = df["failed_epoch"].astype("Int64")
    return df.sort_values(["run", "epoch", "metric"], kind="stable", ignore_index=True)


def load_or_run(configs: Iterable[RunConfig], *, runner: Runner, store: ResultStore | str | None = None,
                executor: Any = None, group_key: Callable[[RunConfig], Any] | None = None,
                progress: bool | None = None, retry_failed: bool = False,
                scheduler: str | None = None, workers: int | None = None) -> pd.DataFrame:
    """Run what the store is missing, then return `load_sweep` of exactly these configs."""
    configs = _unique(configs)
    store = as_store(store)
    run_sweep(configs, store=store, executor=executor, runner=runner, group_key=group_key, progress=progress,
              retry_failed=retry_failed, scheduler=scheduler, workers=workers)
    return load_sweep(store, configs)
