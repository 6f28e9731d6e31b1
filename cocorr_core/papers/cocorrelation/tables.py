"""Views of the figures' tidy tables (one row per run × epoch × metric): one cell, one epoch,
the last epoch, the accumulated change, means over seeds."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

CELL = ("activation", "width", "q", "seed")


def select(df: pd.DataFrame, metric: str | None = None, **where: Any) -> pd.DataFrame:
    """Rows of successful runs, optionally one metric and column == value filters (floats compared
    with a tolerance, so q=0.25 matches 0.25000000001; a list matches any of its values; None
    skips the filter).

    df: tidy table (run, epoch, metric, value, status + config columns) → its matching rows, same
    columns."""
    out = df
    if "status" in out.columns:
        out = out[out["status"] == "ok"]
    if metric is not None:
        out = out[out["metric"] == metric]
    for col, val in where.items():
        if val is None:
            continue
        if isinstance(val, float):
            out = out[(out[col].astype(float) - val).abs() < 1e-9]
        elif isinstance(val, (list, tuple, set)):
            out = out[out[col].isin(list(val))]
        else:
            out = out[out[col] == val]
    return out


def final(df: pd.DataFrame, metric: str, **where: Any) -> pd.DataFrame:
    """Each run's value of `metric` at its last recorded epoch; `where` as in `select`.

    tidy table (run, epoch, metric, value + config columns) → one row per run: activation, width,
    q, seed, epoch, value."""
    rows = select(df, metric, **where)
    if rows.empty:
        return pd.DataFrame(columns=[*CELL, "epoch", "value"])
    last = rows.sort_values(["run", "epoch"], kind="stable").drop_duplicates("run", keep="last")
    return last[[*CELL, "epoch", "value"]].reset_index(drop=True)


def at_epoch(df: pd.DataFrame, metric: str, epoch: int, **where: Any) -> pd.DataFrame:
    """Each run's value of `metric` at `epoch`; `where` as in `select`.

    tidy table (run, epoch, metric, value + config columns) → one row per run measured at `epoch`:
    activation, width, q, seed, value."""
    rows = select(df, metric, **where)
    return rows[rows["epoch"] == epoch][[*CELL, "value"]].reset_index(drop=True)


def accumulated_change(df: pd.DataFrame, start: int = 1, metric: str = "cocorrelation",
                       **where: Any) -> pd.DataFrame:
    """ϱ(last epoch) − ϱ(start) per run (the paper's Fig. 6 uses start = 1; start = 0 is initialisation).

    tidy table (run, epoch, metric, value + config columns) → one row per run: activation, width,
    q, seed, epoch (the last), value_last, value_start, delta."""
    last = final(df, metric, **where)
    first = at_epoch(df, metric, start, **where)
    merged = last.merge(first, on=list(CELL), suffixes=("_last", "_start"))
    merged["delta"] = merged["value_last"] - merged["value_start"]
    return merged


def mean_over_seeds(table: pd.DataFrame, value: str = "value",
                    by: Sequence[str] = ("activation", "width", "q")) -> pd.DataFrame:
    """Mean of `value` over seeds within each cell `by`.

    table: one row per run with the `by` columns and `value` (e.g. from `final`) → one row per
    cell: the `by` columns and the mean `value`."""
    return table.groupby(list(by), as_index=False)[value].mean()


def accuracy_reached(df: pd.DataFrame) -> pd.DataFrame:
    """The clean test accuracy reached at the last epoch, mean ± sd over seeds, as a small table:
    rows (activation, q), columns width, cells 'mean ± sd'."""
    acc = final(df, "test_accuracy")
    if acc.empty:
        return pd.DataFrame()
    stats = acc.groupby(["activation", "q", "width"])["value"].agg(["mean", "std"]).reset_index()
    stats["text"] = [f"{m:.3f} ± {s:.3f}" if s == s else f"{m:.3f}"
                     for m, s in zip(stats["mean"], stats["std"])]
    table = stats.pivot(index=["activation", "q"], columns="width", values="text")
    table.columns = [f"m = {int(w)}" for w in table.columns]
    table.index = [f"{a}, q = {q:+.2f}" for a, q in table.index]
    return table
