"""The chapter's experiments on a binary MNIST task: attacks through the analytic NTK, its
eigen-features, early stopping along gradient flow, transfer to finite networks, and the
empirical kernel of a small CNN under clean and adversarial training.

Data: two MNIST digits, pixels in [0, 1] flattened (no normalisation, as the authors' code),
labels y = −1 for the first digit and +1 for the second. Seed s trains on its own disjoint block
of `n_train` images (the first `seeds · n_train` images of the fixed subset permutation); every
seed is tested on the same test images.

Attacks (`sign_attack`): ℓ∞ sign-gradient ascent on the logistic loss softplus(−y f(x)) (the BCE
of the authors' code with labels mapped to {0, 1}), clipped to [0, 1], no random start: FGSM is
one step of size ε, PGD `pgd_steps` steps of size `pgd_step` projected onto the ε-ball. A
sample counts as robust when the last iterate is still classified correctly.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from ...data import cifar10_available, load_cifar10, load_mnist
from ...ground.devices import resolve_device
from ...ground.errors import ConfigError, check_range
from ...kernels import (
    NTKMLP,
    eigen_feature_coefficients,
    empirical_ntk,
    flow_coefficients,
    kernel_distance,
    relu_ntk,
    spectrum,
    top_eigen_mass,
)
from .settings import Profile, get_profile, store_table

DTYPE = torch.float64  # kernel computations (float32 is enough for the networks)


# ---------------------------------------------------------------- data
def binary_task(prof: Profile, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """X (seeds, n_train, 784), Y (seeds, n_train) in ±1; X_test (n_test_clean, 784), Y_test: the
    binary MNIST task of the profile, in float64 on `device`."""
    dev = resolve_device(device)
    a, b = prof.classes
    X, y = load_mnist("train", n=prof.seeds * prof.n_train, classes=prof.classes, device=dev)
    Xt, yt = load_mnist("test", n=prof.n_test_clean, classes=prof.classes, device=dev)
    sign = lambda lab: torch.where(lab == b, 1.0, -1.0).to(DTYPE)  # noqa: E731
    return {
        "X": X.to(DTYPE).reshape(prof.seeds, prof.n_train, -1),
        "Y": sign(y).reshape(prof.seeds, -1),
        "X_test": Xt.to(DTYPE),
        "Y_test": sign(yt),
    }


# ---------------------------------------------------------------- attacks
def sign_attack(
    logits: Callable[[torch.Tensor], torch.Tensor],
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    steps: int,
    step_size: float,
    box: tuple[float, float] = (0.0, 1.0),
) -> torch.Tensor:
    """ℓ∞ sign-gradient ascent on Σ softplus(−y·logits(x)) from x⁰ = X: each step
    x ← clip_box(X + clip_ε(x + step_size·sign ∇ − X)). FGSM is steps=1, step_size=ε.

    logits maps inputs (..., m, d) (or images (m, C, H, W)) to (..., m); X in the box; y (m,) in ±1
    (broadcast over leading axes, so many predictors are attacked at once). Returns the last iterate."""
    check_range("eps", eps, lo=0.0)
    check_range("steps", steps, lo=0, integer=True)
    check_range("step_size", step_size, lo=0.0)
    if float(X.min()) < box[0] or float(X.max()) > box[1]:
        raise ConfigError(f"X must lie in the box {box}.")
    x0 = X.detach()
    x = x0.clone()
    for _ in range(steps):
        x.requires_grad_(True)
        out = logits(x)
        if out.shape[-1] != y.shape[-1]:
            raise ConfigError(
                f"the predictor gives {out.shape[-1]} outputs per batch but y has {y.shape[-1]} labels."
            )
        loss = F.softplus(-y * out).sum()
        (grad,) = torch.autograd.grad(loss, x)
        with torch.no_grad():
            x = (x0 + (x + step_size * grad.sign() - x0).clamp(-eps, eps)).clamp(*box)
    return x.detach()


def kernel_logits(
    X_train: torch.Tensor, coef: torch.Tensor, depth: int = 1
) -> Callable[[torch.Tensor], torch.Tensor]:
    """x ↦ Θ(x, X_train)·coef for the analytic NTK: coef (n,) maps (..., m, d) → (..., m);
    coef (n, F) maps inputs (F, m, d) → (F, m), column f applied to batch f."""
    if coef.ndim == 1:
        return lambda x: relu_ntk(x, X_train, depth=depth) @ coef
    return lambda x: torch.einsum("fmn,nf->fm", relu_ntk(x, X_train, depth=depth), coef)


def accuracy_pm(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Fraction of sign(out) == y along the last axis (out > 0 predicts +1), float64."""
    return (torch.where(out > 0, 1.0, -1.0).to(y.dtype) == y).to(torch.float64).mean(-1)


