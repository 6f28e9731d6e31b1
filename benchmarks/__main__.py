"""python -m benchmarks [--quick] [--json PATH] [--device auto|cpu|cuda]"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

from cocorr_core.ground.devices import device_name, resolve_device

from . import harness
from .data import mnist

TARGETS = {"ensemble_speedup": 2.0, "measure_speedup": 3.0, "train_gemm_fraction": 0.5}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--quick", action="store_true", help="smaller sizes (a few minutes on 2 CPU cores)")
    p.add_argument("--json", type=Path, default=None, help="write the record (one JSON object) here")
    p.add_argument("--device", default="auto")
    args = p.parse_args(argv)
    device = resolve_device(args.device)
    t0 = time.perf_counter()
    n_measure = 500 if args.quick else 2000
    n_train_ens = 4096 if args.quick else 16384

    rec: dict = {"quick": args.quick, "device": device_name(device), "device_type": device.type,
                 "torch_version": torch.__version__, "torch_threads": torch.get_num_threads(),
                 "python": platform.python_version(), "machine": platform.machine(),
                 "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    Xtr, ytr, src = mnist("train", n_train_ens)
    Xte, _, _ = mnist("test", n_measure)
    Xtr, ytr = (2 * Xtr - 1).to(device), ytr.to(device)          # code inputs 2X − 1
    Xte = (2 * Xte - 1).to(device)
    rec["mnist_source"] = src
    if args.quick:
        rec["note"] = (f"--quick: measures on {n_measure} MNIST test images instead of 2000, "
                       f"ensemble training on {n_train_ens} images for 2 epochs")

    stages = [("gemm peak", lambda: harness.gemm_peak(device)),
              ("ensemble training", lambda: harness.ensemble_speedup(Xtr, ytr, device)),
              ("training FLOP rate",
               lambda: harness.train_gemm_fraction(Xtr, ytr, device, rec["gemm_gflops"])),
              ("Jacobian norms", lambda: harness.measure_speedup(Xte, ytr[:1024], Xtr[:1024], device))]
    for name, run in stages:
        t = time.perf_counter()
        rec.update(run())
        print(f"[{time.perf_counter() - t0:6.1f} s] {name} done in {time.perf_counter() - t:.1f} s",
              file=sys.stderr, flush=True)
    rec["targets"] = TARGETS
    rec["targets_met"] = {k: rec[k] >= v for k, v in TARGETS.items()}
    rec["targets_met"]["measure_max_rel_err<=1e-4"] = rec["measure_max_rel_err"] <= 1e-4
    rec["wall_s"] = time.perf_counter() - t0

    rows = [(k, rec[k]) for k in ("device", "torch_version", "gemm_gflops", "ensemble_speedup",
                                  "ensemble_one_by_one_s", "ensemble_batched_s", "train_gemm_fraction",
                                  "train_gflops", "measure_n", "measure_baseline_s", "measure_ours_s",
                                  "measure_speedup", "measure_speedup_warm", "measure_max_rel_err",
                                  "baseline_max_rel_err", "measure_warm_max_rel_err", "wall_s")]
    for k, v in rows:
        print(f"{k:28s} {v:.4g}" if isinstance(v, float) else f"{k:28s} {v}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rec, indent=2, sort_keys=True) + "\n")
        print(f"record written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
