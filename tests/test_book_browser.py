"""The built book, opened in headless Chromium: no request leaves the machine, the math is
typeset by the bundled MathJax, and every figure has loaded.

Needs a built book (`make book`) and Debian's Chromium (`make browser`); Playwright drives that
browser and never downloads one of its own.
"""
from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from tools.book_pdf import CHROMIUM_ARGS, BookPdfError, find_chromium, serve  # noqa: E402

pytestmark = pytest.mark.browser

HTML = ROOT / "_build" / "html"
# The first notebook: figures and math on one page.
MATH_PAGE = "notebooks/dirichlet_cocorrelation.html"
LOAD_TIMEOUT_MS = 60_000
TYPESET_TIMEOUT_MS = 20_000


@pytest.fixture(scope="module")
def site():
    """Serve _build/html on 127.0.0.1 at a free port; yield its base URL."""
    if not (HTML / "index.html").exists():
        pytest.skip("no built book: run make book first")
    with serve(HTML) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    try:
        executable = find_chromium()
    except BookPdfError as err:
        pytest.skip(str(err))
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _open(browser, url: str):
    """Load `url` in a fresh page; return the page and every URL it requested."""
    page = browser.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(url, wait_until="load", timeout=LOAD_TIMEOUT_MS)
    page.wait_for_load_state("networkidle", timeout=LOAD_TIMEOUT_MS)
    return page, requested


def _typeset(page) -> None:
    """Wait until MathJax (if the page uses it) has finished typesetting."""
    try:
        page.wait_for_function(
            "() => !window.MathJax || (window.MathJax.startup && window.MathJax.startup.promise)",
            timeout=TYPESET_TIMEOUT_MS)
    except Exception as err:  # playwright's TimeoutError
        raise AssertionError(f"MathJax did not start within {TYPESET_TIMEOUT_MS} ms: {err}") from None
    page.evaluate("() => window.MathJax ? window.MathJax.startup.promise.then(() => true) : true")


def _assert_local(requested: list[str]) -> None:
    foreign = [u for u in requested
               if urlparse(u).scheme not in ("data", "blob", "about")
               and urlparse(u).hostname != "127.0.0.1"]
    assert requested, "the page made no request at all"
    assert not foreign, f"requests left the machine: {foreign[:5]}"


def _assert_no_raw_math(page) -> None:
    text = page.evaluate("() => document.body.innerText")
    for marker in ("\\(", "\\[", "$$"):
        assert marker not in text, f"raw math {marker!r} is visible: ...{_around(text, marker)}..."


def _around(text: str, marker: str, width: int = 60) -> str:
    i = text.find(marker)
    return text[max(0, i - width): i + width]


def _assert_images_loaded(page) -> int:
    images = page.evaluate(
        "() => Array.from(document.images).map(i => ({src: i.currentSrc || i.src, "
        "w: i.naturalWidth, complete: i.complete}))")
    broken = [i["src"] for i in images if not i["w"]]
    assert not broken, f"images that did not load: {broken}"
    return len(images)


def test_index_is_local_and_typeset(site, browser):
    page, requested = _open(browser, site + "index.html")
    try:
        _assert_local(requested)  # first, so a CDN MathJax fails here with the URL
        _typeset(page)
        _assert_local(requested)  # MathJax may load components while it typesets
        _assert_no_raw_math(page)
        _assert_images_loaded(page)
        assert page.title(), "the index page has no title"
    finally:
        page.close()


def test_notebook_page_math_and_figures(site, browser):
    if not (HTML / MATH_PAGE).exists():
        pytest.fail(f"{MATH_PAGE} is missing from the built book")
    page, requested = _open(browser, site + MATH_PAGE)
    try:
        _assert_local(requested)  # first, so a CDN MathJax fails here with the URL
        _typeset(page)
        _assert_local(requested)  # MathJax may load components while it typesets
        mathjax_src = page.evaluate(
            "() => Array.from(document.scripts).map(s => s.src).filter(s => /mathjax|tex-/i.test(s))")
        assert any("/_static/" in s for s in mathjax_src), (
            f"MathJax is not served from _static: {mathjax_src}")
        assert page.evaluate("() => document.querySelectorAll('mjx-container').length") > 0, \
            "no typeset math (mjx-container) on the page"
        _assert_no_raw_math(page)
        assert _assert_images_loaded(page) > 0, "the notebook page shows no figure"
    finally:
        page.close()


