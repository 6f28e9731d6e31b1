"""Sphinx extension for the book's executable pages and its teaching part.

- Every executed page gets a "Run this page" box: a download link to the page as a Jupyter notebook
  (written at build time into `_notebooks/`, never committed), the command that reruns it, and how
  long it ran in this build.
- The build writes `_static/run-times.json`: each executed page's run time, the profile and the machine.
- `{course-pages}` lists pages (one docname per line) as a table with those links and run times, and
  `{compute-cost}` states how long the stored results of the papers took to compute.
"""
from __future__ import annotations

import json
import os
import platform
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

NOTEBOOK_DIR = "_notebooks"
RECORD = "_static/run-times.json"


class course_pages(nodes.General, nodes.Element):
    """Placeholder for a table of pages, filled once every page has been executed."""


class compute_cost(nodes.General, nodes.Element):
    """Placeholder for the compute cost of the stored results."""


class CoursePages(SphinxDirective):
    has_content = True

    def run(self):
        docnames = [line.strip() for line in self.content if line.strip()]
        missing = [d for d in docnames if d not in self.env.found_docs]
        if missing:
            raise self.error(f"course-pages: unknown page(s) {missing}")
        return [course_pages(docnames=docnames)]


class ComputeCost(SphinxDirective):
    def run(self):
        return [compute_cost()]


def _profile() -> str:
    return os.environ.get("COCORR_PROFILE") or "quick"


def _exec_data(env, docname: str) -> dict | None:
    from myst_nb.sphinx_ import NbMetadataCollector

    data = NbMetadataCollector.get_exec_data(env, docname)
    return data if data and data.get("runtime") is not None else None


def _stem(docname: str) -> str:
    return docname.rsplit("/", 1)[-1]


def _rel(docname: str, target: str) -> str:
    return "../" * docname.count("/") + target


def _seconds(value: float) -> str:
    value = round(value)
    return f"{value} s" if value < 90 else f"{value // 60} min {value % 60:02d} s"


def _rerun_command(docname: str) -> str:
    return f".venv/bin/cocorr page {_stem(docname)} --profile {_profile()}"


def _is_notebook_page(docname: str) -> bool:
    return docname.startswith("notebooks/")


def _download(fromdoc: str, target: str, text: str) -> nodes.reference:
    return nodes.reference(text=text, internal=False, classes=["notebook-download"],
                           refuri=_rel(fromdoc, f"{NOTEBOOK_DIR}/{_stem(target)}.ipynb"))


def _run_box(docname: str, data: dict) -> nodes.Element:
    box = nodes.admonition(classes=["note", "run-this-page"])
    box += nodes.title(text="Run this page")
    para = nodes.paragraph()
    para += _download(docname, docname, f"Download {_stem(docname)}.ipynb")
    para += nodes.Text(" (the page as a notebook, without outputs), or rerun it from the repository root "
                       "after make book with ")
    para += nodes.literal(text=_rerun_command(docname))
    para += nodes.Text(f" (the executed notebook lands in _build/pages/). In this build ({_profile()} "
                       f"profile, {_machine()}) it ran in {_seconds(data['runtime'])}.")
    box += para
    return box


def _machine() -> str:
    return f"{os.cpu_count()} CPU cores"


