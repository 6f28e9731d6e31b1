"""Device resolution: one place that decides between cuda and cpu."""
from __future__ import annotations

import torch

from .config import ConfigError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """Turn 'auto' / 'cpu' / 'cuda' (or 'cuda:N') into a torch.device, with a clear error."""
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
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    import platform

    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
