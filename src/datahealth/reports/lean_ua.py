"""A user-agent stylesheet for the report PDFs: WeasyPrint's own, less the rules no report element can match.

WeasyPrint tries every element against its whole HTML5 user-agent stylesheet: 191 rules, many of them for
elements the reports never use (forms, ``dir``/``menu``, ``xmp``) or attribute selectors such as
``[dir=rtl i]``, ``[hidden]`` and ``table[rules]`` that are tried on every element. The report templates use a
small fixed set of elements and none of those attributes, so dropping those selectors leaves the cascade less to
try and the pages unchanged (``tests/reports/test_lean_ua.py`` compares the pages as images). Rules are kept
verbatim; only selectors are dropped, so the kept ones keep their order and declarations. At-rules (``@page``)
are kept whole.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any

REPORT_ELEMENTS = frozenset(
    {
        "html", "head", "meta", "title", "style", "link", "script", "template", "body", "section", "header",
        "footer", "main", "article", "nav", "aside", "div", "p", "h1", "h2", "h3", "h4", "h5", "h6", "figure",
        "figcaption", "table", "caption", "colgroup", "col", "thead", "tbody", "tfoot", "tr", "th", "td", "ol",
        "ul", "li", "dl", "dt", "dd", "strong", "b", "em", "i", "small", "span", "br", "img", "svg", "a",
        "details", "summary", "blockquote", "pre", "code", "hr", "sub", "sup", "abbr",
    }
)  # fmt: skip
"""Every element a report template may use; a selector naming any other element is dropped."""

KEPT_PSEUDO = frozenset({"br::before", "::marker", ":link"})
"""Pseudo selectors the reports need: line breaks, list markers, link colour."""


def lean_ua_css(source: str) -> str:
    """``source`` (a user-agent stylesheet) with only the selectors report elements can match."""
    import tinycss2

    kept_rules: list[str] = []
    for rule in tinycss2.parse_stylesheet(source, skip_comments=True, skip_whitespace=True):
        if rule.type == "at-rule":
            kept_rules.append(rule.serialize())
        elif rule.type == "qualified-rule":
            selectors = [s for s in _split_selectors(tinycss2.serialize(rule.prelude)) if _applies(s)]
            if selectors:
                kept_rules.append(f"{', '.join(selectors)} {{{tinycss2.serialize(rule.content)}}}")
    return "\n".join(kept_rules)


def _split_selectors(prelude: str) -> list[str]:
    """A selector list split at its top-level commas (not those inside ``:is(…)``)."""
    parts, depth, current = [], 0, ""
    for char in prelude:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    if current.strip():
        parts.append(current.strip())
    return parts


def _applies(selector: str) -> bool:
    if selector in KEPT_PSEUDO:
        return True
    if any(char in selector for char in "[:()*+~"):
        return False  # attributes, pseudo-classes, :is(), universal and sibling combinators
    return all(part in REPORT_ELEMENTS for part in selector.replace(">", " ").split())


@lru_cache(maxsize=1)
def lean_html_class() -> Any:
    """``weasyprint.HTML`` with the lean user-agent stylesheet, or ``HTML`` itself if WeasyPrint changed."""
    from weasyprint import CSS, HTML

    base: Any = getattr(HTML, "_ua_stylesheets", None)
    try:
        source = resources.files("weasyprint.css").joinpath("html5_ua.css").read_text(encoding="utf-8")
    except (FileNotFoundError, ModuleNotFoundError):  # pragma: no cover - another WeasyPrint layout
        return HTML
    if base is None:  # pragma: no cover - another WeasyPrint version: its own stylesheet
        return HTML
    lean = CSS(string=lean_ua_css(source))

    class LeanHTML(HTML):  # type: ignore[misc]
        def _ua_stylesheets(self, forms: bool = False) -> list[Any]:
            sheets: list[Any] = list(base(self, forms))
            return [lean, *sheets[1:]]  # the first is html5_ua.css; form rules (unused) stay as they were

    return LeanHTML
