"""Every chapter page has exercises at three levels, and every exercise has a hidden solution.

The levels are named by the exercise's title: "Check your understanding", "Derive" (finish a sympy
derivation whose first steps are given) and "Experiment" (change a width, a q or a dataset, predict,
then run). A Derive exercise gives its first steps as a Python block; its solution finishes them in
a Python block that asserts the result, and this test runs that block.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
LEVELS = ("Check your understanding", "Derive", "Experiment")
NOT_CHAPTERS = {"book/intro", "book/notation", "book/bibliography", "book/performance", "notebooks/report"}
OPEN = re.compile(r"^(?P<fence>`{3,}|:{3,})\{(?P<kind>exercise|solution)\}[ \t]*(?P<arg>.*)$")


@dataclass
class Block:
    kind: str
    arg: str
    options: dict[str, str]
    body: str
    line: int


def toc_pages() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [ch["file"] for part in toc["parts"] for ch in part["chapters"]]


def chapter_pages() -> list[str]:
    return [p for p in toc_pages() if p not in NOT_CHAPTERS and not p.startswith("book/teaching/")]


def blocks(text: str) -> list[Block]:
    """The exercise and solution directives of a MyST page (backtick or colon fences)."""
    lines = text.splitlines()
    found, i = [], 0
    while i < len(lines):
        m = OPEN.match(lines[i])
        if not m:
            i += 1
            continue
        fence, start = m["fence"], i
        close = re.compile(rf"^{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        j = i + 1
        while j < len(lines) and not close.match(lines[j]):
            j += 1
        if j == len(lines):
            raise AssertionError(f"line {start + 1}: {{{m['kind']}}} fence is never closed")
        body = lines[i + 1:j]
        options = {}
        while body and body[0].startswith(":") and not body[0].startswith(":::"):
            key, _, value = body.pop(0)[1:].partition(":")
            options[key.strip()] = value.strip()
        found.append(Block(m["kind"], m["arg"].strip(), options, "\n".join(body), start + 1))
        i = j + 1
    return found


def python_blocks(body: str) -> list[str]:
    return re.findall(r"^`{3,}(?:python|\{code-block\}\s+python)\s*\n(.*?)^`{3,}\s*$", body, re.S | re.M)


def level(block: Block) -> str | None:
    return next((lv for lv in LEVELS if block.arg.lower().startswith(lv.lower())), None)


def _page_blocks(page: str) -> tuple[list[Block], list[Block]]:
    text = (ROOT / f"{page}.md").read_text()
    found = blocks(text)
    return [b for b in found if b.kind == "exercise"], [b for b in found if b.kind == "solution"]


PAGES = chapter_pages()


def test_chapter_pages_found():
    assert len(PAGES) >= 20 and "notebooks/fig3_init_width" in PAGES and "notebooks/report" not in PAGES


@pytest.mark.parametrize("page", PAGES)
def test_three_levels_each_with_hidden_solution(page):
    exercises, solutions = _page_blocks(page)
    levels = [level(e) for e in exercises]
    unlabelled = [e.line for e in exercises if "label" not in e.options]
    assert not unlabelled, f"{page}: exercises without :label: at lines {unlabelled}"
    untitled = [e.options["label"] for e, lv in zip(exercises, levels) if lv is None]
    assert not untitled, f"{page}: exercises whose title names no level {LEVELS}: {untitled}"
    missing = [lv for lv in LEVELS if lv not in levels]
    assert not missing, f"{page}: no exercise at level(s) {missing}"
    by_target = {}
    for s in solutions:
        by_target.setdefault(s.arg, []).append(s)
    for e in exercises:
        label = e.options["label"]
        sols = by_target.get(label, [])
        assert len(sols) == 1, f"{page}: exercise {label} has {len(sols)} solutions (want 1)"
        assert "dropdown" in sols[0].options.get("class", ""), \
            f"{page}: the solution of {label} is not hidden (add ':class: dropdown')"
    orphans = sorted(set(by_target) - {e.options["label"] for e in exercises})
    assert not orphans, f"{page}: solutions for unknown exercises {orphans}"


@pytest.mark.parametrize("page", PAGES)
def test_experiments_ask_for_a_prediction(page):
    exercises, _ = _page_blocks(page)
    for e in exercises:
        if level(e) == "Experiment":
            assert "predict" in e.body.lower(), \
                f"{page}: experiment {e.options['label']} must ask the reader to predict before running"


def _derive_pairs():
    for page in PAGES:
        exercises, solutions = _page_blocks(page)
        sol = {s.arg: s for s in solutions}
        for e in exercises:
            if level(e) == "Derive" and e.options.get("label") in sol:
                yield pytest.param(page, e, sol[e.options["label"]], id=f"{page}:{e.options['label']}")


@pytest.mark.parametrize(("page", "exercise", "solution"), list(_derive_pairs()))
def test_derive_solutions_run_and_assert(page, exercise, solution):
    """The given first steps use sympy; the solution's code finishes them and its asserts hold."""
    given = python_blocks(exercise.body)
    assert given and any("sympy" in g for g in given), \
        f"{page}: derive exercise {exercise.options['label']} gives no sympy first steps"
    code = python_blocks(solution.body)
    assert code, f"{page}: the solution of {exercise.options['label']} has no Python block"
    source = "\n".join(code)
    assert "assert" in source, f"{page}: the solution of {exercise.options['label']} asserts nothing"
    exec(compile(source, f"{page}:{exercise.options['label']}", "exec"), {"__name__": "solution"})


def test_parser_on_a_known_page():
    """The parser itself: nested fences, options and levels on a synthetic page."""
    text = "\n".join([
        "````{exercise} Derive: a square", ":label: ex-a", "", "```python", "import sympy", "```", "````",
        "````{solution} ex-a", ":class: dropdown", "", "```python", "assert 1 + 1 == 2", "```", "````",
        ":::{exercise} Experiment", ":label: ex-b", "Predict first.", ":::",
    ])
    got = blocks(text)
    assert [(b.kind, b.options.get("label"), level(b)) for b in got] == [
        ("exercise", "ex-a", "Derive"), ("solution", None, None), ("exercise", "ex-b", "Experiment")]
    assert python_blocks(got[1].body) == ["assert 1 + 1 == 2\n"]
    assert got[1].arg == "ex-a" and got[1].options == {"class": "dropdown"}
    with pytest.raises(AssertionError, match="never closed"):
        blocks("```{exercise} Derive\n:label: x\n")
