"""How close the co-correlation paper's whole quick-profile sweep comes to the machine's GEMM peak.

The grid (activation × width groups, each an ensemble of q × seed members) is read from the
profile, so the harness follows the profile when it changes. Running the whole sweep would take
as long as the sweep itself, so every group runs a representative slice with the sweep's own
functions (`train_ensemble`, `measure_two_layer`, the final attacks, the data loader), and each
phase is scaled to the full sweep by counts: training by SGD steps, measures by measured epochs,
attacks by attacked images. Matmul FLOPs come from the PyTorch profiler's FLOP count (training: counted
in closed form, 4·m·(d + c) per member and training image) in a separate pass, so counting never slows
the timed pass down.
"""
from __future__ import annotations

import math

import torch

from cocorr_core.models import TwoLayerEnsemble
from cocorr_core.papers.cocorrelation import experiments as ex
from cocorr_core.papers.cocorrelation.settings import get_profile
from cocorr_core.training import train_ensemble

from .harness import timed

SLICE_STEPS = 8        # SGD steps per timed training slice
ATTACK_SLICE = 32      # images per timed attack slice


def _matmul_flops(fn) -> int:
    """Matmul FLOPs of fn() by the profiler's FLOP count (PyTorch's FlopCounterMode cannot follow
    the autograd.grad calls inside AutoAttack)."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], with_flops=True) as prof:
        fn()
    return int(sum(evt.flops or 0 for evt in prof.key_averages()))


def _group_slice(cfgs, device) -> dict:
    """Time (and count) one group's data loading, training steps, one measurement and its attacks."""
    cfg0 = cfgs[0]
    dtype = torch.float32
    t_data, (Xtr, ytr, Xte, yte, Xpix) = timed(lambda: ex._two_layer_data(cfg0, device, dtype), device)
    model = TwoLayerEnsemble.init(Xtr.shape[1], cfg0.width, [c.q for c in cfgs], [c.seed for c in cfgs],
                                  head=cfg0.head, activation=cfg0.activation, dtype=dtype, device=device)
    K, c, d, m, b = model.n_models, model.n_outputs, model.in_dim, model.width, cfg0.batch_size
    n_slice = min(Xtr.shape[0], SLICE_STEPS * b)
    steps_slice = math.ceil(n_slice / b)
    Xs, ys = Xtr[:n_slice], ytr[:n_slice]

    def train(epochs):
        return train_ensemble(model, Xs, ys, optimizer=cfg0.optimizer, loss=cfg0.loss, lr=cfg0.lr,
                              batch_size=b, epochs=epochs, shuffle=False, seed=cfg0.seed)

    train(1)                                                          # warm-up
    t1, _ = timed(lambda: train(1), device)
    t3, _ = timed(lambda: train(3), device)
    step_s = max(t3 - t1, 1e-9) / (2 * steps_slice)                   # the per-call overhead cancels
    steps_total = cfg0.epochs * math.ceil(cfg0.n_train / b)
    train_flops = cfg0.epochs * cfg0.n_train * 4 * m * (d + c) * K

    def measure():
        try:                      # the Jacobian measures average over the profile's n_test images
            return ex.measure_two_layer(model, Xte, yte, cfg0.n_test)
        except TypeError:
            return ex.measure_two_layer(model, Xte, yte)

    measure()
    t_meas, _ = timed(measure, device)
    measured = getattr(ex, "measure_epochs", None) or ex._measure_epochs
    n_meas = len(measured(cfg0))

    n_att = min(ATTACK_SLICE, len(yte))
    small = [cf.replace(attack_n=min(cf.attack_n, n_att)) for cf in cfgs]
    alive = [True] * K
    attack = lambda: ex._attack_metrics(model, small, Xpix[:n_att], yte[:n_att], alive)  # noqa: E731
    t_att, _ = timed(attack, device) if cfg0.attack_eps > 0 and Xpix is not None else (0.0, None)
    n_pgd = min(len(yte), max([cf.attack_n for cf in cfgs] + [min(len(yte), 1000)]))
    att_scale = n_pgd / n_att
    flops_meas = _matmul_flops(measure)
    flops_att = _matmul_flops(attack) if t_att > 0 else 0
    return {"activation": cfg0.activation, "width": m, "members": K,
            "data_s": t_data, "train_s": step_s * steps_total, "measure_s": t_meas * n_meas,
            "attack_s": t_att * att_scale,
            "train_flops": train_flops, "measure_flops": flops_meas * n_meas,
            "attack_flops": flops_att * att_scale, "steps": steps_total, "measured_epochs": n_meas,
            "step_ms": 1e3 * step_s, "step_gflop": train_flops / steps_total / 1e9}


def sweep_gemm_fraction(device: torch.device, peak_gflops: float, profile: str = "quick") -> dict:
    """Matmul FLOPs of the whole grid of `profile` over (its wall time × the GEMM peak), by phase."""
    prof = get_profile(profile)
    groups = ex.group_configs(ex.code_grid(prof, device=str(device)))
    rows = [_group_slice(g, device) for g in groups]
    phases = ("data", "train", "measure", "attack")
    total_s = sum(r[f"{p}_s"] for r in rows for p in phases)
    total_flops = sum(r[f"{p}_flops"] for r in rows for p in phases if p != "data")
    breakdown = []
    for p in phases:
        secs = sum(r[f"{p}_s"] for r in rows)
        flops = sum(r.get(f"{p}_flops", 0) for r in rows)
        breakdown.append({"phase": p, "seconds": secs, "share": secs / total_s, "gflop": flops / 1e9,
                          "gflops_rate": flops / 1e9 / secs if secs else 0.0,
                          "fraction_of_peak": flops / 1e9 / secs / peak_gflops if secs else 0.0})
    return {"sweep_gemm_fraction": total_flops / 1e9 / total_s / peak_gflops,
            "sweep_profile": prof.name, "sweep_estimated_s": total_s, "sweep_gflop": total_flops / 1e9,
            "sweep_groups": len(groups), "sweep_members": sum(r["members"] for r in rows),
            "sweep_widths": list(prof.widths), "sweep_breakdown": breakdown, "sweep_by_group": rows,
            "sweep_method": (f"each group timed on a slice ({SLICE_STEPS} SGD steps, one measurement, "
                             f"attacks on {ATTACK_SLICE} images) and scaled by steps, measured epochs "
                             "and attacked images; FLOPs counted in a separate pass")}
