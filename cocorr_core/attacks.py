"""Clean and adversarial accuracy, with the attack radius ε always in [0, 1] pixel units.

The authors' networks were fed tensors normalised with Normalize(mean=0.5, std=0.5), i.e. inputs in
[−1, 1]. A perturbation of norm ε on those tensors is a perturbation of norm ε·std in pixel units, so
ε = 0.5 there equals 0.25 in pixel units. AutoAttack also clips its iterates to the [0, 1] box,
which only makes sense in pixel space (on [−1, 1] tensors it would wipe out every negative value).
We therefore put the normalisation inside the model (`PixelSpace`) and attack pixel values in
[0, 1]; `pixel_eps(eps, "authors")` converts a radius stated on normalised tensors.

- `pixel_eps` and `models.PixelSpace`: the pixel-space convention.
- `autoattack_accuracy` / `autoattack_robust`: AutoAttack from torchattacks on one classifier
  (models with fewer than 4 classes: see `autoattack_components`).
- `pgd_attack` / `pgd_accuracy`: our own projected gradient ascent attacking all K members of an
  ensemble at once.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

from .data import to_code_inputs
from .ground.devices import exact_float32, resolve_device
from .ground.errors import ConfigError, check_choice, check_range
from .models import Ensemble, PixelSpace
from .training import check_labels, member_losses, module_dtype, predict

NORMS = ("L2", "Linf")
AUTOATTACK_VERSIONS = ("standard", "plus", "rand")
EPS_CONVENTIONS = ("pixel", "authors")
BOX_TOL = 1e-6      # slack allowed when checking that adversarial inputs stay in [0, 1]
EPS_TOL = 1e-5      # slack allowed when checking that perturbations stay in the ε-ball


# ---------------------------------------------------------------- pixel space
def pixel_eps(eps: float, convention: str = "pixel", std: float = 0.5) -> float:
    """Radius in [0, 1] pixel units of an ε stated in `convention`.

    "pixel": ε is already in pixel units. "authors": ε was measured on tensors normalised with
    (x − mean)/std, so the pixel radius is ε·std (ε = 0.5 → 0.25 for std = 0.5).
    """
    check_choice("convention", convention, EPS_CONVENTIONS)
    check_range("eps", eps, lo=0.0)
    check_range("std", std, lo=0.0, lo_open=True)
    return float(eps) * (float(std) if convention == "authors" else 1.0)


def _unwrap_ensemble(model: nn.Module, preprocess: Callable | None, what: str):
    """(ensemble, preprocess) from an Ensemble or a PixelSpace around one."""
    if isinstance(model, PixelSpace) and isinstance(model.model, Ensemble):
        if preprocess is not None:
            raise ConfigError(f"{what}: the model is already in PixelSpace; leave preprocess=None.")
        return model.model, model.normalise
    if not isinstance(model, Ensemble):
        raise ConfigError(f"{what} needs an Ensemble such as TwoLayerEnsemble (or PixelSpace(ensemble)); "
                          f"got {type(model).__name__} (use autoattack_accuracy for other classifiers).")
    return model, to_code_inputs if preprocess is None else preprocess


class TwoLogits(nn.Module):
    """A one-output (binary) classifier as two logits (−s/2, s/2).

    Softmax of these equals (1 − sigmoid(s), sigmoid(s)), so cross-entropy on them is the BCE of s
    and class 1 wins exactly when s > 0. Attack libraries need at least two logits.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (n, …) → logits (n, 2) = (−s/2, s/2), s = model(x) reshaped to (n, 1)."""
        s = self.model(x).reshape(x.shape[0], 1)
        return torch.cat([-s / 2, s / 2], dim=1)


class _Float32Interface(nn.Module):
    """Runs a classifier of another dtype (e.g. float64) on float32 inputs and returns float32
    logits: torchattacks builds float32 tensors internally (FAB fails on float64 inputs)."""

    def __init__(self, model: nn.Module, dtype: torch.dtype):
        super().__init__()
        self.model, self.dtype = model, dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.to(self.dtype)).float()


class _Unflatten(nn.Module):
    """Feeds a classifier of flat (n, d) inputs from (n, 1, h, w) views (attack code needs 4-d)."""

    def __init__(self, model: nn.Module, shape: tuple[int, ...]):
        super().__init__()
        self.model, self.shape = model, shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.reshape(x.shape[0], *self.shape))


# ---------------------------------------------------------------- PGD on an ensemble
def _project(x_adv: torch.Tensor, x: torch.Tensor, eps: float, norm: str,
             box: tuple[float, float] | None) -> torch.Tensor:
    """Into the ε-ball around x, then into the box. Clipping to the box only shrinks each coordinate
    of the perturbation (x itself lies in the box), so the result stays in the ball."""
    delta = x_adv - x
    if norm == "Linf":
        delta = delta.clamp(-eps, eps)
    else:
        scale = (eps / delta.norm(dim=-1, keepdim=True).clamp_min(1e-30)).clamp(max=1.0)
        delta = delta * scale
    out = x + delta
    return out.clamp(*box) if box is not None else out


def pgd_attack(model: Ensemble | PixelSpace, X_pixel: torch.Tensor, y: torch.Tensor, *, eps: float,
               norm: str = "L2", steps: int = 20, step_size: float | None = None,
               preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
               random_start: bool = True, seed: int = 0, box: tuple[float, float] | None = (0.0, 1.0),
               batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """Projected gradient ascent on every member at once: (X_adv (K, n, d), robust bool (K, n)).

    X_pixel (n, d) or images (n, C, H, W) in pixel space (flattened to d = C·H·W), y (n,) integer
    labels (0/1 for one output); each member gets its own perturbation
    and the model sees `preprocess(x + δ)` (default: the authors' inputs 2x − 1; pass
    `lambda x: x` for none; for `PixelSpace(ensemble)` its own normalisation). Each step moves
    along the sign of the gradient (Linf) or the
    normalised gradient (L2) of the cross-entropy (BCE for one output), by `step_size`
    (default 2.5·ε/steps), then projects onto the ε-ball and the box (`box=None`: no box).
    A sample is broken if the clean point or any iterate (random start included) is
    misclassified; X_adv holds the first misclassified iterate for broken samples and the
    last iterate for robust ones. Samples go `batch_size` at a time; the batch from sample s on
    draws its random start from a CPU generator seeded with seed + s (the same on every device).
    """
    model, preprocess = _unwrap_ensemble(model, preprocess, "pgd_attack")
    check_choice("norm", norm, NORMS)
    check_range("eps", eps, lo=0.0)
    check_range("steps", steps, lo=0, integer=True)
    check_range("batch_size", batch_size, lo=1, integer=True)
    if step_size is None:
        step_size = 2.5 * eps / max(steps, 1)
    check_range("step_size", step_size, lo=0.0)
    dev, dtype = model.device, model.dtype
    X = torch.as_tensor(X_pixel).to(device=dev, dtype=dtype)
    X = X.reshape(X.shape[0], -1)
    n, d = X.shape
    if n == 0:
        raise ConfigError("X_pixel is empty; the attack needs at least one sample.")
    if d != model.in_dim:
        raise ConfigError(f"X_pixel has {d} features per sample; the model expects {model.in_dim}.")
    if box is not None and (float(X.min()) < box[0] or float(X.max()) > box[1]):
        raise ConfigError(f"X_pixel must lie in the box {box} (pixel values); got values in "
                          f"[{float(X.min()):.3g}, {float(X.max()):.3g}]. "
                          "Pass pixels, not normalised inputs.")
    y = check_labels(y, n, model.n_outputs, dev)
    advs, robust = [], []
    with exact_float32():
        for s in range(0, n, batch_size):
            gen = torch.Generator().manual_seed(int(seed) + s)  # on the CPU: same start on every device
            x_adv, still = _pgd_batch(model, X[s:s + batch_size], y[s:s + batch_size], eps, norm,
                                      steps, step_size, preprocess, random_start, gen, box)
            advs.append(x_adv)
            robust.append(still)
    return torch.cat(advs, dim=1), torch.cat(robust, dim=1)


def pgd_accuracy(model: Ensemble | PixelSpace, X_pixel: torch.Tensor, y: torch.Tensor, *, eps: float,
                 norm: str = "L2", steps: int = 20, step_size: float | None = None,
                 preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 random_start: bool = True, seed: int = 0, box: tuple[float, float] | None = (0.0, 1.0),
                 batch_size: int = 1000) -> torch.Tensor:
    """Robust accuracy of every member under `pgd_attack`: float64 Tensor(K,) on the CPU.

    X_pixel (n, d) or (n, C, H, W) in [0, 1], y (n,); the other arguments as in `pgd_attack`.
    Samples are attacked `batch_size` at a time, so memory stays at K·batch_size·d."""
    model, preprocess = _unwrap_ensemble(model, preprocess, "pgd_accuracy")
    check_range("batch_size", batch_size, lo=1, integer=True)
    X, y = torch.as_tensor(X_pixel), torch.as_tensor(y)
    n = X.shape[0]
    if n == 0:
        raise ConfigError("X_pixel is empty; the attack needs at least one sample.")
    if y.shape != (n,):
        raise ConfigError(f"y must have shape ({n},) to match X_pixel; got {tuple(y.shape)}.")
    robust = torch.zeros(model.n_models, dtype=torch.long)
    for s in range(0, n, batch_size):  # chunks of pgd_attack (same seeds), keeping only the counts
        _, still = pgd_attack(model, X[s:s + batch_size], y[s:s + batch_size], eps=eps, norm=norm,
                              steps=steps, step_size=step_size, preprocess=preprocess,
                              random_start=random_start, seed=seed + s, box=box, batch_size=batch_size)
        robust += still.sum(1).cpu()
    return robust.to(torch.float64) / n


def _pgd_batch(model: Ensemble, x: torch.Tensor, y: torch.Tensor, eps: float, norm: str,
               steps: int, step_size: float, preprocess: Callable, random_start: bool,
               gen: torch.Generator, box: tuple[float, float] | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(X_adv (K, b, d), still-correct bool (K, b)) for one batch."""
    K = model.n_models
    xk = x.expand(K, *x.shape)
    with torch.no_grad():
        still = predict(model(preprocess(xk))) == y
    best = xk.clone()
    x_adv = xk.clone()
    if random_start and eps > 0:
        if norm == "Linf":  # uniform in the cube
            noise = (torch.rand(xk.shape, generator=gen, dtype=torch.float64).to(xk) * 2 - 1) * eps
        else:  # uniform direction, radius uniform in [0, ε]
            noise = torch.randn(xk.shape, generator=gen, dtype=torch.float64).to(xk)
            radius = torch.rand(*xk.shape[:2], 1, generator=gen, dtype=torch.float64).to(xk) * eps
            noise = noise / noise.norm(dim=-1, keepdim=True).clamp_min(1e-30) * radius
        x_adv = _project(xk + noise, xk, eps, norm, box)
    for step in range(steps + 1):
        x_adv = x_adv.detach().requires_grad_(step < steps and eps > 0)
        logits = model(preprocess(x_adv))
        with torch.no_grad():
            # robust samples follow the iterates; a broken one keeps its first adversarial example
            best = torch.where(still[..., None], x_adv, best)
            still &= predict(logits) == y
        if step == steps or eps == 0:
            break
        grad, = torch.autograd.grad(member_losses(logits, y, reduction="sum").sum(), x_adv)
        with torch.no_grad():
            if norm == "Linf":
                direction = grad.sign()
            else:
                direction = grad / grad.norm(dim=-1, keepdim=True).clamp_min(1e-30)
            x_adv = _project(x_adv + step_size * direction, xk, eps, norm, box)
    return best.detach(), still


