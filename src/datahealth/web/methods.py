"""The methods a path answers to, for ``405 Method Not Allowed`` and its ``Allow`` header (RFC 9110 15.5.6).

Starlette answers 405 with the methods of the first route whose path matches; when one path has a route
per method (``GET /api/v1/exchange/batches`` and ``POST …``) that header omitted the others. The
application's OpenAPI document lists every path template with all its methods, so it is the source here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
_PARAMETER = re.compile(r"\\\{[^/]*?\\\}")


@lru_cache(maxsize=1024)
def _template(path: str) -> re.Pattern[str]:
    return re.compile("^" + _PARAMETER.sub("[^/]+", re.escape(path)) + "$")


def allowed_methods(paths: Mapping[str, Mapping[str, Any]], path: str) -> list[str]:
    """Every method the OpenAPI ``paths`` give for the templates matching ``path``, upper case and sorted."""
    methods: set[str] = set()
    for template, operations in paths.items():
        if _template(template).match(path):
            methods |= {method.upper() for method in operations if method in METHODS}
    return sorted(methods)
