"""Fingerprints of the core's source, which key the result store.

Stored results are namespaced by the fingerprint of the shared layers plus that of one
paper, so an edit to one paper keeps every other paper's results, while an edit to a shared
layer (which every paper's numbers depend on) starts fresh namespaces for all of them.
"""
from __future__ import annotations

import hashlib
from functools import cache, lru_cache
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]
PAPERS_DIR = PACKAGE_DIR / "papers"
# Modules above every layer that computes numbers: editing them changes no stored result.
TOP_MODULES = ("cli.py", "catalog.py")


def _digest(files: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(PACKAGE_DIR).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


@lru_cache(maxsize=1)
def shared_fingerprint() -> str:
    """Hash of the shared layers' source (every module outside `papers/` and the top modules)."""
    files = [p for p in sorted(PACKAGE_DIR.rglob("*.py"))
             if PAPERS_DIR not in p.parents and p.relative_to(PACKAGE_DIR).as_posix() not in TOP_MODULES]
    return _digest(files)


@cache
def paper_fingerprint(paper: str) -> str:
    """Hash of one paper's subpackage `papers/<paper>/`."""
    folder = PAPERS_DIR / paper
    if not folder.is_dir():
        raise ValueError(f"no paper subpackage {paper!r} under {PAPERS_DIR}")
    return _digest(sorted(folder.rglob("*.py")))
