"""A trivial HTTP/1.1 server answering the load test's requests, to measure the driver alone.

``benchmarks/load_survey.py --driver-only-selftest`` starts this in another process (127.0.0.1, a free port)
and drives it like the application: the driver's CPU per request is then independent of the application's
speed. It answers without a database, as cheaply as it can (asyncio protocol, uvloop when installed):

* ``POST /surveys/<id>/s/<section>`` — 200 with a small HTML fragment (the autosave's answer);
* ``POST /surveys/<id>/submit`` — 303 to ``/surveys/<id>/receipt``;
* ``POST /api/v1/exchange/batches`` — 201 with the batch's counts; a repeated ``Idempotency-Key`` gets 200 and
  ``duplicate_of`` the first batch; a repeated body with a new key stores nothing (what the real server does);
* anything else — 200 ``ok``.

Idle keep-alive connections are closed after ``--keep-alive`` seconds (uvicorn's default is 5 s), so the
driver's reconnection is exercised too. Odd-numbered batch answers are sent chunked. It stops by itself after
``--lifetime`` seconds. Loopback only.

    python benchmarks/loopback_stub.py --port 8765 --lifetime 60
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
import time
from typing import cast

SAVE_BODY = (
    '<div id="autosave-status" class="saved" role="status">保存しました / Saved '
    + "<span>"
    + "x" * 600
    + "</span></div>"
).encode()


class _Stub(asyncio.Protocol):
    batches: dict[str, str] = {}
    bodies: set[bytes] = set()
    connections: set[_Stub] = set()
    served = 0

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.last = time.monotonic()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it
        _Stub.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        _Stub.connections.discard(self)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
            headers = {}
            for line in head[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            if len(self.buffer) < end + 4 + length:
                return
            body = bytes(self.buffer[end + 4 : end + 4 + length])
            del self.buffer[: end + 4 + length]
            method, path = head[0].split(" ")[:2]
            self.last = time.monotonic()
            _Stub.served += 1
            assert self.transport is not None
            self.transport.write(self.answer(method, path, headers, body))

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
        if method == "POST" and path == "/api/v1/exchange/batches":
            return self.batch(headers.get("idempotency-key", ""), body)
        if method == "POST" and path.endswith("/submit"):
            return _response(303, b"", [("location", path.rsplit("/", 1)[0] + "/receipt")])
        if method == "POST" and "/s/" in path:
            return _response(200, SAVE_BODY, [("content-type", "text/html; charset=utf-8")])
        return _response(200, b"ok", [("content-type", "text/plain")])

    def batch(self, key: str, body: bytes) -> bytes:
        if key in _Stub.batches:
            result = {"status": "accepted", "batch_id": key, "duplicate_of": _Stub.batches[key], "counts": {}}
            return _response(200, json.dumps(result).encode(), [("content-type", "application/json")])
        digest = hashlib.sha256(body).digest()
        stored = 0 if digest in _Stub.bodies else 1 + len(body) // 100
        _Stub.bodies.add(digest)
        batch_id = f"b{len(_Stub.batches) + 1}"
        _Stub.batches[key] = batch_id
        result = {"status": "accepted", "batch_id": batch_id, "counts": {"weight": {"stored": stored, "replaced": 0}}}
        content = json.dumps(result).encode()
        if len(_Stub.batches) % 2:
            return _chunked(201, content, [("content-type", "application/json")])
        return _response(201, content, [("content-type", "application/json")])


def _response(status: int, body: bytes, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status} X\r\n", f"content-length: {len(body)}\r\n"]
    lines += [f"{name}: {value}\r\n" for name, value in headers]
    return ("".join(lines) + "\r\n").encode("latin-1") + body


def _chunked(status: int, body: bytes, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status} X\r\n", "transfer-encoding: chunked\r\n"]
    lines += [f"{name}: {value}\r\n" for name, value in headers]
    half = len(body) // 2
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:half], body[half:]) if part)
    return ("".join(lines) + "\r\n").encode("latin-1") + chunks + b"0\r\n\r\n"


async def serve(port: int, keep_alive: float, lifetime: float) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Stub, "127.0.0.1", port, backlog=4096)
    print("ready", flush=True)
    ends = time.monotonic() + lifetime
    while time.monotonic() < ends:
        await asyncio.sleep(0.5)
        idle_before = time.monotonic() - keep_alive
        for connection in list(_Stub.connections):
            if connection.last < idle_before and not connection.buffer and connection.transport is not None:
                connection.transport.close()
    server.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--keep-alive", type=float, default=5.0, help="seconds before an idle connection is closed")
    p.add_argument("--lifetime", type=float, default=120.0, help="seconds before the stub stops by itself")
    args = p.parse_args()
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(args.port, args.keep_alive, args.lifetime))
    else:
        uvloop.run(serve(args.port, args.keep_alive, args.lifetime))
    return 0


if __name__ == "__main__":
    sys.exit(main())
