"""A minimal asyncio HTTP/1.1 keep-alive client for loopback load and crash tests.

Why not httpx: in the load test one shared ``httpx.AsyncClient`` with a thousand pooled connections costs the
driver about as much CPU per request as the server spends answering it (httpcore's pool scans every connection
on every request, plus anyio and the general-purpose machinery), and driver and server share two cores.

This client does only what the test clients need, cheaply:

* ``LoopbackClient`` — one simulated person (or one consortium system): its own persistent connection, like a
  browser. Concurrent requests on one client get extra connections (kept idle afterwards), so a shared client
  also works.
* Requests are built directly as bytes (``Host``, ``Content-Length``, the caller's headers, the body).
* Responses are parsed minimally: status line, the framing headers, a body framed by ``Content-Length``, by
  ``Transfer-Encoding: chunked``, or by the end of the connection (other headers only when asked for).
* A connection the server closed while idle (uvicorn's keep-alive time-out) is replaced: a connection idle for
  longer than ``max_idle`` is not reused at all, and when a *reused* connection closes before any byte of the
  response arrived, the request is sent once more on a fresh connection — but only when it carries an
  ``Idempotency-Key`` (a save or a batch: the server answers a repeat with the first result), so a retry can
  never apply a write twice. Everything else that goes wrong is raised as ``LoopbackError`` (a transport error:
  the caller's retry loop decides).

The subset of the httpx API the clients use: ``post(url, content=..., headers=...)``, ``get(url)``,
``Response.status_code``, ``.headers`` (lower-case names), ``.content``, ``.text``, ``.json()``; ``aclose()``
and ``async with``. Loopback only: URLs are ``http://host:port/path``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any, cast
from urllib.parse import urlsplit


class LoopbackError(Exception):
    """A transport failure: no complete response (connection refused, reset or closed early, time-out)."""


class LoopbackConnectError(LoopbackError):
    """The connection could not be opened."""


class LoopbackClosed(LoopbackError):
    """The server closed the connection before the response was complete."""

    def __init__(self, message: str, *, nothing_received: bool) -> None:
        super().__init__(message)
        self.nothing_received = nothing_received


class LoopbackTimeout(LoopbackError):
    """No complete response within the time-out."""


class Response:
    """The parts of an ``httpx.Response`` the test clients read."""

    __slots__ = ("status_code", "content", "_head", "_headers")

    def __init__(self, status_code: int, head: str, content: bytes) -> None:
        self.status_code = status_code
        self.content = content
        self._head = head
        self._headers: dict[str, str] | None = None

    @property
    def headers(self) -> dict[str, str]:
        """Header names in lower case (a repeated header: its last value). Parsed when first asked for."""
        if self._headers is None:
            self._headers = _header_dict(self._head)
        return self._headers

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)

    def __repr__(self) -> str:
        return f"<Response [{self.status_code}]>"


def _header_dict(head: str) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return headers


def _header(lowered_head: str, name: str) -> str | None:
    """The value of header ``name`` (lower case, with the CRLF before it and the colon) in a lower-cased head."""
    start = lowered_head.find(name)
    if start < 0:
        return None
    start += len(name)
    end = lowered_head.find("\r\n", start)
    return lowered_head[start : end if end >= 0 else None].strip()


_NO_BODY = frozenset((204, 304)) | frozenset(range(100, 200))


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection; one request at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.requests = 0
        """Responses completed on this connection (> 0: reused)."""
        self.idle_since = 0.0
        self._buffer = bytearray()
        self._waiter: asyncio.Future[Response] | None = None
        self._received = False
        self._status = 0
        self._raw_head = ""
        self._length = -1  # -1: head not parsed yet
        self._chunked = False
        self._until_close = False
        self._keep_alive = True
        self._body = bytearray()

    # asyncio.Protocol ---------------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:  # bytes nobody asked for: the connection cannot be trusted any more
            self._close()
            return
        self._received = True
        self._buffer += data
        try:
            self._parse()
        except ValueError as error:
            self._fail(LoopbackError(f"malformed response: {error}"))
            self._close()

    def eof_received(self) -> bool:
        self._ended()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._ended()

    # requests -----------------------------------------------------------------------------------------------------

    def send(self, request: bytes) -> asyncio.Future[Response]:
        assert self.transport is not None and self._waiter is None
        waiter = self.loop.create_future()
        self._waiter = waiter
        self._received = False
        self._length = -1
        self.transport.write(request)
        return waiter

    def abort(self) -> None:
        self._waiter = None
        self._close()

    # internals ----------------------------------------------------------------------------------------------------

    def _ended(self) -> None:
        if self._waiter is not None and self._until_close and self._length == -2:
            self._finish(bytes(self._body))
        elif self._waiter is not None:
            reused = self.requests > 0
            self._fail(
                LoopbackClosed(
                    "connection closed before the response was complete",
                    nothing_received=reused and not self._received,
                )
            )
        self._close()

    def _close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _fail(self, error: LoopbackError) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    def _finish(self, content: bytes) -> None:
        waiter, self._waiter = self._waiter, None
        self.requests += 1
        self.idle_since = self.loop.time()
        if not self._keep_alive:
            self._close()
        if waiter is not None and not waiter.done():
            waiter.set_result(Response(self._status, self._raw_head, content))

    def _parse(self) -> None:
        buffer = self._buffer
        if self._length == -1:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            self._head(bytes(buffer[:end]).decode("latin-1"))
            del buffer[: end + 4]
        if self._length == -2:  # until the server closes the connection
            self._body += buffer
            buffer.clear()
            return
        if self._chunked:
            self._parse_chunks()
            return
        if len(buffer) >= self._length:
            content = bytes(buffer[: self._length])
            del buffer[: self._length]
            if buffer:
                raise ValueError("bytes after the response")
            self._finish(content)

    def _head(self, head: str) -> None:
        """Status line and the framing headers; the rest of the head is kept for ``Response.headers``."""
        version = head[:8]
        if not version.startswith("HTTP/1.") or head[8:9] != " ":
            raise ValueError(f"status line {head[:60]!r}")
        self._status = int(head[9:12])
        self._raw_head = head
        lowered = head.lower()
        connection = _header(lowered, "\r\nconnection:") or ""
        self._keep_alive = version == "HTTP/1.1" and "close" not in connection or "keep-alive" in connection
        self._chunked = "chunked" in (_header(lowered, "\r\ntransfer-encoding:") or "")
        length = _header(lowered, "\r\ncontent-length:")
        self._body = bytearray()
        self._until_close = False
        if self._status in _NO_BODY or self._chunked:
            self._length = 0
        elif length is not None:
            self._length = int(length)
        else:
            self._length = -2
            self._until_close = True
            self._keep_alive = False

    def _parse_chunks(self) -> None:
        buffer = self._buffer
        while True:
            line_end = buffer.find(b"\r\n")
            if line_end < 0:
                return
            size = int(bytes(buffer[:line_end]).split(b";", 1)[0].strip(), 16)
            if size == 0:
                trailer_end = buffer.find(b"\r\n\r\n", line_end)  # optional trailers, then an empty line
                if trailer_end < 0:
                    return
                del buffer[: trailer_end + 4]
                if buffer:
                    raise ValueError("bytes after the response")
                self._finish(bytes(self._body))
                return
            start = line_end + 2
            if len(buffer) < start + size + 2:
                return
            if buffer[start + size : start + size + 2] != b"\r\n":
                raise ValueError("chunk not followed by CRLF")
            self._body += buffer[start : start + size]
            del buffer[: start + size + 2]


class LoopbackClient:
    """A keep-alive HTTP/1.1 client for one server on loopback (see the module docstring)."""

    def __init__(self, base_url: str = "", *, timeout: float = 60.0, max_idle: float = 4.5) -> None:
        self.base_url = base_url
        self.timeout = timeout
        self.max_idle = max_idle
        """Seconds after which an idle connection is not reused: below uvicorn's keep-alive time-out (5 s, counted
        from its sending the response, a little before this client has read it), so that the server never closes
        a connection while a request is on its way (the retry below covers what this misses)."""
        self.connections_opened = 0
        self.reconnects = 0
        """Requests sent again on a fresh connection after a reused one closed before answering."""
        self._idle: list[_Connection] = []
        self._closed = False
        self._origin: tuple[str, int, str] | None = None

    async def __aenter__(self) -> LoopbackClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        self._closed = True
        for connection in self._idle:
            connection.abort()
        self._idle.clear()

    async def post(self, url: str, *, content: bytes | str = b"", headers: Mapping[str, str] | None = None) -> Response:
        return await self.request("POST", url, content=content, headers=headers)

    async def get(self, url: str, *, headers: Mapping[str, str] | None = None) -> Response:
        return await self.request("GET", url, headers=headers)

    async def request(
        self, method: str, url: str, *, content: bytes | str = b"", headers: Mapping[str, str] | None = None
    ) -> Response:
        if self._closed:
            raise RuntimeError("client closed")
        host, port, path, host_header = self._split(url)
        body = content.encode() if isinstance(content, str) else content
        lines = [f"{method} {path} HTTP/1.1\r\nHost: {host_header}\r\n"]
        idempotent = False
        if headers:
            for name, value in headers.items():
                lines.append(f"{name}: {value}\r\n")
                if not idempotent and name.lower() == "idempotency-key":
                    idempotent = True
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body)}\r\n")
        lines.append("\r\n")
        request = "".join(lines).encode("latin-1") + body
        connection = await self._connection(host, port)
        try:
            return await self._exchange(connection, request)
        except LoopbackClosed as error:
            if not (error.nothing_received and idempotent):
                raise
        # The server had closed this kept-alive connection before reading the request: send it again.
        self.reconnects += 1
        return await self._exchange(await self._open(host, port), request)

    def _split(self, url: str) -> tuple[str, int, str, str]:
        if url.startswith("/"):
            url = self.base_url + url
        origin = self._origin
        if origin is not None and url.startswith(origin[2]):
            path = url[len(origin[2]) :] or "/"
            return origin[0], origin[1], path, origin[2][7:]
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"only plain http:// URLs on loopback: {url!r}")
        port = parts.port or 80
        self._origin = (parts.hostname, port, f"http://{parts.netloc}")
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        return parts.hostname, port, path, parts.netloc

    async def _connection(self, host: str, port: int) -> _Connection:
        loop = asyncio.get_running_loop()
        while self._idle:
            connection = self._idle.pop()
            if not connection.closed and loop.time() - connection.idle_since < self.max_idle:
                return connection
            connection.abort()
        return await self._open(host, port)

    async def _open(self, host: str, port: int) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _transport, connection = await asyncio.wait_for(
                loop.create_connection(lambda: _Connection(loop), host, port), self.timeout
            )
        except (TimeoutError, OSError) as error:
            raise LoopbackConnectError(f"cannot connect to {host}:{port}: {error!r}") from error
        self.connections_opened += 1
        return connection

    async def _exchange(self, connection: _Connection, request: bytes) -> Response:
        waiter = connection.send(request)
        loop = connection.loop
        timer = loop.call_later(self.timeout, _expire, waiter)
        try:
            response = await waiter
        except BaseException:
            connection.abort()  # a half-read response (time-out, cancellation) makes the connection unusable
            raise
        finally:
            timer.cancel()
        if not connection.closed and not self._closed:
            self._idle.append(connection)
        return response


def _expire(waiter: asyncio.Future[Response]) -> None:
    if not waiter.done():
        waiter.set_exception(LoopbackTimeout("no complete response within the time-out"))