# ---------------------------------------------------------------- AutoAttack
def _image_shape(d: int) -> tuple[int, int, int]:
    """(1, h, w) with h·w = d and h the largest divisor of d not above √d (784 → 1×28×28)."""
    h = max(k for k in range(1, math.isqrt(d) + 1) if d % k == 0)
    return (1, h, d // h)


ATTACK_NAMES = ("apgd-ce", "apgd-dlr", "apgd-t", "fab", "fab-t", "square")
_VERSION_LISTS = {
    "standard": ("apgd-ce", "apgd-t", "fab-t", "square"),
    "plus": ("apgd-ce", "apgd-dlr", "fab", "square", "apgd-t", "fab-t"),
    "rand": ("apgd-ce", "apgd-dlr"),
}
_MIN_CLASSES = {"apgd-dlr": 3, "apgd-t": 4}  # the DLR losses read the 3rd (and 4th) largest logit


def autoattack_components(n_classes: int, version: str = "standard") -> list[str]:
    """Names of the attacks AutoAttack `version` runs on a model with `n_classes` logits.

    From 4 classes on these are torchattacks' AutoAttack lists. The DLR losses need the 3rd
    (untargeted) or 3rd and 4th (targeted) largest logit, so with fewer classes the attacks built
    on them are left out (AutoAttack's reference code warns about the same limitation)."""
    check_choice("version", version, AUTOATTACK_VERSIONS)
    return [a for a in _VERSION_LISTS[version] if n_classes >= _MIN_CLASSES.get(a, 2)]


def _build_autoattack(model: nn.Module, n_classes: int, eps: float, norm: str, version: str,
                      seed: int, names: list[str] | None):
    import torchattacks
    from torchattacks import APGD, APGDT, FAB, MultiAttack, Square

    if names is None and n_classes >= 4:  # the library's own AutoAttack
        return torchattacks.AutoAttack(model, norm=norm, eps=eps, version=version,
                                       n_classes=n_classes, seed=seed)
    names = autoattack_components(n_classes, version) if names is None else names
    # same components and settings as torchattacks' AutoAttack for `version`
    restarts = 5 if version == "plus" else 1
    eot = 20 if version == "rand" else 1
    make = {
        "apgd-ce": lambda: APGD(model, norm=norm, eps=eps, seed=seed, loss="ce", eot_iter=eot,
                                n_restarts=restarts),
        "apgd-dlr": lambda: APGD(model, norm=norm, eps=eps, seed=seed, loss="dlr", eot_iter=eot,
                                 n_restarts=restarts),
        "apgd-t": lambda: APGDT(model, norm=norm, eps=eps, seed=seed, n_classes=n_classes, n_restarts=1),
        "fab": lambda: FAB(model, norm=norm, eps=eps, seed=seed, n_classes=n_classes, n_restarts=restarts),
        "fab-t": lambda: FAB(model, norm=norm, eps=eps, seed=seed, multi_targeted=True, n_classes=n_classes,
                             n_restarts=1),
        "square": lambda: Square(model, norm=norm, eps=eps, seed=seed, n_queries=5000, n_restarts=1),
    }
    attacks = [make[name]() for name in names]
    return attacks[0] if len(attacks) == 1 else MultiAttack(attacks)


def _check_attack_names(attacks: Sequence[str] | None, n_classes: int) -> list[str] | None:
    if attacks is None:
        return None
    names = list(attacks)
    if not names:
        raise ConfigError(f"attacks=[] is empty; name some of {ATTACK_NAMES} or pass None.")
    for name in names:
        check_choice("attack", name, ATTACK_NAMES)
        if n_classes < _MIN_CLASSES.get(name, 2):
            raise ConfigError(f"attack {name!r} needs at least {_MIN_CLASSES[name]} classes; "
                              f"the model has {n_classes}.")
    return names


def autoattack_robust(classifier: nn.Module, X_pixel: torch.Tensor, y: torch.Tensor, *,
                      eps: float = 0.5, norm: str = "L2", version: str = "standard", seed: int = 0,
                      batch_size: int = 500, device: str | torch.device = "auto",
                      attacks: Sequence[str] | None = None) -> torch.Tensor:
    """Per-sample robustness under AutoAttack (torchattacks): bool Tensor (n,), on the CPU.

    `classifier` maps pixel inputs X_pixel (n, d) or (n, C, H, W) in [0, 1] (wrap normalisation
    with `PixelSpace`) to (n, c) logits, or to one logit for a binary model (then attacked through
    `TwoLogits`); y (n,) integer labels; eps, norm: the ball; seed: the attacks' seed;
    `batch_size` samples per attack call on `device`. Flat inputs
    (n, d) are handed to the attacks as (n, 1, h, w) views; the attacks work in float32 (a float64
    classifier is evaluated in float64 on the float32 iterates). A sample is robust if the returned
    adversarial example is still classified correctly; every returned perturbation is checked
    to lie in the ε-ball (+1e-5) and the [0, 1] box. The global torch RNG is left untouched.

    With 4 or more classes and `attacks=None` this is `torchattacks.AutoAttack(version=...)` itself;
    with fewer classes the components of `autoattack_components` are run in the same way.
    `attacks` (names from ATTACK_NAMES) replaces the version's list by a cheaper subset, which is
    then no longer AutoAttack's standard evaluation: meant for quick checks only.
    """
    check_choice("norm", norm, NORMS)
    check_choice("version", version, AUTOATTACK_VERSIONS)
    check_range("eps", eps, lo=0.0)
    check_range("batch_size", batch_size, lo=1, integer=True)
    check_range("seed", seed, lo=0, integer=True)
    dev = resolve_device(device)
    if isinstance(classifier, Ensemble) or (isinstance(classifier, PixelSpace)
                                            and isinstance(classifier.model, Ensemble)):
        raise ConfigError("autoattack needs one classifier on pixel inputs; "
                          "pass PixelSpace(ensemble, member=k).")
    was_training = classifier.training
    model = classifier.to(dev).eval()
    if module_dtype(model) != torch.float32:
        model = _Float32Interface(model, module_dtype(model))
    X = torch.as_tensor(X_pixel).to(device=dev, dtype=torch.float32)
    n = X.shape[0]
    if n == 0:
        raise ConfigError("X_pixel is empty; the attack needs at least one sample.")
    if float(X.min()) < 0.0 or float(X.max()) > 1.0:
        raise ConfigError(f"X_pixel must hold pixel values in [0, 1]; got [{float(X.min()):.3g}, "
                          f"{float(X.max()):.3g}]. Pass pixels and put the normalisation in PixelSpace.")
    if X.ndim == 2:  # flat inputs: attack (n, 1, h, w) views of them
        model = _Unflatten(model, tuple(X.shape[1:]))
        X = X.reshape(n, *_image_shape(X.shape[1]))
    with torch.no_grad(), exact_float32():
        n_outputs = model(X[:1]).reshape(1, -1).shape[1]
    if n_outputs == 1:
        model = TwoLogits(model)
    n_classes = max(n_outputs, 2)
    y = check_labels(y, n, n_outputs, dev)
    names = _check_attack_names(attacks, n_classes)
    if "square" in (names or autoattack_components(n_classes, version)) and min(X.shape[-2:]) < 5:
        raise ConfigError(f"the Square attack in AutoAttack '{version}' needs images of at least 5×5 pixels; "
                          f"the inputs are viewed as {tuple(X.shape[1:])}. Use a feature count d whose "
                          "near-square factorisation has both sides ≥ 5 (e.g. 25 or 784), or version='rand'.")
    try:
        return _run_autoattack(model, X, y, n_classes, eps, norm, version, seed, batch_size, dev, names)
    finally:
        classifier.train(was_training)


def _run_autoattack(model: nn.Module, X: torch.Tensor, y: torch.Tensor, n_classes: int, eps: float,
                    norm: str, version: str, seed: int, batch_size: int, dev: torch.device,
                    names: list[str] | None) -> torch.Tensor:
    n = X.shape[0]
    if eps == 0:
        with torch.no_grad(), exact_float32():
            return torch.cat([model(X[s:s + batch_size]).argmax(1) == y[s:s + batch_size]
                              for s in range(0, n, batch_size)]).cpu()
    attack = _build_autoattack(model, n_classes, eps, norm, version, seed, names)
    attack.set_device(dev)
    robust = []
    # torchattacks reseeds the global RNG on every call; keep the caller's random state intact
    fork_devices = [dev] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices), exact_float32():
        for s in range(0, n, batch_size):
            xb, yb = X[s:s + batch_size], y[s:s + batch_size]
            adv = attack(xb, yb).detach()
            _check_adversarial(adv, xb, eps, norm)
            with torch.no_grad():
                robust.append(model(adv).argmax(1) == yb)
    return torch.cat(robust).cpu()


