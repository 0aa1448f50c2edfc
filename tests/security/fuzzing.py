"""Shared pieces of the hypothesis fuzz tests: the harness (fuzz/harness.py) and mutations of seed inputs."""

from __future__ import annotations

import sys
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "fuzz"))
import harness  # noqa: E402

FUZZ = settings(
    max_examples=60,
    deadline=None,  # a loaded CI machine makes per-example deadlines flaky; harness.time_limit catches hangs
    derandomize=True,  # the same examples on every run: CI is reproducible; long runs use atheris
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
EXAMPLE_SECONDS = 30.0
"""Wall time one example may take before it counts as a hang (generous: the machine may be loaded)."""
TRICKY = [
    b"\x00",
    b"\r",
    b"\n",
    b"\r\n",
    b",",
    b'"',
    b"'",
    b"\xef\xbb\xbf",
    b"\xff",
    b"\xc3",
    b"\xe3\x80\x80",
    b"\xef\xbc\x91",
    b"-",
    b"+",
    b".",
    b"e",
    b"9" * 30,
    b"1e309",
    b"NaN",
    b"-0",
    b"\\",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b"null",
    b"true",
    b"=cmd|' /C calc'!A0",
    b"${",
    b"%",
    b"\t",
    b" " * 5,
    b"\xf0\x9f\x98\x80",
]


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A seed with a few byte-level edits: replace, insert, delete, truncate, duplicate a slice."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(0, 6))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["replace", "insert", "delete", "truncate", "duplicate"]))
        piece = draw(st.sampled_from(TRICKY) | st.binary(min_size=1, max_size=4))
        if action == "replace":
            data[at : at + len(piece)] = piece
        elif action == "insert":
            data[at:at] = piece
        elif action == "delete":
            del data[at : at + draw(st.integers(1, 50))]
        elif action == "truncate":
            del data[at:]
        else:
            end = min(len(data), at + draw(st.integers(1, 200)))
            data[end:end] = data[at:end]
    return bytes(data[: harness.MAX_BYTES])