# ---------------------------------------------------------------- eigen-features
def _features_one_seed(
    X: torch.Tensor, Y: torch.Tensor, X_test: torch.Tensor, Y_test: torch.Tensor, prof: Profile
) -> pd.DataFrame:
    K = relu_ntk(X, X)
    lam, C = eigen_feature_coefficients(K, Y)
    idx = torch.tensor([i for i in prof.feature_indices if i < len(lam)], device=X.device)
    coef = C[:, idx]
    with torch.no_grad():
        clean = accuracy_pm((relu_ntk(X_test, X) @ coef).T, Y_test)
        features_on_train = (K @ C).sum(1)  # Σ_i f_i(X) = Y on the training inputs
    Xa, Ya = X_test[: prof.n_test], Y_test[: prof.n_test]
    x_adv = sign_attack(
        kernel_logits(X, coef), Xa.expand(len(idx), *Xa.shape), Ya, eps=prof.eps, steps=1, step_size=prof.eps
    )
    with torch.no_grad():
        fgsm = accuracy_pm(kernel_logits(X, coef)(x_adv), Ya)
        clean_attacked = accuracy_pm((relu_ntk(Xa, X) @ coef).T, Ya)
    return pd.DataFrame(
        {
            "feature": idx.cpu().numpy(),
            "eigenvalue": lam[idx].cpu().numpy(),
            "clean_acc": clean.cpu().numpy(),
            "clean_acc_attacked_set": clean_attacked.cpu().numpy(),
            "fgsm_acc": fgsm.cpu().numpy(),
            "label_fit_err": float((features_on_train - Y).abs().max()),
            "majority": float(max((Y_test > 0).double().mean(), (Y_test < 0).double().mean())),
        }
    )


def features_table(profile: str | None = None, device: str | torch.device = "cpu") -> pd.DataFrame:
    """Per seed and eigen-feature index i (0 = largest eigenvalue): eigenvalue λ_i, clean accuracy of
    sign f_i on `n_test_clean` test images (usefulness), and accuracy under FGSM aimed at f_i alone
    on the first `n_test` (robustness). Columns: seed, feature, eigenvalue, clean_acc,
    clean_acc_attacked_set, fgsm_acc, label_fit_err, majority."""
    prof = get_profile(profile)

    def compute() -> pd.DataFrame:
        data = binary_task(prof, device)
        parts = [
            _features_one_seed(data["X"][s], data["Y"][s], data["X_test"], data["Y_test"], prof).assign(
                seed=s
            )
            for s in range(prof.seeds)
        ]
        return pd.concat(parts, ignore_index=True)

    return store_table("ntk_features", _params(prof, "features"), compute, prof.name)


# ---------------------------------------------------------------- gradient flow: accuracy and robustness
def _flow_one_seed(
    X: torch.Tensor, Y: torch.Tensor, X_test: torch.Tensor, Y_test: torch.Tensor, prof: Profile
) -> pd.DataFrame:
    K = relu_ntk(X, X)
    lam_max = float(spectrum(K)[0][0])
    times = torch.tensor(prof.flow_times, dtype=DTYPE) / lam_max  # ηt in units of 1/λ_max
    coef = flow_coefficients(K, Y, times)  # (n, T)
    with torch.no_grad():
        clean = accuracy_pm((relu_ntk(X_test, X) @ coef).T, Y_test)
    Xa, Ya = X_test[: prof.n_test], Y_test[: prof.n_test]
    batch = Xa.expand(coef.shape[1], *Xa.shape)
    fn = kernel_logits(X, coef)
    fgsm = sign_attack(fn, batch, Ya, eps=prof.eps, steps=1, step_size=prof.eps)
    pgd = sign_attack(fn, batch, Ya, eps=prof.eps, steps=prof.pgd_steps, step_size=prof.pgd_step)
    with torch.no_grad():
        out = {
            "clean_acc_attacked_set": accuracy_pm(fn(batch), Ya),
            "fgsm_acc": accuracy_pm(fn(fgsm), Ya),
            "pgd_acc": accuracy_pm(fn(pgd), Ya),
        }
    return pd.DataFrame(
        {
            "time_lmax": list(prof.flow_times),
            "clean_acc": clean.cpu().numpy(),
            **{k: v.cpu().numpy() for k, v in out.items()},
            "lambda_max": lam_max,
        }
    )