def _check_adversarial(adv: torch.Tensor, x: torch.Tensor, eps: float, norm: str) -> None:
    delta = (adv - x).reshape(x.shape[0], -1)
    size = delta.abs().amax(1) if norm == "Linf" else delta.norm(dim=1)
    if float(size.max()) > eps + EPS_TOL:
        raise RuntimeError(f"AutoAttack returned a perturbation of {norm} norm {float(size.max()):.6g} "
                           f"> eps={eps}.")
    if float(adv.min()) < -BOX_TOL or float(adv.max()) > 1 + BOX_TOL:
        raise RuntimeError("AutoAttack returned inputs outside the [0, 1] box.")


def autoattack_accuracy(classifier: nn.Module, X_pixel: torch.Tensor, y: torch.Tensor, *,
                        eps: float = 0.5, norm: str = "L2", version: str = "standard", seed: int = 0,
                        batch_size: int = 500, device: str | torch.device = "auto",
                        attacks: Sequence[str] | None = None) -> float:
    """Robust accuracy under AutoAttack: the fraction of `autoattack_robust` that is True.

    Arguments as in `autoattack_robust` (X_pixel (n, d) or (n, C, H, W) in [0, 1], y (n,));
    returns a float in [0, 1]."""
    robust = autoattack_robust(classifier, X_pixel, y, eps=eps, norm=norm, version=version,
                               seed=seed, batch_size=batch_size, device=device, attacks=attacks)
    return float(robust.to(torch.float64).mean())
