"""HTML → PDF with WeasyPrint and the Japanese font embedded (Noto Sans CJK JP, Debian's fonts-noto-cjk).

WeasyPrint subsets the fonts it uses and embeds them, so a PDF shows the same Japanese text on any
machine. The font must be installed where the PDF is made; ``require_japanese_font`` checks it once
and fails with DH-R301 naming the package, instead of silently producing tofu (□) boxes. One font
configuration and one set of parsed stylesheets are kept per process (the batch reuses them for
thousands of PDFs).
"""

from __future__ import annotations

import hashlib
import io
import re
import shutil
import subprocess  # nosec B404
import threading
from functools import lru_cache
from typing import Any

from datahealth.errors import Problem, UserError
from datahealth.reports import fast_html
from datahealth.reports.fonts import SubsetFont
from datahealth.reports.html import css
from datahealth.reports.lean_ua import lean_html_class

FONT_FAMILY = "Noto Sans CJK JP"
STYLESHEETS = ("reports.css", "reports-pdf.css")


@lru_cache(maxsize=1)
def require_japanese_font() -> None:
    """Raise DH-R301 unless fontconfig knows Noto Sans CJK JP."""
    fc_list = shutil.which("fc-list")
    found = ""
    if fc_list is not None:
        found = subprocess.run(  # noqa: S603 - fixed arguments, no shell  # nosec B603
            [fc_list, f":family={FONT_FAMILY}", "family"], capture_output=True, text=True, check=False, timeout=30
        ).stdout
    if FONT_FAMILY not in found:
        detail = f"{FONT_FAMILY} is not installed (apt-get install fonts-noto-cjk) / 日本語フォントがありません"
        raise UserError(Problem("DH-R301", {"detail": detail}))


_FIXED_ARRAY = re.compile(r"(\w+)\[(\d+)\]")


class _OpenArrays:
    """cffi for WeasyPrint's font subsetting, making ``T[N]`` arrays as ``T[]`` arrays of the same items.

    ``weasyprint.pdf.fonts`` builds its glyph lists with ``ffi.new(f"hb_codepoint_t[{len(items)}]", items)``.
    cffi parses each new type string with pycparser (about 2 ms; up to four new ones per PDF as glyph counts
    differ: about 3 % of a feedback PDF); ``hb_codepoint_t[]`` with the same items is the same array, parsed once.
    Everything else goes to cffi unchanged.
    """

    def __init__(self, ffi: Any) -> None:
        self._ffi = ffi

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ffi, name)

    def new(self, cdecl: Any, init: Any = None) -> Any:
        if isinstance(cdecl, str) and init is not None:
            fixed = _FIXED_ARRAY.fullmatch(cdecl)
            if fixed is not None and int(fixed[2]) == len(init):
                cdecl = f"{fixed[1]}[]"
        return self._ffi.new(cdecl, init)


def _share_array_types() -> None:
    """Give WeasyPrint's font module the ``_OpenArrays`` view of its cffi (once per process; a no-op if absent)."""
    try:
        from weasyprint.pdf import fonts
    except ImportError:  # pragma: no cover - another WeasyPrint layout: nothing to speed up
        return
    current = getattr(fonts, "ffi", None)
    if current is not None and not isinstance(current, _OpenArrays):
        fonts.ffi = _OpenArrays(current)


@lru_cache(maxsize=4)
def _resources(font_css: str = "") -> tuple[Any, list[Any]]:
    """One font configuration and the parsed stylesheets, per process and font (see ``fonts``)."""
    from weasyprint import CSS
    from weasyprint.text.fonts import FontConfiguration

    _share_array_types()

    fonts = FontConfiguration()
    sheets = [CSS(string=text, font_config=fonts) for text in [*css(*STYLESHEETS), font_css] if text]
    return fonts, sheets


