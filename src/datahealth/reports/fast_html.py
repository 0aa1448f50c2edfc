"""The report HTML parsed by expat (C) into the tree WeasyPrint's HTML5 parser would build, for the PDFs.

WeasyPrint parses HTML with tinyhtml5, a pure-Python HTML5 parser: 12–16 ms of CPU for a feedback PDF's
20 kB page, about 6 % of the PDF. The report templates write well-formed markup (every element closed, void
elements aside, only XML's character references), so the standard library's XML parser reads the same tree in
under a millisecond once the void elements are self-closed and the doctype is dropped. What an HTML5 parser
does differently for such a document is applied afterwards (whitespace before ``<head>`` dropped, whitespace
after ``</body>`` moved into the body), and every document shape where the HTML5 tree-building rules would
rearrange elements (a block inside a ``<p>``, a row outside a row group, text directly in a table, comments,
SVG or MathML, entities XML does not know) is handed back to WeasyPrint's own parser: ``parse`` returns
``None`` and the caller parses the usual way. ``tests/reports/test_fast_html.py`` compares the trees element
by element with tinyhtml5's and the pages as images.
"""

from __future__ import annotations

import re
from xml.etree import ElementTree  # nosec B405 - the input is the report templates' own output, not a user's XML

_DOCTYPE = re.compile(r"\A\s*<!doctype html>\s*", re.IGNORECASE)
_VOID = re.compile(r"<(area|base|br|col|embed|hr|img|input|link|meta|source|track|wbr)\b([^>]*?)/?>")
_TRAILING = re.compile(r"</html>(\s*)\Z")
_UNSUPPORTED = ("<!--", "<![", "<svg", "<math", "<?", "<base", "<pre", "<textarea", "<listing", "\r", "\0")
_TAG_WITH_BREAK = re.compile(r"<[^<>]*[\n\t][^<>]*>")
"""A line break or tab in a tag: XML would turn it into a space in an attribute's value, HTML keeps it."""
_HEAD = frozenset({"meta", "title", "link", "style", "script"})
_BLOCKS_CLOSING_P = frozenset(
    {
        "address", "article", "aside", "blockquote", "details", "div", "dl", "fieldset", "figcaption", "figure",
        "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "hr", "main", "menu", "nav",
        "ol", "p", "pre", "section", "table", "ul", "li", "dd", "dt", "summary",
    }
)  # fmt: skip
"""Elements whose start tag closes an open ``<p>`` in HTML5 (``li``/``dd``/``dt``/``summary``: kept out too)."""
_ROW_GROUPS = frozenset({"thead", "tbody", "tfoot"})
_TABLE_PARTS = frozenset({"table", "thead", "tbody", "tfoot", "tr", "colgroup"})
_TABLE_CHILDREN = frozenset({"caption", "colgroup", "thead", "tbody", "tfoot"})


def parse(html: str) -> ElementTree.Element | None:
    """The tree of ``html`` as tinyhtml5 builds it for WeasyPrint, or ``None`` where only an HTML5 parser will do."""
    doctype = _DOCTYPE.match(html)
    trailing = _TRAILING.search(html)
    if doctype is None or trailing is None or any(marker in html for marker in _UNSUPPORTED):
        return None
    if _TAG_WITH_BREAK.search(html) is not None:
        return None
    source = _VOID.sub(r"<\1\2/>", html[doctype.end() :])
    try:
        root = ElementTree.fromstring(source)  # noqa: S314  # nosec B314 - see the import
    except ElementTree.ParseError:
        return None
    if not _shaped_like_html5(root):
        return None
    # What the HTML5 tree builder does with whitespace around <head> and <body>:
    root.text = None  # "before head": whitespace is ignored
    body = root[1]
    moved = (body.tail or "") + trailing.group(1)  # "after body", "after after body": added to the body
    body.tail = None
    if moved:
        if len(body):
            body[-1].tail = (body[-1].tail or "") + moved
        else:
            body.text = (body.text or "") + moved
    return root


def _shaped_like_html5(root: ElementTree.Element) -> bool:
    """Whether an HTML5 parser keeps every element where the markup puts it (see the module docstring)."""
    if root.tag != "html" or [child.tag for child in root] != ["head", "body"] or (root[0].tail or "").strip():
        return False
    if (root.text or "").strip() or (root[1].tail or "").strip() or any(child.tag not in _HEAD for child in root[0]):
        return False
    for element in root.iter():
        tag = element.tag
        if not isinstance(tag, str) or tag != tag.lower() or ":" in tag or "{" in tag:
            return False
        if any(name != name.lower() or ":" in name or "{" in name for name in element.attrib):
            return False
        if tag == "p" and any(child.tag in _BLOCKS_CLOSING_P for child in element.iter() if child is not element):
            return False
        if tag in _TABLE_PARTS:
            if (element.text or "").strip() or any((child.tail or "").strip() for child in element):
                return False  # text in a table is moved out of it ("foster parenting")
            allowed = _TABLE_CHILDREN if tag == "table" else {"col"} if tag == "colgroup" else None
            if tag in _ROW_GROUPS:
                allowed = frozenset({"tr"})
            elif tag == "tr":
                allowed = frozenset({"th", "td"})
            if allowed is not None and any(child.tag not in allowed for child in element):
                return False
    return True
