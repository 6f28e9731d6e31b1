"""The reproduction ledger: claims, their computed verdicts, and how a page shows them.

An entry is a statement in our words plus a check: a function of stored (or freshly computed)
results that returns the measured numbers and a verdict derived from them with an explicit
criterion. Verdicts are never typed in. Entries are of two kinds, counted apart:

- "claim": a paper's substantive statement, tested as the paper states it;
- "check": an identity or sanity check of our own mathematics (it holds by algebra or calculus
  once the code is right, so it says nothing about the paper).

Each paper lists its entries in its front (`CLAIMS`); this module evaluates and renders any list.
"""
from __future__ import annotations

import html
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..ground.errors import ConfigError
from ..ground.profiles import profile_name

VERDICTS = ("reproduced", "partly", "not reproduced", "not run")
KINDS = ("claim", "check")
BADGE_COLOURS = {"reproduced": "#1a7f37", "partly": "#9a6700", "not reproduced": "#cf222e",
                 "not run": "#6e7781"}


@dataclass(frozen=True)
class CheckResult:
    """A check's outcome: one of VERDICTS, the numbers it was decided from, and the criterion in words."""

    verdict: str
    numbers: dict[str, Any]
    criterion: str  # the explicit test applied to the numbers, e.g. "slope < -0.05"
    deciding: tuple[str, ...] = ()   # dotted names in `numbers` that decide the verdict (shown unfolded)
    sizes: str = ""                  # the sizes and seeds behind the numbers, in words

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r} is not one of {VERDICTS}")
        known = dict(_flat_numbers(self.numbers))
        missing = [name for name in self.deciding if name not in known and name not in self.numbers]
        if missing:
            raise ValueError(f"deciding number(s) {missing} are not in numbers {sorted(known)}")


@dataclass(frozen=True)
class Claim:
    """One ledger entry: `check(profile)` computes its CheckResult from results at that profile."""

    id: str                       # e.g. "wang24.fig3.negative_q_flat"
    paper: str                    # bibtex key, e.g. "wang2024implicit"
    statement: str                # the paper's claim in our words
    check: Callable[[str], CheckResult] = field(repr=False)  # profile name -> result
    page: str = ""                # notebook that shows it, e.g. "fig3_init_width"
    kind: str = "claim"           # "claim" (the paper's statement) or "check" (our own mathematics)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"claim {self.id!r}: kind {self.kind!r} is not one of {KINDS}")


def verdict_from(conditions: dict[str, bool]) -> str:
    """'reproduced' if every condition holds, 'partly' if some do, else 'not reproduced'."""
    if not conditions:
        raise ValueError("a verdict needs at least one condition")
    held = sum(bool(v) for v in conditions.values())
    if held == len(conditions):
        return "reproduced"
    return "partly" if held else "not reproduced"


def check_unique(claims: Sequence[Claim]) -> list[Claim]:
    """The claims sorted by id; a ValueError names any id that appears twice."""
    seen: dict[str, Claim] = {}
    for claim in claims:
        if claim.id in seen and seen[claim.id] is not claim:
            raise ValueError(f"claim id {claim.id!r} appears twice")
        seen[claim.id] = claim
    return sorted(seen.values(), key=lambda c: c.id)


def find_claim(claims: Iterable[Claim], claim_id: str) -> Claim:
    """The claim with `claim_id`, or a ConfigError listing the known ids."""
    by_id = {c.id: c for c in claims}
    if claim_id not in by_id:
        raise ConfigError(f"unknown claim {claim_id!r}; known: {sorted(by_id)}")
    return by_id[claim_id]


def page_verdicts(claims: Sequence[Claim], page: str | None = None, ids: Sequence[str] | None = None,
                  profile: str | None = None) -> Verdicts:
    """Evaluate the claims shown on `page` (or those in `ids`, or all) at the profile, as verdict cards:
    what every paper's front offers its notebooks as `verdicts(...)`."""
    chosen = ([find_claim(claims, i) for i in ids] if ids is not None
              else [c for c in claims if page is None or c.page == page])
    return Verdicts([evaluate(c, profile) for c in chosen])


def evaluate(claim: Claim, profile: str | None = None) -> dict[str, Any]:
    """Run one claim's check and return a ledger entry (a plain dict, JSON-ready)."""
    prof = profile_name(profile)
    result = claim.check(prof)
    return {
        "id": claim.id,
        "kind": claim.kind,
        "paper": claim.paper,
        "statement": claim.statement,
        "verdict": result.verdict,
        "criterion": result.criterion,
        "numbers": result.numbers,
        "deciding": list(result.deciding),
        "sizes": result.sizes,
        "profile": prof,
        "page": claim.page,
    }


