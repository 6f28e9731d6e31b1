"""The chapter's runs: the synthetic set-up of Figures 2–3, MNIST parity, Min & Vidal's set-up.

Every seed s draws its own training set and initialisation; the cluster centres and the test
points are shared by all seeds (the problem is rotation invariant, so fixing the centres loses
nothing), which lets one batched attack evaluate every seed's network at once.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ...attacks import pgd_attack
from ...data import load_cifar10, load_mnist32, multi_cluster, orthogonal_centres
from ...ground.devices import exact_float32, resolve_device
from ...ground.errors import check_choice, check_range
from ...models import RESNET_ARCHS, BiasedTwoLayerEnsemble, ModuleEnsemble, TwoLayerEnsemble, build_resnet
from ...training import train_module
from . import geometry
from .networks import (
    GroupMaxReadout,
    binary_accuracy,
    block_head,
    class_signs,
    cosines,
    fit,
    group_max_logits,
    signed_head,
    summed_logit,
    summed_readout,
)
from .settings import Profile, get_profile, store_table

CENTRE_SEED, TRAIN_SEED, TEST_SEED, INIT_SEED = 11, 1000, 7, 100
MODELS = ("binary", "k-class")
READOUTS = ("binary", "k-class sum", "k-class argmax")
ATTACKS = ("PGD", "targeted", "both")


@dataclass
class SyntheticRun:
    """Trained networks of one profile: `binary` and `multiclass` (one member per seed), the
    shared `centres` (k, d) and `signs` (k,), and the shared test set."""

    prof: Profile
    centres: torch.Tensor
    signs: torch.Tensor
    binary: BiasedTwoLayerEnsemble
    multiclass: BiasedTwoLayerEnsemble
    X_test: torch.Tensor
    y_test: torch.Tensor
    cluster_test: torch.Tensor

    def readouts(self) -> dict[str, BiasedTwoLayerEnsemble]:
        """The three binary classifiers of Figure 3, by name (see READOUTS)."""
        signs = self.signs.to(self.multiclass.W)
        return {
            "binary": self.binary,
            "k-class sum": summed_readout(self.multiclass, signs),
            "k-class argmax": GroupMaxReadout(self.multiclass, signs),
        }


def _problem(prof: Profile, device: torch.device):
    centres = orthogonal_centres(prof.d, prof.k, seed=CENTRE_SEED, device=device)
    positive = tuple(range(prof.k // 2))
    return centres, positive, class_signs(prof.k, positive).to(device)


def _training_sets(centres: torch.Tensor, positive: tuple[int, ...], n: int, seeds: int):
    parts = [multi_cluster(centres, n, positive, seed=TRAIN_SEED + s) for s in range(seeds)]
    return (
        torch.stack([p[0] for p in parts]),
        torch.stack([p[1] for p in parts]),
        torch.stack([p[2] for p in parts]),
    )


def _heads(prof: Profile) -> dict[str, torch.Tensor]:
    return {"binary": signed_head(prof.m), "k-class": block_head(prof.k, prof.h)}


@functools.lru_cache(maxsize=2)
def _train(
    profile: str,
) -> tuple[dict[str, BiasedTwoLayerEnsemble], dict[str, list], dict[str, torch.Tensor]]:
    """Both networks trained for every seed: (models, tracked [(step, W, b)], train accuracy)."""
    prof = get_profile(profile)
    dev = resolve_device("auto")
    centres, positive, _ = _problem(prof, dev)
    X, y, cluster = _training_sets(centres, positive, prof.n, prof.seeds)
    X = X.float()
    seeds = [INIT_SEED + s for s in range(prof.seeds)]
    models = {
        name: BiasedTwoLayerEnsemble.small_init(prof.d, head, seeds, std=prof.init_std, device=dev)
        for name, head in _heads(prof).items()
    }
    tracked = {
        "binary": fit(
            models["binary"], X, (y > 0).float(), loss="bce", lr=prof.lr, steps=prof.steps, record=prof.track
        ),
        "k-class": fit(
            models["k-class"], X, cluster, loss="ce", lr=prof.lr, steps=prof.steps, record=prof.track
        ),
    }
    with torch.no_grad():
        hit = (models["k-class"](X).argmax(-1) == cluster).to(torch.float64).mean(-1).cpu()
    return models, tracked, {"k-class": hit, "binary": binary_accuracy(models["binary"], X, y)}


def weights_table(profile: str | None = None) -> pd.DataFrame:
    """The trained first layers of both networks: columns model, seed, neuron, bias, weights (d floats),
    train_accuracy (binary labels for the binary network, cluster labels for the k-class one)."""
    prof = get_profile(profile)

    def compute() -> pd.DataFrame:
        models, _, train_acc = _train(prof.name)
        rows = []
        for name, net in models.items():
            W, b = net.W.detach().cpu().double().numpy(), net.b.detach().cpu().double().numpy()
            for s in range(W.shape[0]):
                for r in range(W.shape[1]):
                    rows.append(
                        {
                            "model": name,
                            "seed": s,
                            "neuron": r,
                            "bias": b[s, r],
                            "weights": W[s, r],
                            "train_accuracy": float(train_acc[name][s]),
                        }
                    )
        return pd.DataFrame(rows)

    return store_table("weights", {"what": "synthetic"}, compute, profile=prof.name)


def synthetic_run(profile: str | None = None) -> SyntheticRun:
    """The trained synthetic networks (from the result store when there) with the test set."""
    prof = get_profile(profile)
    dev = resolve_device("auto")
    centres, positive, signs = _problem(prof, dev)
    table = weights_table(prof.name).sort_values(["model", "seed", "neuron"])
    nets = {}
    for name, head in _heads(prof).items():
        part = table[table["model"] == name]
        K, M = prof.seeds, head.shape[1]
        W = torch.tensor(np.stack(part["weights"].to_numpy()), dtype=torch.float32).reshape(K, M, prof.d)
        b = torch.tensor(part["bias"].to_numpy(), dtype=torch.float32).reshape(K, M)
        nets[name] = BiasedTwoLayerEnsemble(
            W.to(dev),
            b.to(dev),
            head.expand(K, *head.shape).float().to(dev),
            seeds=[INIT_SEED + s for s in range(K)],
        )
    X_test, y_test, c_test = multi_cluster(centres, prof.n_test, positive, seed=TEST_SEED)
    return SyntheticRun(prof, centres, signs, nets["binary"], nets["k-class"], X_test.float(), y_test, c_test)


# ---------------------------------------------------------------- Figure 2: cosines
def cosine_table(profile: str | None = None) -> pd.DataFrame:
    """cos(μ_j, w) of every centre j and neuron of both networks, at every tracked GD step and seed:
    columns model, seed, step, centre, neuron, cos (centres and binary neurons: J₊ / positive first)."""
    prof = get_profile(profile)

    def compute() -> pd.DataFrame:
        centres = _problem(prof, resolve_device("auto"))[0]
        frames = []
        for model, snaps in _train(prof.name)[1].items():
            for step, W, _ in snaps:
                cos = cosines(W, centres).cpu().numpy()  # (K, k, M)
                K, k, M = cos.shape
                seed, centre, neuron = np.meshgrid(np.arange(K), np.arange(k), np.arange(M), indexing="ij")
                frames.append(
                    pd.DataFrame(
                        {
                            "model": model,
                            "seed": seed.ravel(),
                            "step": step,
                            "centre": centre.ravel(),
                            "neuron": neuron.ravel(),
                            "cos": cos.ravel(),
                        }
                    )
                )
        return pd.concat(frames, ignore_index=True)

    return store_table("cosines", {"what": "synthetic"}, compute, profile=prof.name)


def accuracy_table(profile: str | None = None) -> pd.DataFrame:
    """Clean test accuracy of the three binary classifiers per seed, and the size of the learned
    biases next to the largest pre-activation max_j |⟨w, μ_j⟩| of each neuron (mean over neurons):
    columns readout, seed, test_accuracy, mean_abs_bias, mean_max_centre_preact."""
    prof = get_profile(profile)

    def compute() -> pd.DataFrame:
        run = synthetic_run(prof.name)
        rows = []
        for name, model in run.readouts().items():
            test = binary_accuracy(model, run.X_test, run.y_test)
            with torch.no_grad():
                bias = model.b.abs().mean(1).cpu()
                pre = (model.W @ run.centres.float().T).abs().amax(-1).mean(1).cpu()
            for s in range(prof.seeds):
                rows.append(
                    {
                        "readout": name,
                        "seed": s,
                        "test_accuracy": float(test[s]),
                        "mean_abs_bias": float(bias[s]),
                        "mean_max_centre_preact": float(pre[s]),
                    }
                )
        return pd.DataFrame(rows)

    return store_table("accuracy", {"what": "synthetic"}, compute, profile=prof.name)


# ---------------------------------------------------------------- Figure 3: attacks
def centre_directions(
    X: torch.Tensor, y: torch.Tensor, cluster: torch.Tensor, centres: torch.Tensor, signs: torch.Tensor
) -> torch.Tensor:
    """Unit attack directions per point built from the cluster centres: (n, 2 + 2L, d), L = most
    opposite clusters of a class. For a point of cluster i and label y they are
    - −y u/‖u‖ with u = Σ s_j μ_j (the negative averaged feature; minimal against f_FA);
    - −μ̂_i (switches the own neuron off: minimal into the tie region of a thresholded readout);
    - μ̂_l − μ̂_i for each opposite cluster l (minimal against the argmax readout);
    - −μ̂_i + Σ_{l ∈ S} μ̂_l for the L' = 1..L opposite clusters S already most aligned with x (the
      multi-neuron attack on a summed readout).
    For a class with fewer opposite clusters the missing slots repeat the first direction."""
    k, d = centres.shape
    unit = centres / centres.norm(dim=1, keepdim=True)
    s = signs.to(unit)
    n = X.shape[0]
    L = int(max((s > 0).sum(), (s < 0).sum()))
    own = torch.nn.functional.one_hot(cluster.to(X.device), k).to(unit)  # (n, k)
    opposite = s[None, :] != y.to(unit)[:, None]  # (n, k)
    avg = -y.to(unit)[:, None] * s[None, :]  # coefficients of −y u
    score = (X.to(unit) @ unit.T).masked_fill(~opposite, float("-inf"))
    order = score.argsort(dim=1, descending=True)[:, :L]  # (n, L)
    valid = torch.gather(opposite, 1, order)  # (n, L)
    pick = torch.nn.functional.one_hot(order, k).to(unit)  # (n, L, k)
    single = pick - own[:, None, :]
    multi = pick.cumsum(1) - own[:, None, :]
    fallback = avg[:, None, :].expand(n, L, k)
    single = torch.where(valid[..., None], single, fallback)
    multi = torch.where(valid[..., None], multi, fallback)
    coef = torch.cat([avg[:, None, :], -own[:, None, :], single, multi], dim=1)  # (n, 2 + 2L, k)
    dirs = coef @ unit
    return dirs / dirs.norm(dim=-1, keepdim=True)


@torch.no_grad()
def targeted_robust(
    model: TwoLayerEnsemble,
    X: torch.Tensor,
    y: torch.Tensor,
    directions: torch.Tensor,
    radii: np.ndarray,
    box: tuple[float, float] | None = None,
) -> torch.Tensor:
    """Robustness under the line attacks x + r v̂ (v̂ from `centre_directions`, (n, D, d)): bool
    (K, n, R), True when no direction breaks the point at any grid radius up to radii[r]. A point
    is broken when its margin y·f (one logit) or y·(f₊ − f₋) (two logits) is ≤ 0: a tie counts
    against both classes. With `box` the points are clipped into it (for X inside the box this only
    shortens each coordinate of the step, so the perturbation stays within the radius)."""
    n, D, d = directions.shape
    like = dict(device=model.device, dtype=model.dtype)
    X, directions = X.to(**like), directions.to(**like)
    sign = torch.where(y.to(model.device) > 0, 1.0, -1.0).to(**like)
    broken = []
    with exact_float32():
        for r in radii:  # one batched pass per radius
            moved = X[:, None, :] + float(r) * directions
            moved = moved.clamp(*box) if box is not None else moved
            z = model(moved.reshape(n * D, d))
            score = z[..., 0] if z.shape[-1] == 1 else z[..., 1] - z[..., 0]
            broken.append((score.reshape(-1, n, D) * sign[None, :, None] <= 0).any(-1))
    broken = torch.stack(broken, dim=-1)  # (K, n, R)
    return ~(broken.cummax(dim=-1).values)


def pgd_robust(
    model: TwoLayerEnsemble,
    X: torch.Tensor,
    y: torch.Tensor,
    radii: np.ndarray,
    *,
    steps: int,
    box: tuple[float, float] | None = None,
    seed: int = 0,
) -> torch.Tensor:
    """Robustness under L2 PGD (`attacks.pgd_attack`, cross-entropy of the readout's logits) at every
    radius, made monotone over the nested balls: bool (K, n, R)."""
    label = (y > 0).long()
    robust = [
        pgd_attack(
            model, X, label, eps=float(r), norm="L2", steps=steps, preprocess=lambda x: x, box=box, seed=seed
        )[1].cpu()
        for r in radii
    ]
    robust = torch.stack(robust, dim=-1)
    return robust.cummin(dim=-1).values


def _curve_rows(robust: dict[str, torch.Tensor], radii, **labels) -> list[dict]:
    rows = []
    for attack, table in robust.items():
        acc = table.to(torch.float64).mean(1).numpy()  # (K, R)
        for s in range(acc.shape[0]):
            for r, radius in enumerate(radii):
                rows.append(
                    {
                        **labels,
                        "attack": attack,
                        "seed": s,
                        "radius": float(radius),
                        "robust_accuracy": float(acc[s, r]),
                    }
                )
    return rows


def robustness_table(profile: str | None = None) -> pd.DataFrame:
    """Figure 3 (synthetic): robust accuracy against the L2 radius of the three binary classifiers
    under PGD, the targeted centre attacks and both: columns readout, attack, seed, radius,
    robust_accuracy."""
    prof = get_profile(profile)

    def compute() -> pd.DataFrame:
        run = synthetic_run(prof.name)
        X, y, c = run.X_test[: prof.attack_n], run.y_test[: prof.attack_n], run.cluster_test[: prof.attack_n]
        radii = np.asarray(prof.radii)
        dirs = centre_directions(X, y, c, run.centres, run.signs)
        rows = []
        for name, model in run.readouts().items():
            pgd = pgd_robust(model, X, y, radii, steps=prof.pgd_steps)
            tgt = targeted_robust(model, X, y, dirs, radii).cpu()
            rows += _curve_rows({"PGD": pgd, "targeted": tgt, "both": pgd & tgt}, radii, readout=name)
        return pd.DataFrame(rows)

    return store_table("robustness", {"what": "synthetic"}, compute, profile=prof.name)


def idealised_fa_curve(profile: str | None = None) -> pd.DataFrame:
    """The averaged network f_FA (weights Σ_{J±} μ, no training) attacked like the trained ones,
    next to Φ(√(d/k) − ρ): columns attack, radius, robust_accuracy, formula."""
    prof = get_profile(profile)

    def compute() -> pd.DataFrame:
        run = synthetic_run(prof.name)
        c = run.centres
        # scaled by 1/d: logits of order one, so PGD's cross-entropy keeps a gradient (the sign is unchanged)
        W = torch.stack([c[run.signs > 0].sum(0), c[run.signs < 0].sum(0)])[None].float() / prof.d
        head = torch.tensor([[[1.0, -1.0]]])
        net = BiasedTwoLayerEnsemble(W.to(c.device), torch.zeros(1, 2, device=c.device), head.to(c.device))
        X, y, cl = run.X_test[: prof.attack_n], run.y_test[: prof.attack_n], run.cluster_test[: prof.attack_n]
        radii = np.asarray(prof.radii)
        pgd = pgd_robust(net, X, y, radii, steps=prof.pgd_steps)
        tgt = targeted_robust(net, X, y, centre_directions(X, y, cl, c, run.signs), radii).cpu()
        table = pd.DataFrame(_curve_rows({"PGD": pgd, "targeted": tgt, "both": pgd & tgt}, radii))
        table["formula"] = geometry.robust_accuracy_fa(table["radius"], prof.d, prof.k)
        return table.drop(columns="seed")

    return store_table("fa_curve", {"what": "idealised"}, compute, profile=prof.name)


# ---------------------------------------------------------------- Figure 3: ResNet-18 on images
# "cifar_stand_in" runs CIFAR-10's split {0–4} vs {5–9} on MNIST-32 digits, for machines without CIFAR-10.
DATASETS = ("mnist", "cifar10", "cifar_stand_in")
DATASET_NAMES = {
    "mnist": "MNIST parity (3×32×32)",
    "cifar10": "CIFAR-10 {0–4} vs {5–9}",
    "cifar_stand_in": "stand-in for CIFAR-10: MNIST-32 digits {0–4} vs {5–9}",
}
IMAGE_READOUTS = ("binary", "10-class sum", "10-class argmax")
POSITIVE = {"mnist": (0, 2, 4, 6, 8), "cifar10": (0, 1, 2, 3, 4), "cifar_stand_in": (0, 1, 2, 3, 4)}


def image_data(dataset: str, n: int, n_test: int, device: torch.device | str = "cpu"):
    """(X, classes, X_test, classes_test) of `dataset`: images (n, 3, 32, 32) in [0, 1] and the 10
    class labels. MNIST comes padded to 32×32 in three channels (`data.load_mnist32`)."""
    check_choice("dataset", dataset, DATASETS)
    load = load_cifar10 if dataset == "cifar10" else load_mnist32
    X, c = load("train", n=n, device=device)
    Xt, ct = load("test", n=n_test, device=device)
    return X, c, Xt, ct


def train_image_ensemble(
    X: torch.Tensor, labels: torch.Tensor, n_classes: int, seeds: list[int], *,
    arch: str, epochs: int, lr: float, batch_size: int, device: torch.device | str = "cpu",
) -> ModuleEnsemble:
    """One `models.build_resnet(arch, n_classes, seed)` per seed, every layer trained by
    `training.train_module` (Adam, cross-entropy, shuffled mini-batches), gathered in an ModuleEnsemble."""
    members = []
    for seed in seeds:
        net = build_resnet(arch, n_classes, seed, device=device, freeze_fc=False)
        train_module(net, X, labels, optimizer="adam", lr=lr, batch_size=batch_size, epochs=epochs,
                     seed=seed, shuffle=True, device=device)
        members.append(net)
    return ModuleEnsemble(members, X.shape[1:], n_classes)


def image_curves(
    X: torch.Tensor, classes: torch.Tensor, X_test: torch.Tensor, classes_test: torch.Tensor,
    positive: tuple[int, ...], *, seeds: int, arch: str, epochs: int, lr: float, batch_size: int,
    radii: tuple[float, ...], pgd_steps: int, attack_n: int, device: torch.device | str = "cpu",
) -> pd.DataFrame:
    """Figure 3 on images. A binary model (two classes: J₊ → 1) and a 10-class model per seed; the
    10-class model is read as a binary classifier by its summed logits Σ_{J₊} − Σ_{J₋} and by the
    parity of its argmax. Each readout is attacked on the first `attack_n` test images with L2 PGD
    (cross-entropy of the readout's logits, [0, 1] box) and with the targeted centre attacks
    (`centre_directions` with the class-mean training images as centres). Columns readout, attack,
    seed, radius, robust_accuracy, clean_accuracy (on all of X_test)."""
    check_choice("arch", arch, RESNET_ARCHS)
    for r in radii:
        check_range("radius", r, lo=0.0)
    dev = resolve_device(device)
    k = 10
    signs = class_signs(k, positive).to(dev)
    is_pos = signs > 0
    y, y_test = signs[classes.to(dev)], signs[classes_test.to(dev)]  # ±1
    member_seeds = [INIT_SEED + s for s in range(seeds)]
    opts = {"arch": arch, "epochs": epochs, "lr": lr, "batch_size": batch_size, "device": dev}
    binary = train_image_ensemble(X, (y > 0).long().cpu(), 2, member_seeds, **opts)
    multi = train_image_ensemble(X, classes.cpu(), k, member_seeds, **opts)
    models = {
        "binary": binary,
        "10-class sum": multi.read_as(lambda z: summed_logit(z, signs), 1),
        "10-class argmax": multi.read_as(lambda z: group_max_logits(z, is_pos), 2),
    }
    flat = X.to(dev).reshape(X.shape[0], -1).float()
    centres = torch.stack([flat[classes.to(dev) == j].mean(0) for j in range(k)])
    Xa = X_test[:attack_n].to(dev).reshape(min(attack_n, X_test.shape[0]), -1).float()
    ya, ca = y_test[:attack_n], classes_test[:attack_n].to(dev)
    dirs = centre_directions(Xa, ya, ca, centres, signs)
    grid = np.asarray(radii, float)
    rows = []
    for name, model in models.items():
        clean = binary_accuracy(model, X_test.to(dev).reshape(X_test.shape[0], -1).float(), y_test)
        pgd = pgd_robust(model, Xa, ya, grid, steps=pgd_steps, box=(0.0, 1.0))
        tgt = targeted_robust(model, Xa, ya, dirs, grid, box=(0.0, 1.0)).cpu()
        for row in _curve_rows({"PGD": pgd, "targeted": tgt, "both": pgd & tgt}, grid, readout=name):
            rows.append({**row, "clean_accuracy": float(clean[row["seed"]])})
    return pd.DataFrame(rows)


def image_schedule(dataset: str, prof: Profile) -> tuple[int, tuple[float, ...]]:
    """(epochs, radii) of a dataset: CIFAR-10 has its own; the MNIST-32 stand-in trains and is
    attacked as MNIST is, since its images are MNIST's."""
    check_choice("dataset", dataset, DATASETS)
    if dataset == "cifar10":
        return prof.cifar_epochs, prof.cifar_radii
    return prof.resnet_epochs, prof.mnist_radii


def resnet_table(dataset: str = "mnist", profile: str | None = None) -> pd.DataFrame:
    """Figure 3's real-data panels with ResNet-18 (see `image_curves`) at the profile's sizes; MNIST
    parity (even digits +1, radii in [0, 1] pixel units), CIFAR-10 {0–4} vs {5–9} (needs
    `data.cifar10_available()`), or its stand-in, MNIST-32 digits {0–4} vs {5–9}."""
    check_choice("dataset", dataset, DATASETS)
    prof = get_profile(profile)
    epochs, radii = image_schedule(dataset, prof)

    def compute() -> pd.DataFrame:
        dev = resolve_device("auto")
        X, c, Xt, ct = image_data(dataset, prof.resnet_n, prof.resnet_test)
        return image_curves(
            X, c, Xt, ct, POSITIVE[dataset], seeds=prof.resnet_seeds, arch=prof.resnet_arch,
            epochs=epochs, lr=prof.resnet_lr, batch_size=prof.resnet_batch, radii=radii,
            pgd_steps=prof.resnet_pgd_steps, attack_n=prof.resnet_attack_n, device=dev,
        )

    return store_table("resnet", {"dataset": dataset}, compute, profile=prof.name)



# ---------------------------------------------------------------- peers: Frei et al., Min & Vidal
def frei_network(centres: torch.Tensor, signs: torch.Tensor) -> BiasedTwoLayerEnsemble:
    """Frei et al.'s robust network Σ_q s_q ReLU(⟨4μ_q/d, x⟩ − 2) = (4/d) F_{d/2}(x) (one member)."""
    k, d = centres.shape
    W = (4.0 / d) * centres[None].float()
    return BiasedTwoLayerEnsemble(
        W, torch.full((1, k), -2.0, device=centres.device), signs.float()[None, None, :].to(centres.device)
    )


def peer_table(profile: str | None = None) -> pd.DataFrame:
    """Robust accuracy under the targeted centre attacks of three idealised networks, in the
    synthetic set-up (d, k of the profile) and in Min & Vidal's unit-norm set-up (centres e_j, noise
    α/√D, J₊ = first k1): f_FA (averaged), Frei et al.'s F_{d/2} and the argmax of ⟨μ_j, x⟩. Columns
    setup, network, radius, robust_accuracy; the radius of Min & Vidal's set-up is in their units."""
    prof = get_profile(profile)

    def compute() -> pd.DataFrame:
        rows = []
        setups = {
            f"Li et al. (d={prof.d}, k={prof.k})": (
                orthogonal_centres(prof.d, prof.k, seed=CENTRE_SEED),
                tuple(range(prof.k // 2)),
                1.0,
                np.asarray(prof.radii),
            ),
            f"Min & Vidal (D={prof.mv_d}, k={prof.mv_k}, k1={prof.mv_k1})": (
                torch.eye(prof.mv_k, prof.mv_d, dtype=torch.float64),
                tuple(range(prof.mv_k1)),
                prof.mv_alpha / prof.mv_d**0.5,
                np.asarray(prof.mv_radii),
            ),
        }
        for setup, (centres, positive, noise, radii) in setups.items():
            k, d = centres.shape
            X, y, cl = multi_cluster(centres, prof.attack_n, positive, seed=TEST_SEED, noise_std=noise)
            signs = class_signs(k, positive)
            scale = float(centres[0].norm()) ** 2  # ‖μ‖² (d, or 1 in unit-norm units)
            sums = torch.stack([centres[signs > 0].sum(0), centres[signs < 0].sum(0)])[None].float() / scale
            nets = {
                "averaged f_FA": BiasedTwoLayerEnsemble(
                    sums, torch.zeros(1, 2), torch.tensor([[[1.0, -1.0]]])
                ),
                "Frei et al. F_{d/2}": frei_network(centres / scale**0.5 * d**0.5, signs),
                "argmax": GroupMaxReadout(
                    BiasedTwoLayerEnsemble(
                        centres[None].float() / scale, torch.zeros(1, k), torch.eye(k)[None]
                    ),
                    signs.float(),
                ),
            }
            dirs = centre_directions(X, y, cl, centres, signs)
            for name, net in nets.items():
                # Frei's net lives in units where ‖μ‖² = d: rescale the inputs and radii with it
                factor = (d / scale) ** 0.5 if name.startswith("Frei") else 1.0
                robust = targeted_robust(net, X * factor, y, dirs, radii * factor)
                acc = robust.to(torch.float64).mean(1)[0].numpy()
                rows += [
                    {"setup": setup, "network": name, "radius": float(r), "robust_accuracy": float(a)}
                    for r, a in zip(radii, acc)
                ]
        return pd.DataFrame(rows)

    return store_table("peers", {"what": "idealised"}, compute, profile=prof.name)