def html_to_pdf(html: str, appendix: str | None = None, font: SubsetFont | None = None) -> bytes:
    """A PDF of ``html`` (A4, the report stylesheets, Japanese font embedded), then ``appendix``'s pages.

    The appendix is the part every hospital's report shares: it is laid out, painted and written as a PDF
    once per process, and its pages (with their fonts and bookmarks) are appended to each document's PDF
    by qpdf (``pikepdf``), which costs a few milliseconds instead of painting two pages again. ``font`` is
    a batch's subset of the Japanese font (``reports.fonts``), used first with the full font behind it.
    """
    require_japanese_font()
    font_css = font.css() if font is not None else ""
    fonts, sheets = _resources(font_css)
    document = html_document(html).render(stylesheets=sheets, font_config=fonts)
    pdf: bytes = document.write_pdf()
    if appendix is None:
        return pdf
    with _APPENDIX_LOCK:  # the web app renders in threads; one qpdf object is not to be read by two at once
        return append_pdf(pdf, _appendix_pdf(appendix, font_css))


def html_document(html: str) -> Any:
    """WeasyPrint's ``HTML`` of ``html`` (lean user-agent sheet), its tree parsed by expat where possible.

    ``fast_html.parse`` builds the tree tinyhtml5 would build, in a twentieth of the time; the object is then
    set up exactly as ``HTML.__init__`` sets it up for a string without a base URL (``tests/reports/
    test_fast_html.py`` checks both). Any other document goes through ``HTML(string=...)``.
    """
    html_class = lean_html_class()
    root = fast_html.parse(html)
    if root is None:
        return html_class(string=html, base_url=None)
    import cssselect2  # type: ignore[import-untyped]
    from weasyprint.urls import URLFetcher

    document = html_class.__new__(html_class)
    document.base_url = None  # fast_html leaves documents with a <base> element to HTML()
    document.url_fetcher = URLFetcher()
    document.media_type = "print"
    document.wrapper_element = cssselect2.ElementWrapper.from_html_root(root, content_language=None)
    document.etree_element = document.wrapper_element.etree_element
    return document


def append_pdf(first: bytes, second: Any) -> bytes:
    """``first`` (PDF bytes) followed by the pages of ``second`` (an open ``pikepdf.Pdf``), outlines included.

    The document information (title) and the page labels are ``first``'s; ``second``'s top-level
    bookmarks follow ``first``'s and point into the appended pages.
    """
    import pikepdf

    with pikepdf.Pdf.open(io.BytesIO(first)) as target:
        offset = len(target.pages)
        target.pages.extend(second.pages)
        with second.open_outline() as source_outline:
            added = [_copy_outline(item, second, target, offset) for item in source_outline.root]
        if added:
            with target.open_outline() as outline:
                outline.root.extend(added)
        buffer = io.BytesIO()
        target.save(buffer, deterministic_id=True)
    return buffer.getvalue()


def _copy_outline(item: Any, source: Any, target: Any, offset: int) -> Any:
    """An outline item of ``source`` for ``target``, whose pages ``offset`` on are ``source``'s pages."""
    import pikepdf

    destination = item.destination
    if isinstance(destination, pikepdf.Array) and len(destination) > 0:
        number = source.pages.index(pikepdf.Page(destination[0]))
        destination = pikepdf.Array([target.pages[offset + number].obj, *list(destination)[1:]])
    else:
        destination = None
    copy = pikepdf.OutlineItem(item.title, destination)
    copy.children.extend(_copy_outline(child, source, target, offset) for child in item.children)
    return copy


_APPENDICES: dict[str, Any] = {}
_APPENDIX_LOCK = threading.Lock()


def _appendix_pdf(html: str, font_css: str = "") -> Any:
    """The appendix as an open ``pikepdf.Pdf``, made once per process (a survey has one per language)."""
    import pikepdf

    key = hashlib.sha256((font_css + "\0" + html).encode("utf-8")).hexdigest()
    document = _APPENDICES.get(key)
    if document is None:
        if len(_APPENDICES) > 8:
            for old in _APPENDICES.values():
                old.close()
            _APPENDICES.clear()
        fonts, sheets = _resources(font_css)
        rendered = html_document(html).render(stylesheets=sheets, font_config=fonts)
        document = _APPENDICES[key] = pikepdf.Pdf.open(io.BytesIO(rendered.write_pdf()))
    return document
