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
    """K ReLU networks trained one after another vs as one stacked ensemble."""
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
def _authors_all(model: TwoLayerEnsemble, X) -> dict:
    """The authors' analysis: power iteration on f, on σ∘W and on the head at σ(W x)."""
    W, A = model.W.detach()[0], model.A[0]
    f = model.as_classifier(0)
    with torch.no_grad():
        H = torch.relu(X @ W.T)
    return {"full": authors_power_iteration(f, X),
            "inner": authors_power_iteration(lambda x: torch.relu(x @ W.T), X),
            "outer": authors_power_iteration(lambda h: h @ A.T, H)}


def _exact_norms(model: TwoLayerEnsemble, X) -> dict:
    """Exact norms from the materialised float64 Jacobians J_f = A D W, J_φ′ = D W, J_φ = A
    (the chain rule; tests/test_measures.py checks these against torch.func.jacrev)."""
    W, A = model.W.detach()[0].double(), model.A[0].double()
    X = X.double()
    D = (X @ W.T > 0).double()                                  # (n, m)
    out = {"full": [], "inner": []}
    for s in range(0, X.shape[0], 10):
        Ji = D[s:s + 10, :, None] * W                           # (10, m, d)
        out["inner"].append(_op_norm(Ji))
        out["full"].append(_op_norm(A @ Ji))
    res = {k: torch.cat(v) for k, v in out.items()}
    res["outer"] = _op_norm(A[None]).expand(X.shape[0])
    return res


def _op_norm(J: torch.Tensor) -> torch.Tensor:
    """Operator norms of a batch of float64 Jacobians: sqrt of λ_max of the smaller Gram matrix
    (dense eigvalsh, far cheaper than an SVD of a 2048×784 matrix and as exact for λ_max)."""
    G = J @ J.transpose(-1, -2) if J.shape[-2] <= J.shape[-1] else J.transpose(-1, -2) @ J
    return torch.linalg.eigvalsh(G)[..., -1].clamp_min(0).sqrt()


def _max_rel(est: dict, exact: dict, n: int) -> float:
    return max(float(((est[k][:n].double() - exact[k]) / exact[k]).abs().max()) for k in exact)


def measure_speedup(X, y_train, X_train, device, *, width=2048, n_exact=50, lr=0.003, batch=512) -> dict:
    """Authors' power iteration (30 iterations, tol 1e-4) vs our closed forms + Lanczos, float32."""
    model = TwoLayerEnsemble.init(X.shape[1], width, [0.0], [0], device=device)
    two_layer_norms(model, X[:8])                              # warm-up (lazy imports)
    authors_power_iteration(model.as_classifier(0), X[:8])
    t_base, base = timed(lambda: _authors_all(model, X), device)
    t_ours, ours = timed(lambda: two_layer_norms(model, X), device)
    exact = _exact_norms(model, X[:n_exact])
    res = {"measure_width": width, "measure_n": X.shape[0], "measure_exact_n": n_exact,
           "measure_baseline_s": t_base, "measure_ours_s": t_ours, "measure_speedup": t_base / t_ours,
           "measure_iterations": ours.iterations, "measure_certified_bound": ours.max_rel_bound,
           "measure_max_rel_err": _max_rel({"full": ours.full[0], "inner": ours.inner[0],
                                            "outer": ours.outer[0]}, exact, n_exact),
           "baseline_max_rel_err": _max_rel(base, exact, n_exact)}
    # one small training step (a few SGD batches), then measure again from the previous state
    _sgd_epochs(model, X_train, y_train, lr, batch, 1)
    t_base2, base2 = timed(lambda: _authors_all(model, X), device)
    t_cold, cold = timed(lambda: two_layer_norms(model, X), device)
    t_warm, warm = timed(lambda: two_layer_norms(model, X, warm=ours.state), device)
    exact2 = _exact_norms(model, X[:n_exact])
    res.update({"measure_warm_train_images": X_train.shape[0], "measure_baseline_after_step_s": t_base2,
                "measure_cold_after_step_s": t_cold, "measure_warm_s": t_warm,
                "measure_speedup_warm": t_base2 / t_warm, "measure_cold_iterations": cold.iterations,
                "measure_warm_iterations": warm.iterations,
                "measure_warm_max_rel_err": _max_rel({"full": warm.full[0], "inner": warm.inner[0],
                                                      "outer": warm.outer[0]}, exact2, n_exact),
                "baseline_after_step_max_rel_err": _max_rel(base2, exact2, n_exact)})
    return res