def flow_table(profile: str | None = None, device: str | torch.device = "cpu") -> pd.DataFrame:
    """Per seed and gradient-flow time t (column time_lmax = ηtλ_max; ∞ is kernel regression): clean
    accuracy of f_t on `n_test_clean` images, and on the first `n_test` its clean, FGSM and PGD
    accuracy (attacks aimed at f_t). Columns: seed, time_lmax, clean_acc, clean_acc_attacked_set,
    fgsm_acc, pgd_acc, lambda_max."""
    prof = get_profile(profile)

    def compute() -> pd.DataFrame:
        data = binary_task(prof, device)
        parts = [
            _flow_one_seed(data["X"][s], data["Y"][s], data["X_test"], data["Y_test"], prof).assign(seed=s)
            for s in range(prof.seeds)
        ]
        return pd.concat(parts, ignore_index=True)

    return store_table("ntk_flow", _params(prof, "flow"), compute, prof.name)


# ---------------------------------------------------------------- transfer to finite networks
def _transfer(prof: Profile, device: str | torch.device) -> pd.DataFrame:
    data = binary_task(prof, device)
    n = prof.transfer_n_train
    X, Y = data["X"][:, :n], data["Y"][:, :n]  # (S, n, d), (S, n)
    Xa, Ya = data["X_test"][: prof.n_test], data["Y_test"][: prof.n_test]
    Xc, Yc = data["X_test"], data["Y_test"]
    S = prof.seeds
    Ks = torch.stack([relu_ntk(X[s], X[s]) for s in range(S)])
    lr = prof.transfer_lr_scale / float(max(spectrum(K)[0][0] for K in Ks))
    t = lr * prof.transfer_steps
    # the kernel counterpart f_t at the networks' training time, and PGD examples aimed at it
    coef = torch.stack([flow_coefficients(Ks[s], Y[s], [t])[:, 0] for s in range(S)])  # (S, n)

    def ntk_fn(x: torch.Tensor) -> torch.Tensor:  # x (S, m, d): seed s against its own f_t
        return torch.stack([relu_ntk(x[s], X[s]) @ coef[s] for s in range(S)])

    adv = sign_attack(
        ntk_fn, Xa.expand(S, *Xa.shape), Ya, eps=prof.eps, steps=prof.pgd_steps, step_size=prof.pgd_step
    )
    with torch.no_grad():
        ntk_clean = accuracy_pm(ntk_fn(Xc.expand(S, *Xc.shape)), Yc)
        ntk_adv = accuracy_pm(ntk_fn(adv), Ya)
        ntk_out_clean = ntk_fn(Xc.expand(S, *Xc.shape))
    rows = []
    for width in prof.transfer_widths:
        net = NTKMLP(X.shape[-1], width, members=S, seed=10_000 * width, dtype=torch.float32, device=device)
        init = copy.deepcopy(net).requires_grad_(False)
        Xf, Yf = X.float(), Y.float()
        with torch.no_grad():
            f0 = init(Xf)[..., 0]
        opt = torch.optim.SGD(net.parameters(), lr=lr)
        for _ in range(prof.transfer_steps):
            loss = 0.5 * ((net(Xf)[..., 0] - f0 - Yf) ** 2).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        centred = lambda x: (net(x.float()) - init(x.float()))[..., 0].to(DTYPE)  # noqa: E731
        white = sign_attack(
            centred, Xa.expand(S, *Xa.shape), Ya, eps=prof.eps, steps=prof.pgd_steps, step_size=prof.pgd_step
        )
        with torch.no_grad():
            out_clean = centred(Xc.expand(S, *Xc.shape))
            rows.append(
                pd.DataFrame(
                    {
                        "seed": np.arange(S),
                        "width": width,
                        "time": t,
                        "lr": lr,
                        "net_clean_acc": accuracy_pm(out_clean, Yc).cpu().numpy(),
                        "net_clean_acc_attacked_set": accuracy_pm(out_clean[:, : prof.n_test], Ya)
                        .cpu()
                        .numpy(),
                        "net_on_ntk_adv_acc": accuracy_pm(centred(adv), Ya).cpu().numpy(),
                        "net_whitebox_acc": accuracy_pm(centred(white), Ya).cpu().numpy(),
                        "ntk_clean_acc": ntk_clean.cpu().numpy(),
                        "ntk_adv_acc": ntk_adv.cpu().numpy(),
                        "sign_agreement": (torch.sign(out_clean) == torch.sign(ntk_out_clean))
                        .double()
                        .mean(-1)
                        .cpu()
                        .numpy(),
                        "rel_distance": (
                            (out_clean - ntk_out_clean).norm(dim=-1) / ntk_out_clean.norm(dim=-1)
                        )
                        .cpu()
                        .numpy(),
                    }
                )
            )
    return pd.concat(rows, ignore_index=True)


