"""Where results live, and a check that a folder can hold them (no heavy imports, so the CLI can
refuse a bad folder before it loads torch)."""
from __future__ import annotations

import os
from pathlib import Path

from .errors import UserError

RESULTS_ENV = "COCORR_RESULTS"


class StoreError(UserError):
    """The result store cannot be used where it points (not a folder, not writable)."""


def default_root() -> Path:
    """$COCORR_RESULTS, else ~/.cache/cocorr/results."""
    env = os.environ.get(RESULTS_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "cocorr" / "results"


def check_writable(folder: Path) -> None:
    """Create `folder` and a probe file in it, then remove the probe; StoreError when that fails,
    naming the folder and the fix."""
    probe = folder / f".probe-{os.getpid()}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with open(probe, "wb") as f:
            f.write(b"probe")
            f.flush()
            os.fsync(f.fileno())
        probe.unlink()
    except OSError as err:
        raise StoreError(f"the result store {folder} cannot be written ({err.strerror or err}); point --out "
                         f"or ${RESULTS_ENV} at a writable folder.") from None
