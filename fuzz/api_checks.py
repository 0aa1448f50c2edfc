"""Schemathesis additions: a check that an accepted batch hides no internal error, and real identifiers.

``exchange.service.ingest`` never lets an exception out of a batch: it rolls the batch back and lists a
DH-G500 issue (answering 201 "rejected"). For a fuzzer that is a 5xx in disguise, so this check fails
on it. Loaded by the CLI run (``SCHEMATHESIS_HOOKS=api_checks``) and by tests/security/test_schemathesis.py.

Path parameters generated at random almost never name a stored batch or participant, so the handlers'
deeper paths would go untested (schemathesis warns "missing test data"). ``flatmap_path_parameters``
swaps a valid generated identifier for one of the world's real ones in some of the cases. Swapping one
valid value for another keeps a negative case negative. The identifiers come from ``remember`` (pytest)
or ``DATAHEALTH_FUZZ_IDS`` (``participant_id=P00001;batch_id=…``, set by fuzz/fuzz_api.py).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from typing import Any

import schemathesis
from hypothesis import strategies as st

KNOWN: dict[str, list[str]] = {}
"""Path parameter name → identifiers that exist in the world under test."""
VALID: dict[str, Callable[[object], bool]] = {
    "participant_id": lambda value: isinstance(value, str) and re.fullmatch(r"[A-Za-z0-9_-]{1,20}", value) is not None,
    "batch_id": lambda value: isinstance(value, str) and 0 < len(value) <= 36,
}


def remember(**identifiers: str) -> None:
    for name, value in identifiers.items():
        if value not in KNOWN.setdefault(name, []):
            KNOWN[name].append(value)


for _pair in filter(None, os.environ.get("DATAHEALTH_FUZZ_IDS", "").split(";")):
    remember(**dict([_pair.split("=", 1)]))


@schemathesis.hook
def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any] | None) -> st.SearchStrategy[Any]:
    if not path_parameters:
        return st.just(path_parameters)
    swaps = [
        {**path_parameters, name: known}
        for name, value in path_parameters.items()
        if VALID.get(name, lambda _v: False)(value)
        for known in KNOWN.get(name, [])
    ]
    return st.sampled_from([path_parameters, *swaps])


@schemathesis.check
def no_hidden_internal_error(ctx: Any, response: Any, case: Any) -> bool | None:
    """Fail when a 2xx body lists an issue with code DH-G500 (an exception caught inside ingest)."""
    content_type = " ".join(
        " ".join(values) for name, values in response.headers.items() if name.lower() == "content-type"
    )
    if not 200 <= response.status_code < 300 or "json" not in content_type:
        return None
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    issues = body.get("issues", []) if isinstance(body, dict) else []
    codes = {issue.get("code") for issue in issues if isinstance(issue, dict)}
    if "DH-G500" in codes:
        raise AssertionError("the batch failed internally: its result lists DH-G500 (an exception inside ingest)")
    return True
