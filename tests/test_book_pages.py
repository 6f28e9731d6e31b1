"""The book's Sphinx extension (book/_ext/book_pages.py) on a tiny book built with Jupyter Book:
run boxes with a download link and a rerun command, notebooks written at build time, the
run-time record, and the course table."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
JB = Path(sys.executable).with_name("jupyter-book")
sys.path.insert(0, str(ROOT / "tests"))
from tiny_pages import tiny_page  # noqa: E402

NOTEBOOK = tiny_page("A tiny page", "print(6 * 7)")
COURSE = """# Course

```{course-pages}
notebooks/tiny
book/prose
```
"""


def _text(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html)


@pytest.fixture(scope="module")
def tiny_book(tmp_path_factory):
    if not JB.exists():
        pytest.skip("jupyter-book is not installed in this environment")
    src = tmp_path_factory.mktemp("book")
    (src / "book").mkdir()
    (src / "notebooks").mkdir()
    shutil.copytree(ROOT / "book" / "_ext", src / "book" / "_ext")
    (src / "notebooks" / "tiny.md").write_text(NOTEBOOK)
    (src / "book" / "prose.md").write_text("# Prose\n\nNo code here.\n")
    (src / "book" / "course.md").write_text(COURSE)
    (src / "_toc.yml").write_text("format: jb-book\nroot: book/course\nchapters:\n"
                                  "  - file: notebooks/tiny\n  - file: book/prose\n")
    (src / "_config.yml").write_text(
        "title: tiny\nonly_build_toc_files: true\nexecute: {execute_notebooks: force}\n"
        "sphinx:\n  local_extensions: {book_pages: book/_ext}\n")
    done = subprocess.run([str(JB), "build", str(src), "-W", "-n"], capture_output=True, text=True,
                          env={"PATH": f"{JB.parent}:/usr/bin:/bin", "COCORR_PROFILE": "quick",
                               "HOME": str(src)}, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return src / "_build" / "html"


def test_run_box_links_a_notebook_written_at_build(tiny_book):
    page = (tiny_book / "notebooks" / "tiny.html").read_text()
    assert "Run this page" in page and 'href="../_notebooks/tiny.ipynb"' in page
    assert ".venv/bin/cocorr page tiny --profile quick" in _text(page)
    nb = json.loads((tiny_book / "_notebooks" / "tiny.ipynb").read_text())
    assert nb["nbformat"] == 4
    sources = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    assert sources == ["PROFILE = None", "print(6 * 7)"]
    assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code")


def test_record_has_each_executed_page_and_no_prose_page(tiny_book):
    record = json.loads((tiny_book / "_static" / "run-times.json").read_text())
    assert record["profile"] == "quick" and record["machine"]["cpu_count"] >= 1
    assert set(record["pages"]) == {"notebooks/tiny"}
    tiny = record["pages"]["notebooks/tiny"]
    assert tiny["succeeded"] and tiny["seconds"] > 0 and tiny["title"] == "A tiny page"


def test_course_table_lists_pages_with_their_times(tiny_book):
    html = (tiny_book / "book" / "course.html").read_text()
    assert 'href="../notebooks/tiny.html"' in html and 'href="../_notebooks/tiny.ipynb"' in html
    assert "reading only" in html                # the prose page has no run time
    assert "Run time of these pages in this build" in html
    assert ".venv/bin/cocorr page NAME --profile quick" in _text(html)
    assert "Run this page" not in html           # no box on a page without code
