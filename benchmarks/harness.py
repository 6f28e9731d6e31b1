"""The individual benchmarks. Each returns a dict of numbers that goes into the JSON record."""
from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from cocorr_core.measures import authors_power_iteration, two_layer_norms
from cocorr_core.models import TwoLayerEnsemble


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device, repeat: int = 1) -> tuple[float, object]:
    """Best wall time over `repeat` calls (and the last result)."""
    best, out = float("inf"), None
    for _ in range(repeat):
        _sync(device)
        t = time.perf_counter()
        out = fn()
        _sync(device)
        best = min(best, time.perf_counter() - t)
    return best, out


# ---------------------------------------------------------------- machine peak
def gemm_peak(device: torch.device, size: int = 2048, repeat: int = 5) -> dict:
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    a @ b  # warm-up
    t, _ = timed(lambda: a @ b, device, repeat)
    return {"gemm_gflops": 2 * size**3 / t / 1e9, "gemm_size": size}


# ---------------------------------------------------------------- training
def _sgd_epochs(model: TwoLayerEnsemble, X, y, lr: float, batch: int, epochs: int) -> None:
    """Plain mini-batch SGD on W with cross-entropy summed over members (each member's own mean)."""
    for _ in range(epochs):
        for s in range(0, X.shape[0], batch):
            xb, yb = X[s:s + batch], y[s:s + batch]
            logits = model(xb)                                      # (K, b, c)
            K = logits.shape[0]
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), yb.repeat(K),
                                   reduction="sum") / xb.shape[0]
            (g,) = torch.autograd.grad(loss, model.W)
            with torch.no_grad():
                model.W -= lr * g


def _train(model, X, y, lr, batch, epochs):
    if importlib.util.find_spec("cocorr_core.training") is not None:
        from cocorr_core.training import train_ensemble

        train_ensemble(model, X, y, optimizer="sgd", loss="ce", lr=lr, batch_size=batch, epochs=epochs)
        return "cocorr_core.training.train_ensemble"
    _sgd_epochs(model, X, y, lr, batch, epochs)
    return "harness SGD loop (cocorr_core.training not available)"


def ensemble_speedup(X, y, device, *, K=8, width=64, epochs=2, batch=512, lr=0.003) -> dict:
    """K ReLU networks trained one after another vs as one stacked ensemble (the same math)."""
    seeds = list(range(K))
    singles = [TwoLayerEnsemble.init(X.shape[1], width, [0.0], [s], device=device) for s in seeds]
    ens = TwoLayerEnsemble.init(X.shape[1], width, [0.0] * K, seeds, device=device)
    _train(TwoLayerEnsemble.init(X.shape[1], width, [0.0], [99], device=device),
           X[:batch], y[:batch], lr, batch, 1)
    t_one, _ = timed(lambda: [_train(m, X, y, lr, batch, epochs) for m in singles], device)
    t_ens, how = timed(lambda: _train(ens, X, y, lr, batch, epochs), device)
    # the same seeds give the same networks, so both paths must end with the same weights
    agree = max(float((ens.W.detach()[k] - singles[k].W.detach()[0]).abs().max()) for k in range(K))
    return {"ensemble_speedup": t_one / t_ens, "ensemble_one_by_one_s": t_one, "ensemble_batched_s": t_ens,
            "ensemble_K": K, "ensemble_width": width, "ensemble_epochs": epochs,
            "ensemble_n_train": X.shape[0], "ensemble_trainer": how, "ensemble_max_weight_diff": agree}


def ensemble_speedup_by_width(X, y, device, widths, members: int, *, epochs=2, batch=512, lr=0.003) -> dict:
    """`ensemble_speedup` at every width of the profile, with the profile's members per group
    (q values × seeds); the headline is the smallest ratio over the widths."""
    rows = []
    for width in widths:
        r = ensemble_speedup(X, y, device, K=members, width=width, epochs=epochs, batch=batch, lr=lr)
        rows.append({"width": width, "members": members, "speedup": r["ensemble_speedup"],
                     "one_by_one_s": r["ensemble_one_by_one_s"], "batched_s": r["ensemble_batched_s"],
                     "max_weight_diff": r["ensemble_max_weight_diff"]})
    return {"ensemble_speedup_min": min(r["speedup"] for r in rows), "ensemble_by_width": rows,
            "ensemble_members": members, "ensemble_trainer": r["ensemble_trainer"]}


def train_gemm_fraction(X, y, device, peak: float, *, width=2048, batch=512, steps=8, lr=0.003) -> dict:
    """Achieved matmul FLOP rate of SGD steps at width 2048, over the measured GEMM peak."""
    model = TwoLayerEnsemble.init(X.shape[1], width, [0.0], [0], device=device)
    Xb, yb = X[:batch * steps], y[:batch * steps]
    _sgd_epochs(model, Xb[:batch], yb[:batch], lr, batch, 1)   # warm-up
    t, _ = timed(lambda: _sgd_epochs(model, Xb, yb, lr, batch, 1), device, repeat=2)
    d, c = X.shape[1], model.n_outputs
    # forward W x and A h, backward dW = δᵀ x and δ_h = δ A (no gradient w.r.t. x is formed)
    flops = steps * (2 * batch * width * d + 2 * batch * width * c
                     + 2 * batch * width * d + 2 * batch * width * c)
    rate = flops / t / 1e9
    return {"train_gemm_fraction": rate / peak, "train_gflops": rate, "train_step_s": t / steps,
            "train_width": width, "train_batch": batch}


