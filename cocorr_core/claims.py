"""The reproduction ledger.

A claim is a paper's statement in our words plus a check: a function of stored (or freshly
computed) results that returns the measured numbers and a verdict derived from them with an
explicit tolerance. Verdicts are never typed in.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable

from .config import ConfigError, profile_name

VERDICTS = ("reproduced", "partly", "not reproduced", "not run")
# Modules that define claims; importing one registers its claims.
CLAIM_MODULES = ("cocorr_core.claims_theory", "cocorr_core.claims_dynamics", "cocorr_core.claims_figures")


@dataclass(frozen=True)
class CheckResult:
    verdict: str
    numbers: dict[str, Any]
    criterion: str  # the explicit test applied to the numbers, e.g. "slope < -0.05"

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r} is not one of {VERDICTS}")


@dataclass(frozen=True)
class Claim:
    id: str                       # e.g. "wang24.fig3.negative_q_flat"
    paper: str                    # bibtex key, e.g. "wang2024implicit"
    statement: str                # the paper's claim in our words
    check: Callable[[str], CheckResult] = field(repr=False)  # profile name -> result
    page: str = ""                # notebook that shows it, e.g. "fig3_init_width"


_REGISTRY: dict[str, Claim] = {}


def register(claim: Claim) -> Claim:
    if claim.id in _REGISTRY and _REGISTRY[claim.id] is not claim:
        raise ValueError(f"claim id {claim.id!r} is registered twice")
    _REGISTRY[claim.id] = claim
    return claim


def all_claims() -> list[Claim]:
    for mod in CLAIM_MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name != mod:
                raise
    return sorted(_REGISTRY.values(), key=lambda c: c.id)


def get_claim(claim_id: str) -> Claim:
    claims = {c.id: c for c in all_claims()}
    if claim_id not in claims:
        raise ConfigError(f"unknown claim {claim_id!r}; known: {sorted(claims)}")
    return claims[claim_id]


def verdict_from(conditions: dict[str, bool]) -> str:
    """'reproduced' if every condition holds, 'partly' if some do, else 'not reproduced'."""
    if not conditions:
        raise ValueError("a verdict needs at least one condition")
    held = sum(bool(v) for v in conditions.values())
    if held == len(conditions):
        return "reproduced"
    return "partly" if held else "not reproduced"


def evaluate(claim: Claim, profile: str | None = None) -> dict[str, Any]:
    """Run one claim's check and return a ledger entry (a plain dict, JSON-ready)."""
    prof = profile_name(profile)
    result = claim.check(prof)
    return {
        "id": claim.id,
        "paper": claim.paper,
        "statement": claim.statement,
        "verdict": result.verdict,
        "criterion": result.criterion,
        "numbers": result.numbers,
        "profile": prof,
        "page": claim.page,
    }


def ledger(profile: str | None = None, ids: list[str] | None = None) -> list[dict[str, Any]]:
    """Evaluate every registered claim (or those in `ids`)."""
    claims = all_claims() if ids is None else [get_claim(i) for i in ids]
    return [evaluate(c, profile) for c in claims]
