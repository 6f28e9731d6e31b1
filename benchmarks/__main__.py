"""python -m benchmarks [--quick] [--json PATH] [--device auto|cpu|cuda] [--profile quick] [--only STAGES]"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

from cocorr_core.ground.devices import device_name, resolve_device
from cocorr_core.ground.errors import ConfigError
from cocorr_core.papers.cocorrelation.settings import get_profile

from . import harness, sweep
from .data import mnist

TARGETS = {"ensemble_speedup": 2.0, "measure_speedup": 1.0, "measure_speedup_at_baseline_error": 3.0,
           "train_gemm_fraction": 0.5, "sweep_gemm_fraction": 0.4}
SUMMARY = ("device", "torch_version", "load_average_start", "load_average_end", "gemm_gflops",
           "ensemble_speedup", "ensemble_speedup_min", "train_gemm_fraction", "sweep_gemm_fraction",
           "sweep_estimated_s", "measure_n", "measure_baseline_s", "measure_ours_s", "measure_speedup",
           "measure_speedup_at_baseline_error", "measure_speedup_trained",
           "measure_speedup_at_baseline_error_trained", "measure_speedup_warm", "measure_max_rel_err",
           "baseline_max_rel_err", "wall_s")


def _load() -> list[float]:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return []


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--quick", action="store_true", help="smaller sizes (a few minutes on 2 CPU cores)")
    p.add_argument("--json", type=Path, default=None, help="write the record (one JSON object) here")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (cuda fails clearly without a GPU)")
    p.add_argument("--profile", default="quick", help="the sweep profile whose grid is benchmarked")
    p.add_argument("--only", default=None,
                   help="comma-separated stages to run (gemm,ensemble,train,sweep,measure); default all")
    args = p.parse_args(argv)
    try:
        device = resolve_device(args.device)
        prof = get_profile(args.profile)
    except ConfigError as err:
        print(f"python -m benchmarks: {err}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    n_measure = 500 if args.quick else 2000
    n_train_ens = 4096 if args.quick else 16384

    rec: dict = {"quick": args.quick, "device": device_name(device), "device_type": device.type,
                 "torch_version": torch.__version__, "torch_threads": torch.get_num_threads(),
                 "python": platform.python_version(), "machine": platform.machine(),
                 "cpu_count": os.cpu_count(), "load_average_start": _load(),
                 "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    Xtr, ytr, src = mnist("train", n_train_ens)
    Xte, _, _ = mnist("test", n_measure)
    Xtr, ytr = (2 * Xtr - 1).to(device), ytr.to(device)          # code inputs 2X − 1
    Xte = (2 * Xte - 1).to(device)
    rec["mnist_source"] = src
    if args.quick:
        rec["note"] = (f"--quick: measures on {n_measure} MNIST test images instead of 2000, "
                       f"ensemble training on {n_train_ens} images for 2 epochs")
    members = len(prof.qs) * prof.seeds
    stages = {
        "gemm": ("gemm peak", lambda: harness.gemm_peak(device)),
        "ensemble": ("ensemble training", lambda: {
            **harness.ensemble_speedup(Xtr, ytr, device),
            **harness.ensemble_speedup_by_width(Xtr, ytr, device, prof.widths, members)}),
        "train": ("training FLOP rate",
                  lambda: harness.train_gemm_fraction(Xtr, ytr, device, rec["gemm_gflops"])),
        "sweep": (f"{prof.name} sweep",
                  lambda: sweep.sweep_gemm_fraction(device, rec["gemm_gflops"], prof.name)),
        "measure": ("Jacobian norms", lambda: harness.measure_speedup(Xte, ytr[:1024], Xtr[:1024], device)),
    }
    only = ["gemm", *[s for s in args.only.split(",") if s != "gemm"]] if args.only else list(stages)
    for key in only:
        name, run = stages[key]
        t = time.perf_counter()
        rec.update(run())
        print(f"[{time.perf_counter() - t0:6.1f} s] {name} done in {time.perf_counter() - t:.1f} s",
              file=sys.stderr, flush=True)
    rec["load_average_end"] = _load()
    rec["targets"] = TARGETS
    rec["targets_met"] = {k: rec[k] >= v for k, v in TARGETS.items() if k in rec}
    if "measure_max_rel_err" in rec:
        rec["targets_met"]["measure_max_rel_err<=1e-4"] = rec["measure_max_rel_err"] <= 1e-4
    rec["wall_s"] = time.perf_counter() - t0

    for k in SUMMARY:
        if k in rec:
            v = rec[k]
            print(f"{k:42s} {v:.4g}" if isinstance(v, float) else f"{k:42s} {v}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rec, indent=2, sort_keys=True) + "\n")
        print(f"record written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