def add_run_boxes(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    data = _exec_data(app.env, docname)
    if data is not None and _is_notebook_page(docname) and app.builder.format == "html":
        sections = list(doctree.findall(nodes.section))
        if sections:
            title = sections[0].next_node(nodes.title)
            sections[0].insert(sections[0].index(title) + 1, _run_box(docname, data))


def fill_course_pages(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    env = app.env
    for node in list(doctree.findall(course_pages)):
        table = nodes.table(classes=["course-pages"])
        group = nodes.tgroup(cols=3)
        table += group
        for width in (55, 30, 15):
            group += nodes.colspec(colwidth=width)
        head = nodes.thead()
        group += head
        body = nodes.tbody()
        group += body
        head += _row(["Page", "Notebook", "Run time"])
        total = 0.0
        for target in node["docnames"]:
            data = _exec_data(env, target)
            title = env.titles[target].astext() if target in env.titles else target
            page = nodes.reference(text=title, internal=True,
                                   refuri=app.builder.get_relative_uri(docname, target))
            if data is None:
                body += _row([page, "—", "reading only"])
                continue
            total += data["runtime"]
            download = _download(docname, target, f"{_stem(target)}.ipynb")
            body += _row([page, download, _seconds(data["runtime"])])
        note = nodes.paragraph(text=f"Run time of these pages in this build: {_seconds(total)} in all "
                                    f"({_profile()} profile, {_machine()}). Rerun one with ")
        note += nodes.literal(text=_rerun_command("notebooks/NAME"))
        note += nodes.Text(", NAME being its notebook's name without .ipynb.")
        node.replace_self([table, note])


def _row(cells) -> nodes.row:
    row = nodes.row()
    for cell in cells:
        entry = nodes.entry()
        para = nodes.paragraph()
        para += cell if isinstance(cell, nodes.Node) else nodes.Text(str(cell))
        entry += para
        row += entry
    return row


def fill_compute_cost(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    nodes_here = list(doctree.findall(compute_cost))
    if not nodes_here:
        return
    from cocorr_core.catalog import compute_seconds

    seconds = compute_seconds(_profile())
    fresh = compute_seconds(_profile(), since=app.config.book_pages_build_start)
    items = nodes.bullet_list()
    for paper, value in seconds.items():
        when = "computed during this build" if fresh[paper] >= 0.5 * value > 0 else "stored before this build"
        items += nodes.list_item("", nodes.paragraph(text=f"{paper}: {_seconds(value)} ({when})"))
    text = (f"Computing the stored results once ({_profile()} profile, {_machine()}) took, "
            "by their own provenance records:")
    for node in nodes_here:
        node.replace_self([nodes.paragraph(text=text), items.deepcopy()])


def write_notebooks_and_record(app: Sphinx, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    import jupytext
    import nbformat

    out = Path(app.outdir)
    (out / NOTEBOOK_DIR).mkdir(parents=True, exist_ok=True)
    pages = {}
    for docname in sorted(app.env.found_docs):
        data = _exec_data(app.env, docname)
        if data is None:
            continue
        pages[docname] = {"title": app.env.titles[docname].astext(), "seconds": round(data["runtime"], 2),
                          "succeeded": bool(data.get("succeeded")), "rerun": _rerun_command(docname)}
        if _is_notebook_page(docname):
            nb = jupytext.read(Path(app.srcdir) / f"{docname}.md")
            nb.metadata.pop("jupytext", None)
            nbformat.write(nb, out / NOTEBOOK_DIR / f"{_stem(docname)}.ipynb")
    record = {"profile": _profile(), "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                                                 "python": platform.python_version()},
              "pages": pages}
    (out / RECORD).parent.mkdir(parents=True, exist_ok=True)
    (out / RECORD).write_text(json.dumps(record, indent=1) + "\n")


def add_static_css(app: Sphinx, config) -> None:
    config.html_static_path.append(str(Path(__file__).parent / "static"))


def setup(app: Sphinx) -> dict:
    from datetime import datetime, timezone

    app.add_config_value("book_pages_build_start", datetime.now(timezone.utc).isoformat(), "env")
    app.add_node(course_pages)
    app.add_node(compute_cost)
    app.add_directive("course-pages", CoursePages)
    app.add_directive("compute-cost", ComputeCost)
    app.connect("doctree-resolved", add_run_boxes)
    app.connect("doctree-resolved", fill_course_pages)
    app.connect("doctree-resolved", fill_compute_cost)
    app.connect("build-finished", write_notebooks_and_record)
    app.connect("config-inited", add_static_css)
    app.add_css_file("book.css")
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
