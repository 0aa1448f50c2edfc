"""``posted_form`` parses URL-encoded bodies exactly as Starlette's form parser does (it is only faster)."""

from __future__ import annotations

import asyncio
from urllib.parse import quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.requests import Request

from datahealth.web.forms import MAX_FORM_FIELDS, posted_form


def _request(body: bytes, content_type: str = "application/x-www-form-urlencoded") -> Request:
    sent = False

    async def receive() -> dict[str, object]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {"type": "http", "method": "POST", "path": "/", "headers": [(b"content-type", content_type.encode())]}
    return Request(scope, receive)


async def _starlette(request: Request):
    return await request.form()


def _both(body: bytes, content_type: str = "application/x-www-form-urlencoded") -> tuple[list, list]:
    ours = asyncio.run(posted_form(_request(body, content_type)))
    theirs = asyncio.run(_starlette(_request(body, content_type)))
    return list(ours.multi_items()), list(theirs.multi_items())


@pytest.mark.parametrize(
    "body",
    [
        b"_shown=q2_1&q2_1=yes&csrf_token=abc",
        b"q1=" + quote_plus("病院 髙﨑𠮷 ①").encode() + b"&q1=second",
        "raw=病院".encode(),  # unescaped UTF-8 bytes: both read them as Latin-1
        b"a=&b&=c&d=1+2%2B3&&e=%ZZ&f=%E3%81",
        b"",
    ],
)
def test_same_fields_as_starlette(body: bytes) -> None:
    ours, theirs = _both(body)
    assert ours == theirs


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=12), st.text(max_size=20)), max_size=12), st.binary(max_size=40))
def test_same_fields_as_starlette_for_any_form(fields: list[tuple[str, str]], noise: bytes) -> None:
    body = "&".join(f"{quote_plus(k)}={quote_plus(v)}" for k, v in fields).encode() + noise
    ours, theirs = _both(body)
    assert ours == theirs


def test_too_many_fields_is_refused_like_starlette() -> None:
    body = "&".join(f"f{n}=x" for n in range(MAX_FORM_FIELDS + 1)).encode()
    with pytest.raises(Exception) as ours:
        asyncio.run(posted_form(_request(body)))
    with pytest.raises(Exception) as theirs:
        asyncio.run(_starlette(_request(body)))
    assert type(ours.value) is type(theirs.value)


def test_other_content_types_go_to_starlette() -> None:
    body = b'--B\r\nContent-Disposition: form-data; name="q"\r\n\r\nv\r\n--B--\r\n'
    ours, theirs = _both(body, "multipart/form-data; boundary=B")
    assert ours == theirs == [("q", "v")]


def test_a_field_over_a_megabyte_is_refused_like_starlette() -> None:
    body = b"q=" + b"x" * (1024 * 1024 + 10)
    with pytest.raises(Exception) as ours:
        asyncio.run(posted_form(_request(body)))
    with pytest.raises(Exception) as theirs:
        asyncio.run(_starlette(_request(body)))
    assert type(ours.value) is type(theirs.value)