def transfer_table(profile: str | None = None, device: str | torch.device = "cpu") -> pd.DataFrame:
    """Per width and seed: finite NTK-parameterised ReLU networks (one hidden layer, centred at
    initialisation, full-batch GD on ½‖f(X) − Y‖² for time t = η·steps) against their kernel
    counterpart f_t. Columns: seed, width, time, lr, net_clean_acc, net_on_ntk_adv_acc (PGD
    examples aimed at f_t, transferred), net_whitebox_acc (PGD aimed at the network),
    ntk_clean_acc, ntk_adv_acc, sign_agreement and rel_distance (network vs f_t on clean test images)."""
    prof = get_profile(profile)
    return store_table("ntk_transfer", _params(prof, "transfer"), lambda: _transfer(prof, device), prof.name)


# ---------------------------------------------------------------- kernel dynamics of a small CNN
class SmallCNN(nn.Module):
    """conv3×3(c₁) → relu → maxpool 2 → conv3×3(c₂) → relu → maxpool 2 → dense(1), SAME padding;
    weights N(0, 1/fan_in) (flax's LeCun-normal scale) and zero biases."""

    def __init__(self, in_channels: int, size: int, channels: tuple[int, int], seed: int = 0):
        super().__init__()
        c1, c2 = channels
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, c1, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(c2 * (size // 4) ** 2, 1),
        )
        g = torch.Generator().manual_seed(int(seed))
        with torch.no_grad():
            for m in self.body:
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    fan_in = m.weight[0].numel()
                    m.weight.copy_(torch.randn(m.weight.shape, generator=g) / math.sqrt(fan_in))
                    m.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images (n, C, H, W) → logits (n,)."""
        return self.body(x)[:, 0]


REGIMES = ("clean", "fgsm", "pgd")


def dynamics_data(prof: Profile, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Images (n, C, H, W) in [0, 1] and labels ±1 for the dynamics runs: CIFAR-10 airplane vs
    automobile when `dynamics_dataset` says so, else the MNIST digits of the profile."""
    dev = resolve_device(device)
    if dynamics_dataset(prof.name) == "cifar10":
        out = {}
        for split, n in (("train", prof.dyn_n_train), ("test", prof.n_test)):
            X, y = load_cifar10(split, None, device=dev)
            keep = (y == 0) | (y == 1)
            out[split] = (X[keep][:n], torch.where(y[keep][:n] == 1, 1.0, -1.0).to(dev))
    else:
        out = {}
        for split, n in (("train", prof.dyn_n_train), ("test", prof.n_test)):
            X, y = load_mnist(split, n=n, classes=prof.classes, device=dev)
            out[split] = (X.view(-1, 1, 28, 28), torch.where(y == prof.classes[1], 1.0, -1.0).to(dev))
    return {"X": out["train"][0], "Y": out["train"][1], "X_test": out["test"][0], "Y_test": out["test"][1]}


def _adversarial(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, regime: str, prof: Profile
) -> torch.Tensor:
    if regime == "fgsm":
        return sign_attack(model, x, y, eps=prof.eps, steps=1, step_size=prof.eps)
    steps = prof.dyn_pgd_steps
    return sign_attack(model, x, y, eps=prof.eps, steps=steps, step_size=2.5 * prof.eps / steps)


def _dynamics_run(data: dict[str, torch.Tensor], regime: str, seed: int, prof: Profile) -> pd.DataFrame:
    X, Y = data["X"], data["Y"]
    model = SmallCNN(X.shape[1], X.shape[-1], prof.dyn_channels, seed=seed).to(X.device)
    probe, probe_y = X[: prof.dyn_probe], Y[: prof.dyn_probe]  # one fixed probe batch, every epoch
    opt = torch.optim.SGD(model.parameters(), lr=prof.dyn_lr)
    kernels = {"clean": [], "adversarial": []}
    rows = []

    def measure(epoch: int) -> None:
        model.eval()
        probe_adv = _adversarial(model, probe, probe_y, "pgd", prof)
        kernels["clean"].append(empirical_ntk(model, probe).double())
        kernels["adversarial"].append(empirical_ntk(model, probe_adv).double())
        Xt, Yt = data["X_test"], data["Y_test"]
        adv = _adversarial(model, Xt, Yt, "pgd", prof)
        with torch.no_grad():
            rows.append(
                {"epoch": epoch, "metric": "test_clean_acc", "value": float(accuracy_pm(model(Xt), Yt))}
            )
            rows.append(
                {"epoch": epoch, "metric": "test_pgd_acc", "value": float(accuracy_pm(model(adv), Yt))}
            )
        model.train()

    measure(0)
    for epoch in range(1, prof.dyn_epochs + 1):
        for s in range(0, X.shape[0], prof.dyn_batch):  # unshuffled batches, as the authors' code
            xb, yb = X[s : s + prof.dyn_batch], Y[s : s + prof.dyn_batch]
            if regime != "clean":
                xb = _adversarial(model, xb, yb, regime, prof)
            loss = F.softplus(-yb * model(xb)).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        measure(epoch)
    for probe_kind, Ks in kernels.items():
        K = torch.stack(Ks)
        dist = kernel_distance(K).cpu().numpy()
        mass = top_eigen_mass(K, min(prof.dyn_top, K.shape[-1])).cpu().numpy()
        for e in range(len(Ks)):
            rows.append({"epoch": e, "metric": f"top_mass_{probe_kind}", "value": float(mass[e])})
            rows.append({"epoch": e, "metric": f"dist_init_{probe_kind}", "value": float(dist[e, 0])})
            for e2 in range(len(Ks)):
                rows.append(
                    {
                        "epoch": e,
                        "epoch2": e2,
                        "metric": f"distance_{probe_kind}",
                        "value": float(dist[e, e2]),
                    }
                )
    return pd.DataFrame(rows).assign(regime=regime, seed=seed)


def dynamics_table(profile: str | None = None, device: str | torch.device = "cpu") -> pd.DataFrame:
    """Per regime (clean, FGSM or PGD adversarial training), seed (initialisation) and epoch of a
    small CNN: test clean and PGD accuracy, and from its empirical NTK on one fixed probe batch
    (clean images, and their PGD versions against the current network): the top-`dyn_top`
    eigenvalue share of Σλ², the distance from the initial kernel, and the epoch × epoch kernel
    distances. Tidy columns: regime, seed, epoch, epoch2 (distances only), metric, value."""
    prof = get_profile(profile)

    def compute() -> pd.DataFrame:
        data = dynamics_data(prof, device)
        parts = [
            _dynamics_run(data, regime, seed, prof) for regime in REGIMES for seed in range(prof.dyn_seeds)
        ]
        return pd.concat(parts, ignore_index=True)

    params = {**_params(prof, "dynamics"), "dataset": dynamics_dataset(prof.name)}
    return store_table("ntk_dynamics", params, compute, prof.name)


def dynamics_dataset(profile: str | None = None) -> str:
    """The dataset the dynamics runs of a profile use: its `dyn_dataset`, with MNIST standing in
    when CIFAR-10 is asked for but not present."""
    prof = get_profile(profile)
    return "cifar10" if prof.dyn_dataset == "cifar10" and cifar10_available() else "mnist"


def _params(prof: Profile, what: str) -> dict:
    """Store key of a table: every size of the profile (so a changed size recomputes)."""
    return {
        "what": what,
        **{
            k: (list(v) if isinstance(v, tuple) else v)
            for k, v in vars(prof).items()
            if not (isinstance(v, float) and math.isinf(v))
        },
        "flow_times": [str(t) for t in prof.flow_times],
    }
