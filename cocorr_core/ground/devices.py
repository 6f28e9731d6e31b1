"""Devices: one place that decides between cuda and cpu, and one switch for exact float32.

torch is imported when a function first needs it, so the CLI can check its arguments and the
store before loading it.
"""
from __future__ import annotations

import contextlib
import platform
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .errors import ConfigError

if TYPE_CHECKING:
    import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """Turn 'auto' / 'cpu' / 'cuda' (or 'cuda:N') into a torch.device, with a clear error."""
    import torch

    if isinstance(device, torch.device):
        device = str(device)
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(device, str) or device.split(":")[0] not in ("cpu", "cuda"):
        raise ConfigError(f"device={device!r} is not one of {DEVICE_CHOICES} (or 'cuda:N').")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"device={device!r} was asked for but torch sees no CUDA GPU; use --device cpu or auto."
        )
    return torch.device(device)


def device_name(device: torch.device) -> str:
    """Human-readable name of the hardware behind a device."""
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


@contextlib.contextmanager
def exact_float32() -> Iterator[None]:
    """Switch TF32 off for CUDA matmuls and cuDNN inside the block; restore the settings afterwards."""
    import torch

    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = matmul
        torch.backends.cudnn.allow_tf32 = cudnn