# ---------------------------------------------------------------- measures
POWER_ITERS = (5, 10, 30, 100, 300)              # the authors'-style estimator's points on the curve
TOLERANCES = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6)  # ours, certified
FIXED_STEPS = (2, 4, 8)                            # ours stopped early: no certificate


def _authors_all(model: TwoLayerEnsemble, X, iters: int = 30, tol: float = 1e-4) -> dict:
    """The authors' analysis: power iteration on f, on σ∘W and on the head at σ(W x)."""
    W, A = model.W.detach()[0], model.A[0]
    f = model.as_classifier(0)
    with torch.no_grad():
        H = torch.relu(X @ W.T)
    return {"full": authors_power_iteration(f, X, iters=iters, tol=tol),
            "inner": authors_power_iteration(lambda x: torch.relu(x @ W.T), X, iters=iters, tol=tol),
            "outer": authors_power_iteration(lambda h: h @ A.T, H, iters=iters, tol=tol)}


def _power_iteration_trace(model: TwoLayerEnsemble, X, device) -> list[tuple[int, float, dict]]:
    """(iterations, seconds, estimates) of the authors'-style estimator at every POWER_ITERS count,
    from one run of max(POWER_ITERS) steps without early stop: the run at N steps is this run's
    prefix, and its time is the time spent by the three estimators up to step N."""
    W, A = model.W.detach()[0], model.A[0]
    with torch.no_grad():
        H = torch.relu(X @ W.T)
    maps = {"full": (model.as_classifier(0), X), "inner": (lambda x: torch.relu(x @ W.T), X),
            "outer": (lambda h: h @ A.T, H)}
    seen: dict[int, dict] = {n: {"seconds": 0.0} for n in POWER_ITERS}
    for name, (fn, inputs) in maps.items():
        _sync(device)
        start = time.perf_counter()

        def record(step, est, name=name, start=start):
            if step in seen:
                _sync(device)
                seen[step]["seconds"] += time.perf_counter() - start
                seen[step][name] = est.clone()

        authors_power_iteration(fn, inputs, iters=max(POWER_ITERS), tol=0.0, on_step=record)
    return [(n, v.pop("seconds"), v) for n, v in seen.items()]


def _ours(model: TwoLayerEnsemble, X, **kw) -> dict:
    ns = two_layer_norms(model, X, **kw)
    return {"full": ns.full[0], "inner": ns.inner[0], "outer": ns.outer[0], "bound": ns.max_rel_bound,
            "iterations": ns.iterations, "state": ns.state}


def _exact_norms(model: TwoLayerEnsemble, X, chunk: int = 16) -> dict:
    """Exact norms from the materialised float64 Jacobians J_f = A D W, J_φ′ = D W, J_φ = A
    (the chain rule; tests/test_measures.py checks these against torch.func.jacrev)."""
    W, A = model.W.detach()[0].double(), model.A[0].double()
    X = X.double()
    D = (X @ W.T > 0).double()                                  # (n, m)
    out = {"full": [], "inner": []}
    for s in range(0, X.shape[0], chunk):
        Ji = D[s:s + chunk, :, None] * W                        # (chunk, m, d)
        out["inner"].append(_op_norm(Ji))
        out["full"].append(_op_norm(A @ Ji))
    res = {k: torch.cat(v) for k, v in out.items()}
    res["outer"] = _op_norm(A[None]).expand(X.shape[0])
    return res


def _op_norm(J: torch.Tensor) -> torch.Tensor:
    """Operator norms of a batch of float64 Jacobians: sqrt of λ_max of the smaller Gram matrix
    (dense eigvalsh, far cheaper than an SVD of a 2048×784 matrix and as exact for λ_max)."""
    G = J @ J.transpose(-1, -2) if J.shape[-2] <= J.shape[-1] else J.transpose(-1, -2) @ J
    threads = torch.get_num_threads()
    torch.set_num_threads(1)        # LAPACK's eigensolver slows down badly on a loaded machine otherwise
    try:
        return torch.linalg.eigvalsh(G)[..., -1].clamp_min(0).sqrt()
    finally:
        torch.set_num_threads(threads)


def _max_rel(est: dict, exact: dict) -> float:
    return max(float(((est[k].double().cpu() - exact[k].cpu()) / exact[k].cpu()).abs().max()) for k in exact)


