"""The book as one PDF (`make pdf`, tools/book_pdf.py): its checks on small PDFs with known
answers, then (marked `browser`) the same checks on the printed book: every figure shows
something, no math is left as LaTeX source, and every book page with figures keeps them.
"""
from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from tools import book_pdf  # noqa: E402

HTML = ROOT / "_build" / "html"
PDF = ROOT / "_build" / "pdf" / "book.pdf"
TOC = ROOT / "_toc.yml"
A4 = (8.27, 11.69)  # inches


# ---------------------------------------------------------------------------- synthetic PDFs

def _page(draw) -> object:
    from matplotlib.figure import Figure

    fig = Figure(figsize=A4)
    draw(fig)
    return fig


def _write_pdf(path: Path, figures: list, titles: list[str] | None = None) -> Path:
    """Write matplotlib figures as the pages of a PDF, with one top-level bookmark per title."""
    import matplotlib
    from matplotlib.backends.backend_pdf import PdfPages
    from pypdf import PdfWriter

    with matplotlib.rc_context({"pdf.fonttype": 42}), PdfPages(path) as pages:
        for fig in figures:
            pages.savefig(fig)
    if titles:
        writer = PdfWriter(clone_from=str(path))
        for number, title in enumerate(titles):
            writer.add_outline_item(title=title, page_number=number)
        writer.write(str(path))
    return path


def _noise(fig) -> None:
    fig.figimage(np.random.default_rng(0).random((200, 300)), xo=100, yo=400, cmap="gray", vmin=0, vmax=1)
    fig.text(0.1, 0.9, "A page with a figure and no raw math.")


def _blank(fig) -> None:
    fig.figimage(np.full((200, 300), 0.5), xo=100, yo=400, cmap="gray", vmin=0, vmax=1)
    fig.text(0.1, 0.9, "A page whose figure is one flat colour.")


def _raw_math(fig) -> None:
    fig.text(0.1, 0.5, r"The ratio \frac{a}{b} was never typeset.")


def _code_with_tex(fig) -> None:
    fig.text(0.1, 0.5, r'ax.set_ylabel(r"$\varrho$ and \frac{a}{b}")', family="DejaVu Sans Mono")


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pdf") / "synthetic.pdf"
    figures = [_page(draw) for draw in (_noise, _blank, _raw_math, _code_with_tex)]
    return _write_pdf(path, figures, titles=["Good", "Blank", "Raw", "Code"])


def test_image_regions_tell_a_figure_from_a_blank_box(synthetic):
    regions = book_pdf.image_regions(synthetic)
    assert [len(page) for page in regions] == [1, 1, 0, 0]
    good, blank = regions[0][0], regions[1][0]
    # Uniform noise has std 74 on 0..255; rendering at 72 dpi averages it down, far above blank.
    assert not good.blank and good.std > 20
    assert blank.blank and blank.std < 1
    assert book_pdf.blank_images(regions) == [blank]
    # The box is where figimage put it: at 100 dpi, 100 px = 72 pt and 300 px = 216 pt.
    assert good.box == pytest.approx((72, 288, 288, 432), abs=0.5)


def test_raw_latex_is_found_in_prose_and_not_in_code(synthetic):
    texts = book_pdf.prose_texts(synthetic)
    assert "no raw math" in texts[0]
    assert "varrho" not in texts[3]  # the fixed-pitch (code) line is left out
    assert book_pdf.raw_latex_pages(texts) == {2: ["\\frac"]}


@pytest.mark.parametrize("text, markers", [
    ("the ratio a/b, typeset", []),
    (r"where \(x\) is", ["\\(", "\\)"]),
    (r"$$\mathrm{d}x$$", ["\\mathrm", "$$"]),
    (r"\begin{align} a \end{align}", ["\\begin{", "\\end{"]),
    (r"co-correlation \varrho", ["\\varrho"]),
])
def test_raw_latex_markers(text, markers):
    assert book_pdf.raw_latex(text) == markers


def test_sections_follow_the_bookmarks_and_find_pages_without_figures(synthetic):
    sections = book_pdf.sections(synthetic)
    assert sections == [book_pdf.Section("Good", 0, 1), book_pdf.Section("Blank", 1, 2),
                        book_pdf.Section("Raw", 2, 3), book_pdf.Section("Code", 3, 4)]
    regions = book_pdf.image_regions(synthetic)
    assert book_pdf.sections_without_figures(sections, regions, [True, True, False, False]) == []
    assert book_pdf.sections_without_figures(sections, regions, [True, False, True, True]) == ["Raw", "Code"]
    with pytest.raises(ValueError, match="4 sections but 2"):
        book_pdf.sections_without_figures(sections, regions, [True, False])


