"""The built HTML book printed to one PDF, and the checks its test applies to that PDF.

    python tools/book_pdf.py [--html _build/html] [--out _build/pdf/book.pdf] [--toc _toc.yml]

Every page of the book, in the order of `_toc.yml`, is opened in Debian's Chromium (driven by
Playwright, which never downloads a browser), printed to A4 once MathJax has typeset it and its
images have loaded, and the pages are merged with pypdf. The merged PDF carries one top-level
bookmark per book page (its title), with the page's own headings below it, so a reader gets a
table of contents and a test can find each book page's section of the PDF.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import html
import http.server
import io
import re
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_HTML = ROOT / "_build" / "html"
DEFAULT_OUT = ROOT / "_build" / "pdf" / "book.pdf"
DEFAULT_TOC = ROOT / "_toc.yml"

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LOAD_TIMEOUT_MS = 60_000
TYPESET_TIMEOUT_MS = 30_000
# A4 is 210 mm wide: these margins leave the content 182 mm (about 690 css px).
MARGIN = {"top": "16mm", "bottom": "16mm", "left": "14mm", "right": "14mm"}

# The theme hides its navbar in print; the sidebars, buttons and footers go too, and the
# article takes the whole width. Wide code wraps, wide tables shrink, figures never split.
PRINT_CSS = """
@media print {
  .bd-header, .bd-header-article, .bd-sidebar-primary, .bd-sidebar-secondary, .bd-sidebar,
  .bd-footer, .bd-footer-article, .bd-footer-content, .prev-next-area, .prev-next-footer,
  .header-article-items, .article-header-buttons, .sidebar-toggle, .search-button,
  .theme-switch-button, .headerlink, .copybtn, button.toggle-button, .skip-link,
  #pst-back-to-top, .bd-search { display: none !important; }
  html, body { background: white !important; }
  .bd-container, .bd-container__inner, .bd-main, .bd-content, .bd-article-container, .bd-article,
  .bd-page-width, main { max-width: 100% !important; width: 100% !important; margin: 0 !important;
    padding-left: 0 !important; padding-right: 0 !important; flex: 1 1 100% !important; }
  pre, code, .highlight pre { white-space: pre-wrap !important; overflow-wrap: anywhere !important;
    word-break: break-word; }
  .highlight, div.cell_output, div.output, .table-wrapper, .pst-scrollable-table-container,
  .cocorr-verdict { overflow: visible !important; max-width: 100% !important; }
  table { max-width: 100% !important; table-layout: auto; font-size: 0.8em; }
  td, th { overflow-wrap: anywhere; }
  mjx-container[display="true"] { max-width: 100%; overflow: visible !important; }
  mjx-container[display="true"] > svg { max-width: 100% !important; height: auto; }
  img { max-width: 100% !important; height: auto !important; break-inside: avoid; }
  figure, div.cell_output img { break-inside: avoid; }
  h1, h2, h3, h4 { break-after: avoid; }
}
"""

# Text that only appears in a PDF when MathJax did not typeset some math.
RAW_LATEX = ("\\frac", "\\mathrm", "\\mathbb", "\\mathcal", "\\operatorname", "\\begin{", "\\end{",
             "$$", "\\(", "\\)", "\\[", "\\]", "\\varrho", "\\varepsilon", "\\sqrt", "\\sum_",
             "\\left", "\\right", "\\langle", "\\rangle", "\\top", "\\cdot")
# A rendered figure region whose grey levels (0..255) vary less than this is blank.
BLANK_STD = 2.0
RENDER_SCALE = 1.0  # 72 dpi: enough to tell a plot from a blank box
_FIXED_PITCH = 1  # bit 1 of a PDF font's flags: the font of code
CHROMIUM_CANDIDATES = ("/usr/bin/chromium",)


class BookPdfError(RuntimeError):
    """A missing input (built book, Chromium, Playwright): the message says what to run."""


# ---------------------------------------------------------------------------- the book's pages

def toc_pages(toc_file: Path) -> list[str]:
    """The book's pages as HTML paths (e.g. 'book/intro.html'), in reading order: root, then every
    chapter of every part (and any sections nested under them)."""
    import yaml

    toc = yaml.safe_load(Path(toc_file).read_text())
    pages = [toc["root"]]

    def walk(entries) -> None:
        for entry in entries or []:
            if "file" in entry:
                pages.append(entry["file"])
            walk(entry.get("sections"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return [re.sub(r"\.(md|ipynb|rst)$", "", p) + ".html" for p in pages]


def html_title(html_file: Path) -> str:
    """A page's title as the book shows it: its <title> without the book's name."""
    match = re.search(r"<title>(.*?)</title>", Path(html_file).read_text(errors="ignore"), re.S)
    if not match:
        return Path(html_file).stem
    title = html.unescape(match.group(1)).split(" \u2014 ")[0]
    # Inline math in a title keeps its TeX source, without the delimiters.
    return " ".join(re.sub(r"\\[()]", "", title).split())


def has_figures(html_file: Path) -> bool:
    """Whether the article body of a built page shows an <img>."""
    text = Path(html_file).read_text(errors="ignore")
    start = text.find("<article")
    end = text.find("</article>", start)
    return start >= 0 and "<img" in text[start:end]


# ---------------------------------------------------------------------------- printing

class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def serve(html_dir: Path) -> Iterator[str]:
    """Serve `html_dir` on 127.0.0.1 at a free port; yield its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(html_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def find_chromium() -> str:
    """Debian's Chromium, which Playwright drives instead of a browser of its own."""
    for path in CHROMIUM_CANDIDATES:
        if Path(path).exists():
            return path
    path = shutil.which("chromium")
    if path is None:
        raise BookPdfError("Chromium is not installed: run make browser")
    return path


def _ready(page) -> None:
    """Wait until MathJax (if the page uses it) has typeset and every image has decoded."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(
            "() => !window.MathJax || (window.MathJax.startup && window.MathJax.startup.promise)",
            timeout=TYPESET_TIMEOUT_MS)
    except PlaywrightTimeout:
        raise BookPdfError(f"{page.url}: MathJax did not start within {TYPESET_TIMEOUT_MS} ms") from None
    page.evaluate("() => window.MathJax ? window.MathJax.startup.promise.then(() => true) : true")
    broken = page.evaluate("""async () => {
      const images = Array.from(document.images);
      await Promise.all(images.map(i => i.decode().catch(() => null)));
      return images.filter(i => !i.naturalWidth).map(i => i.currentSrc || i.src);
    }""")
    if broken:
        raise BookPdfError(f"{page.url}: images that did not load: {broken}")


def print_pages(html_dir: Path, pages: list[str]) -> list[bytes]:
    """Each page of the built book printed to its own A4 PDF (bytes), in the given order."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise BookPdfError("Playwright is not installed: run make setup") from None
    executable = find_chromium()
    printed = []
    with serve(html_dir) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            tab = browser.new_page()
            for path in pages:
                tab.goto(base + path, wait_until="load", timeout=LOAD_TIMEOUT_MS)
                tab.add_style_tag(content=PRINT_CSS)
                _ready(tab)
                printed.append(tab.pdf(format="A4", print_background=True, margin=MARGIN,
                                       outline=True, tagged=True))
        finally:
            browser.close()
    return printed


def merge(printed: list[bytes], titles: list[str], out: Path) -> int:
    """Concatenate the printed pages into `out`: one top-level bookmark per book page (its
    title) holding that page's headings. Returns the number of PDF pages."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for data, title in zip(printed, titles, strict=True):
        reader = PdfReader(io.BytesIO(data))
        first = len(writer.pages)
        for pdf_page in reader.pages:
            writer.add_page(pdf_page)
        parent = writer.add_outline_item(title=title, page_number=first)
        _copy_outline(reader, writer, _page_headings(reader.outline), parent, first)
    writer.page_mode = "/UseOutlines"
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as handle:
        writer.write(handle)
    return len(writer.pages)


def _page_headings(outline: list) -> list:
    """Chromium's outline of one printed page without what the theme adds for print: the page
    title again (its print-only <h1>, which holds everything) and the "Contents" heading of its
    printed table of contents."""
    if len(outline) == 2 and not isinstance(outline[0], list) and isinstance(outline[1], list):
        outline = outline[1]
    if outline and not isinstance(outline[0], list) and str(outline[0].title).strip() == "Contents":
        outline = outline[1:]
    return outline


def _heading_text(title: str) -> str:
    # Chromium sometimes repeats a heading's text in its outline ("SetupSetup").
    title = " ".join(title.split())
    half = len(title) // 2
    return title[:half] if len(title) % 2 == 0 and title[:half] == title[half:] else title


def _copy_outline(reader, writer, items, parent, offset: int) -> None:
    last = None
    for item in items:
        if isinstance(item, list):
            if last is not None:
                _copy_outline(reader, writer, item, last, offset)
            continue
        page = offset + max(reader.get_destination_page_number(item), 0)
        last = writer.add_outline_item(title=_heading_text(str(item.title)), page_number=page, parent=parent)


def build(html_dir: Path = DEFAULT_HTML, out: Path = DEFAULT_OUT, toc: Path = DEFAULT_TOC) -> str:
    """Print the built book to `out`; return the one-line summary."""
    html_dir, out, toc = Path(html_dir), Path(out), Path(toc)
    if not (html_dir / "index.html").exists():
        raise BookPdfError(f"no built book in {html_dir}: run make book first")
    pages = toc_pages(toc)
    missing = [p for p in pages if not (html_dir / p).exists()]
    if missing:
        raise BookPdfError(f"pages of {toc.name} missing from {html_dir}: {missing}; run make book first")
    start = time.perf_counter()
    printed = print_pages(html_dir, pages)
    count = merge(printed, [html_title(html_dir / p) for p in pages], out)
    seconds = time.perf_counter() - start
    size = out.stat().st_size / 2**20
    return f"{out}: {count} pages from {len(pages)} book pages, {size:.1f} MiB, {seconds:.0f} s"


# ---------------------------------------------------------------------------- checks on a PDF

@dataclass(frozen=True)
class Section:
    """The PDF pages [first, stop) of one book page, from a top-level bookmark."""
    title: str
    first: int
    stop: int


@dataclass(frozen=True)
class ImageRegion:
    """An image drawn on a PDF page: its box in points (left, bottom, right, top) and the standard
    deviation of the grey levels (0..255) of the rendered page inside that box."""
    page: int
    box: tuple[float, float, float, float]
    std: float

    @property
    def blank(self) -> bool:
        return self.std <= BLANK_STD


def sections(pdf_file: Path) -> list[Section]:
    """The top-level bookmarks of a PDF as page ranges, in order."""
    from pypdf import PdfReader

    reader = PdfReader(pdf_file)
    starts = [(str(item.title), reader.get_destination_page_number(item))
              for item in reader.outline if not isinstance(item, list)]
    stops = [first for _, first in starts[1:]] + [len(reader.pages)]
    return [Section(title, first, stop) for (title, first), stop in zip(starts, stops, strict=True)]


def image_regions(pdf_file: Path, scale: float = RENDER_SCALE) -> list[list[ImageRegion]]:
    """For every PDF page, the images drawn on it with the pixel spread of their rendered box."""
    import numpy as np
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    pdf = pdfium.PdfDocument(str(pdf_file))
    try:
        result = []
        for index in range(len(pdf)):
            page = pdf[index]
            boxes = [obj.get_bounds() for obj in
                     page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=8)]
            regions = []
            if boxes:
                grey = np.asarray(page.render(scale=scale, grayscale=True).to_pil().convert("L"),
                                  dtype=float)
                height = page.get_height()
                for left, bottom, right, top in boxes:
                    rows = slice(max(int((height - top) * scale), 0), int(np.ceil((height - bottom) * scale)))
                    cols = slice(max(int(left * scale), 0), int(np.ceil(right * scale)))
                    pixels = grey[rows, cols]
                    std = float(pixels.std()) if pixels.size else 0.0
                    regions.append(ImageRegion(index, (left, bottom, right, top), std))
            result.append(regions)
            page.close()
        return result
    finally:
        pdf.close()


def prose_texts(pdf_file: Path) -> list[str]:
    """The text of every PDF page outside code: the text set in a proportional font. Code cells
    may hold LaTeX source on purpose (axis labels, sympy output), so their fixed-pitch text is left
    out."""
    import ctypes

    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    pdf = pdfium.PdfDocument(str(pdf_file))
    try:
        texts = []
        flags = ctypes.c_int()
        for index in range(len(pdf)):
            page = pdf[index]
            textpage = page.get_textpage()
            chars = []
            for k in range(pdfium_c.FPDFText_CountChars(textpage.raw)):
                pdfium_c.FPDFText_GetFontInfo(textpage.raw, k, None, 0, ctypes.byref(flags))
                if not flags.value & _FIXED_PITCH:
                    chars.append(chr(pdfium_c.FPDFText_GetUnicode(textpage.raw, k)))
            texts.append("".join(chars))
            textpage.close()
            page.close()
        return texts
    finally:
        pdf.close()


def raw_latex(text: str) -> list[str]:
    """The markers of untypeset LaTeX found in `text`."""
    return [marker for marker in RAW_LATEX if marker in text]


def blank_images(regions: list[list[ImageRegion]]) -> list[ImageRegion]:
    """Every image of the PDF whose rendered box is blank."""
    return [region for page in regions for region in page if region.blank]


def raw_latex_pages(texts: list[str]) -> dict[int, list[str]]:
    """PDF page index -> the raw LaTeX markers in its prose, for every page that has any."""
    found = {index: raw_latex(text) for index, text in enumerate(texts)}
    return {index: markers for index, markers in found.items() if markers}


def sections_without_figures(book_sections: list[Section], regions: list[list[ImageRegion]],
                             with_figures: list[bool]) -> list[str]:
    """Titles of the sections that should show a figure (`with_figures`, one flag per section)
    yet hold no PDF page with an image."""
    if len(book_sections) != len(with_figures):
        raise ValueError(f"{len(book_sections)} sections but {len(with_figures)} figure flags")
    return [section.title for section, expected in zip(book_sections, with_figures, strict=True)
            if expected and not any(regions[i] for i in range(section.first, section.stop))]


def render_page_png(pdf_file: Path, index: int, png_file: Path, scale: float = 1.5) -> Path:
    """Render one PDF page to a PNG (to look at a page a check complained about)."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(pdf_file))
    try:
        pdf[index].render(scale=scale).to_pil().save(png_file)
    finally:
        pdf.close()
    return png_file


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print the built HTML book to one PDF.")
    parser.add_argument("--html", type=Path, default=DEFAULT_HTML,
                        help="the built book (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="the PDF to write (default: %(default)s)")
    parser.add_argument("--toc", type=Path, default=DEFAULT_TOC,
                        help="the book's order (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        print(build(args.html, args.out, args.toc))
    except BookPdfError as err:
        print(f"book_pdf: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