def accuracy_curve(model: TwoLayerEnsemble, X, device, state: str) -> tuple[list[dict], dict]:
    """Largest relative error (against exact float64 norms, all n inputs, all three norms) and time
    of the authors'-style power iteration at POWER_ITERS steps (no early stop) and of ours at
    TOLERANCES; plus the headline timings: the authors' 30 steps with their stop rule (tol 1e-4)
    and ours at the default tolerance."""
    exact = _exact_norms(model, X)
    rows = []
    for iters, t, est in _power_iteration_trace(model, X, device):
        rows.append({"state": state, "method": "power iteration", "setting": iters, "seconds": t,
                     "max_rel_err": _max_rel(est, exact), "certified_bound": None})
    for tol in TOLERANCES:
        t, est = timed(lambda tol=tol: _ours(model, X, tol=tol), device, repeat=2)
        rows.append({"state": state, "method": "certified Lanczos", "setting": tol, "seconds": t,
                     "max_rel_err": _max_rel({k: est[k] for k in exact}, exact),
                     "certified_bound": est["bound"], "iterations": est["iterations"]})
    for steps in FIXED_STEPS:   # the same solver stopped after a fixed number of block steps
        t, est = timed(lambda steps=steps: _ours(model, X, tol=1e-12, max_iter=steps), device, repeat=2)
        rows.append({"state": state, "method": "Lanczos, fixed steps", "setting": steps, "seconds": t,
                     "max_rel_err": _max_rel({k: est[k] for k in exact}, exact),
                     "certified_bound": est["bound"], "iterations": est["iterations"]})
    t_base, base = timed(lambda: _authors_all(model, X), device)
    t_ours, ours = timed(lambda: _ours(model, X, tol=1e-4), device)
    head = {"baseline_s": t_base, "baseline_err": _max_rel(base, exact), "ours_s": t_ours,
            "ours_err": _max_rel({k: ours[k] for k in exact}, exact), "ours_bound": ours["bound"],
            "ours_iterations": ours["iterations"], "state_vectors": ours["state"], "exact": exact}
    return rows, head


def _time_to_error(rows: list[dict], err: float, method: str = "certified Lanczos") -> float:
    """Our fastest time whose largest error is at most `err` (inf if none is)."""
    ok = [r["seconds"] for r in rows if r["method"] == method and r["max_rel_err"] <= err]
    return min(ok, default=float("inf"))


def measure_speedup(X, y_train, X_train, device, *, width=2048, lr=0.003, batch=512, train_steps=32) -> dict:
    """Jacobian norms of a ReLU net of width 2048 at initialisation and after `train_steps` SGD steps:
    the accuracy–time curves and the headline ratios (float32 measurements, float64 references)."""
    model = TwoLayerEnsemble.init(X.shape[1], width, [0.0], [0], device=device)
    two_layer_norms(model, X[:8])                              # warm-up (lazy imports)
    authors_power_iteration(model.as_classifier(0), X[:8])
    rows, h0 = accuracy_curve(model, X, device, "initialisation")
    res = {"measure_width": width, "measure_n": X.shape[0], "measure_exact_n": X.shape[0],
           "measure_baseline_s": h0["baseline_s"], "measure_ours_s": h0["ours_s"],
           "measure_speedup": h0["baseline_s"] / h0["ours_s"], "measure_iterations": h0["ours_iterations"],
           "measure_certified_bound": h0["ours_bound"], "measure_max_rel_err": h0["ours_err"],
           "baseline_max_rel_err": h0["baseline_err"],
           "measure_speedup_at_baseline_error": h0["baseline_s"] / _time_to_error(rows, h0["baseline_err"]),
           "measure_speedup_at_baseline_error_uncertified":
               h0["baseline_s"] / _time_to_error(rows, h0["baseline_err"], "Lanczos, fixed steps")}
    # a short training (train_steps SGD batches), then measure again: cold, and warm from the state
    n_imgs = min(X_train.shape[0], batch * train_steps)
    epochs = max(1, round(train_steps * batch / n_imgs))
    _sgd_epochs(model, X_train[:n_imgs], y_train[:n_imgs], lr, batch, epochs)
    rows2, h1 = accuracy_curve(model, X, device, "after training")
    t_warm, warm = timed(lambda: _ours(model, X, tol=1e-4, warm=h0["state_vectors"]), device)
    h = h1
    res.update({
        "measure_train_steps": epochs * -(-n_imgs // batch), "measure_baseline_after_step_s": h["baseline_s"],
        "measure_cold_after_step_s": h["ours_s"], "measure_speedup_trained": h["baseline_s"] / h["ours_s"],
        "measure_speedup_at_baseline_error_trained":
            h["baseline_s"] / _time_to_error(rows2, h["baseline_err"]),
        "measure_max_rel_err_trained": h["ours_err"], "baseline_after_step_max_rel_err": h["baseline_err"],
        "measure_cold_iterations": h["ours_iterations"], "measure_warm_s": t_warm,
        "measure_speedup_warm": h["baseline_s"] / t_warm, "measure_warm_iterations": warm["iterations"],
        "measure_warm_max_rel_err": _max_rel({k: warm[k] for k in h["exact"]}, h["exact"]),
        "measure_curve": rows + rows2})
    return res