def _chromium_like_pdf(tmp_path: Path, name: str, title: str, headings: list[str], pages: int) -> bytes:
    """A PDF with the outline Chromium prints for a book page: the page title (the theme's
    print-only <h1>) holding "Contents" and the page's headings, one heading per page."""
    from pypdf import PdfWriter

    path = _write_pdf(tmp_path / name, [_page(_raw_math if i else _noise) for i in range(pages)])
    writer = PdfWriter(clone_from=str(path))
    top = writer.add_outline_item(title=title, page_number=0)
    writer.add_outline_item(title="Contents", page_number=0, parent=top)
    for number, heading in enumerate(headings):
        writer.add_outline_item(title=heading, page_number=number, parent=top)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def test_merge_gives_one_bookmark_per_book_page_with_its_headings(tmp_path):
    from pypdf import PdfReader

    first = _chromium_like_pdf(tmp_path, "a.pdf", "Intro", ["Why", "SetupSetup"], pages=2)
    second = _chromium_like_pdf(tmp_path, "b.pdf", "Chapter", ["Statement", "Proof", "Exercises"], pages=3)
    out = tmp_path / "out" / "book.pdf"
    assert book_pdf.merge([first, second], ["Intro page", "Chapter one"], out) == 5
    assert book_pdf.sections(out) == [book_pdf.Section("Intro page", 0, 2),
                                      book_pdf.Section("Chapter one", 2, 5)]
    reader = PdfReader(out)
    children = [item for item in reader.outline if isinstance(item, list)]
    assert [[str(h.title) for h in group] for group in children] == [
        ["Why", "Setup"], ["Statement", "Proof", "Exercises"]]
    assert [reader.get_destination_page_number(h) for h in children[1]] == [2, 3, 4]
    with pytest.raises(ValueError):
        book_pdf.merge([first], ["one", "two"], tmp_path / "bad.pdf")


# ---------------------------------------------------------------------------- the book's pages

def test_toc_pages_in_reading_order(tmp_path):
    toc = tmp_path / "_toc.yml"
    toc.write_text("format: jb-book\nroot: book/intro\nparts:\n"
                   "  - caption: One\n    chapters:\n      - file: book/notation\n"
                   "      - file: notebooks/a\n        sections:\n          - file: notebooks/a_more.ipynb\n"
                   "  - caption: Two\n    chapters:\n      - file: book/bibliography.md\n")
    assert book_pdf.toc_pages(toc) == ["book/intro.html", "book/notation.html", "notebooks/a.html",
                                       "notebooks/a_more.html", "book/bibliography.html"]


def test_html_title_and_figures(tmp_path):
    page = tmp_path / "page.html"
    page.write_text("<html><head><title>Lemma B.2: how long is \\(W(0)x\\)? &#8212; The book</title></head>"
                    "<body><nav><img src='logo.png'></nav><article class='bd-article'><p>text</p>"
                    "</article></body></html>")
    assert book_pdf.html_title(page) == "Lemma B.2: how long is W(0)x?"
    assert not book_pdf.has_figures(page)  # the logo sits outside the article
    page.write_text("<html><title>Figure 1 &#8212; The book</title><article class='bd-article'>"
                    "<img src='../_images/fig.png'></article></html>")
    assert book_pdf.html_title(page) == "Figure 1"
    assert book_pdf.has_figures(page)


def test_missing_book_says_run_make_book(tmp_path, capsys):
    code = book_pdf.main(["--html", str(tmp_path), "--out", str(tmp_path / "b.pdf"), "--toc", str(TOC)])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("book_pdf: error:") and "run make book first" in err


def test_missing_page_of_the_toc_says_run_make_book(tmp_path):
    (tmp_path / "index.html").write_text("<html></html>")
    with pytest.raises(book_pdf.BookPdfError, match="book/intro.html.*run make book first"):
        book_pdf.build(tmp_path, tmp_path / "b.pdf", TOC)


def test_missing_chromium_says_run_make_browser(monkeypatch):
    monkeypatch.setattr(book_pdf, "CHROMIUM_CANDIDATES", ())
    monkeypatch.setattr(book_pdf.shutil, "which", lambda name: None)
    with pytest.raises(book_pdf.BookPdfError, match="run make browser"):
        book_pdf.find_chromium()


# ---------------------------------------------------------------------------- the printed book

@pytest.fixture(scope="module")
def printed():
    if not PDF.exists():
        pytest.skip("no PDF of the book: run make pdf")
    if not (HTML / "index.html").exists():
        pytest.skip("no built book: run make book first")
    return PDF


@pytest.fixture(scope="module")
def regions(printed):
    return book_pdf.image_regions(printed)


def _pngs(pages: list[int], out: Path) -> list[str]:
    return [str(book_pdf.render_page_png(PDF, page, out / f"page{page + 1}.png")) for page in pages[:5]]


@pytest.mark.browser
def test_pdf_has_one_bookmark_per_book_page(printed):
    pages = book_pdf.toc_pages(TOC)
    titles = [section.title for section in book_pdf.sections(printed)]
    assert titles == [book_pdf.html_title(HTML / page) for page in pages], \
        "the PDF's bookmarks are not the book's pages in order: run make pdf again"


@pytest.mark.browser
def test_pdf_figures_are_not_blank(printed, regions, tmp_path):
    assert any(regions), "the PDF shows no image at all"
    blank = book_pdf.blank_images(regions)
    assert not blank, (f"blank figures on PDF pages {[r.page + 1 for r in blank]} "
                       f"(rendered: {_pngs([r.page for r in blank], tmp_path)})")


@pytest.mark.browser
def test_pdf_has_no_raw_latex(printed, tmp_path):
    found = book_pdf.raw_latex_pages(book_pdf.prose_texts(printed))
    assert not found, (f"untypeset LaTeX on PDF pages { {p + 1: m for p, m in found.items()} } "
                       f"(rendered: {_pngs(list(found), tmp_path)})")


@pytest.mark.browser
def test_every_book_page_with_figures_keeps_them_in_the_pdf(printed, regions):
    sections = book_pdf.sections(printed)
    pages = book_pdf.toc_pages(TOC)
    assert len(sections) == len(pages), "the PDF's bookmarks do not match _toc.yml: run make pdf again"
    with_figures = [book_pdf.has_figures(HTML / page) for page in pages]
    assert any(with_figures), "no page of the built book has a figure"
    missing = book_pdf.sections_without_figures(sections, regions, with_figures)
    assert not missing, f"book pages whose figures are missing from the PDF: {missing}"