FIGURE_PAGES = sorted(p.relative_to(HTML).as_posix() for pattern in ("fig*.html", "beyond_paper.html")
                      for p in (HTML / "notebooks").glob(pattern))


@pytest.mark.parametrize("page_path", FIGURE_PAGES or ["notebooks/fig1_robustness_energy.html"])
def test_figure_pages_show_their_figures(site, browser, page_path):
    """A figure page whose plot never reached the output (e.g. a non-inline backend) fails here."""
    if not (HTML / page_path).exists():
        pytest.fail(f"{page_path} is missing from the built book")
    page, requested = _open(browser, site + page_path)
    try:
        _assert_local(requested)
        assert _assert_images_loaded(page) > 0, f"{page_path} shows no figure"
    finally:
        page.close()


VERDICT_PAGES = sorted(p.relative_to(HTML).as_posix() for p in (HTML / "notebooks").glob("*.html")
                       if "cocorr-verdict" in p.read_text(errors="ignore"))
OVERFLOW_JS = """() => {
  const main = document.querySelector('main') || document.body;
  const right = main.getBoundingClientRect().right + 1;
  const bad = [];
  for (const el of main.querySelectorAll('.cocorr-verdict, table, div.cell_output pre')) {
    const box = el.getBoundingClientRect();
    const parent = el.parentElement;
    const wider = el.scrollWidth > el.clientWidth + 1;
    const out = box.right > right || (parent && box.right > parent.getBoundingClientRect().right + 1);
    if (wider || out) bad.push(el.className || el.tagName);
  }
  return bad;
}"""


@pytest.mark.parametrize("page_path", VERDICT_PAGES or ["notebooks/report.html"])
def test_verdicts_fit_their_column_at_1280px(site, browser, page_path):
    """Verdict cards, tables and printed output stay inside the page's column on a 1280 px wide window."""
    if not (HTML / page_path).exists():
        pytest.fail(f"{page_path} is missing from the built book")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(site + page_path, wait_until="load", timeout=LOAD_TIMEOUT_MS)
        assert page.evaluate("() => document.querySelectorAll('.cocorr-verdict').length") > 0, \
            f"{page_path} shows no verdict card"
        page.evaluate("() => document.querySelectorAll('.cocorr-verdict details')"
                      ".forEach(d => { d.open = true; })")
        assert page.evaluate(OVERFLOW_JS) == [], f"{page_path}: content wider than its column"
        shown = page.evaluate("() => Array.from(document.querySelectorAll('.cocorr-verdict, .cell_output'))"
                              ".map(e => e.innerText).join('\\n')")
        assert '{"' not in shown, f"{page_path} shows raw JSON in an output"
    finally:
        page.close()


def test_downloaded_notebook_is_valid_json(site, browser):
    """The page's download link (written at build time) serves the page as a valid notebook."""
    import nbformat

    page, requested = _open(browser, site + "notebooks/fig3_init_width.html")
    try:
        _assert_local(requested)
        link = page.locator("a.notebook-download").first
        assert link.count() == 1, "the page has no notebook download link"
        href = link.get_attribute("href")
        response = page.request.get(urljoin(page.url, href))
        assert response.ok, f"{href}: HTTP {response.status}"
        nb = nbformat.reads(response.text(), as_version=4)
        nbformat.validate(nb)
        code = [c.source for c in nb.cells if c.cell_type == "code"]
        assert any("load_figure" in c for c in code), "the notebook is not this page's code"
    finally:
        page.close()


def test_teaching_part_lists_meetings_with_run_times(site, browser):
    page, requested = _open(browser, site + "book/teaching/course.html")
    try:
        _assert_local(requested)
        rows = page.locator("table.course-pages tbody tr")
        assert rows.count() >= 20, f"the course path lists {rows.count()} pages"
        times = page.locator("table.course-pages tbody td:last-child").all_inner_texts()
        assert sum(t.strip().endswith(" s") for t in times) >= 15, times
        page.set_viewport_size({"width": 1280, "height": 900})
        assert page.evaluate(OVERFLOW_JS) == [], "a course table is wider than its column"
    finally:
        page.close()