def ledger(claims: Sequence[Claim], profile: str | None = None) -> list[dict[str, Any]]:
    """Evaluate every claim of `claims` at the profile, in id order."""
    return [evaluate(c, profile) for c in check_unique(claims)]


def tally(entries: Sequence[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """{kind: {verdict: count}} over ledger entries, every kind and verdict present (zeros too)."""
    counts = {kind: dict.fromkeys(VERDICTS, 0) for kind in KINDS}
    for e in entries:
        counts[e.get("kind", "claim")][e["verdict"]] += 1
    return counts


def count_line(entries: Sequence[dict[str, Any]], kind: str) -> str:
    """'N claims: a reproduced, b partly, ...' for one kind of entry."""
    c = tally(entries)[kind]
    return f"{sum(c.values())} {kind}s: " + (", ".join(f"{n} {v}" for v, n in c.items() if n) or "none")


def headline(entries: Sequence[dict[str, Any]]) -> str:
    """The headline: the paper's claims counted by verdict (checks are counted apart, `count_line`)."""
    return count_line(entries, "claim")


# ---------------------------------------------------------------- rendering for a reader
def _number_text(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_number_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_number_text(v)}" for k, v in value.items())
    return str(value)


def _flat_numbers(numbers: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested numbers as (dotted name, value) rows, so a card never shows raw JSON."""
    rows = []
    for k, v in numbers.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            rows += _flat_numbers(v, f"{name}.")
        else:
            rows.append((name, v))
    return rows


def render_verdicts(entries: Sequence[dict[str, Any]], *, links: bool = False) -> str:
    """HTML for ledger entries: per entry a verdict badge, the statement, the criterion in words,
    and the measured numbers folded away in a <details> list (long values wrap). With `links`,
    each entry links to its page. Used by every page that shows verdicts and by the report."""
    cards = []
    for e in entries:
        colour = BADGE_COLOURS.get(e["verdict"], "#6e7781")
        page = (f' · <a href="{html.escape(e["page"])}.html">{html.escape(e["page"])}</a>'
                if links and e.get("page") else "")
        rows = "".join(
            f"<li><code>{html.escape(k)}</code>: {html.escape(_number_text(v))}</li>"
            for k, v in _flat_numbers(e["numbers"]))
        kind = e.get("kind", "claim")
        flat = dict(_flat_numbers(e["numbers"]))
        deciding = "".join(
            f'<li><code>{html.escape(name)}</code>: '
            f'{html.escape(_number_text(flat[name] if name in flat else e["numbers"][name]))}</li>'
            for name in e.get("deciding", ()))
        deciding = f'<ul style="margin:0.2em 0;font-size:0.9em">{deciding}</ul>' if deciding else ""
        sizes = (f'<p style="margin:0.2em 0;font-size:0.85em"><em>Sizes:</em> {html.escape(e["sizes"])}</p>'
                 if e.get("sizes") else "")
        cards.append(
            '<div class="cocorr-verdict" style="border-left:4px solid {c};padding:0.3em 0.8em;margin:0.6em 0;'
            'overflow-wrap:anywhere;max-width:100%">'
            '<span style="background:{c};color:#fff;border-radius:3px;padding:0 0.4em;font-size:0.85em">'
            '{v}</span> <span style="font-size:0.8em;border:1px solid #8c959f;border-radius:3px;'
            'padding:0 0.3em">{kind}</span> '
            '<code style="font-size:0.8em">{id}</code>{page}'
            '<p style="margin:0.3em 0">{s}</p>'
            '<p style="margin:0.3em 0;font-size:0.9em"><em>Criterion:</em> {crit}</p>'
            '{deciding}{sizes}'
            '<details style="font-size:0.85em"><summary>all numbers ({prof} profile)</summary>'
            '<ul>{rows}</ul></details>'
            "</div>".format(c=colour, v=html.escape(e["verdict"]), kind=html.escape(kind),
                            id=html.escape(e["id"]), page=page,
                            s=html.escape(e["statement"]), crit=html.escape(e["criterion"]),
                            prof=html.escape(e.get("profile", "")), rows=rows,
                            deciding=deciding, sizes=sizes))
    return "\n".join(cards)


class Verdicts:
    """Ledger entries that display as verdict cards in a notebook (`render_verdicts`)."""

    def __init__(self, entries: Sequence[dict[str, Any]], links: bool = False):
        self.entries = list(entries)
        self.links = links

    def _repr_html_(self) -> str:
        return render_verdicts(self.entries, links=self.links)

    def __repr__(self) -> str:
        return "\n".join(f"{e['verdict'].upper()} ({e.get('kind', 'claim')}): {e['id']} - {e['criterion']}"
                         for e in self.entries)

    def __getitem__(self, claim_id: str) -> dict[str, Any]:
        for e in self.entries:
            if e["id"] == claim_id:
                return e
        raise KeyError(claim_id)
