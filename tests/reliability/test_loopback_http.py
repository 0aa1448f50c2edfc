"""benchmarks/loopback_http.py, the load test's HTTP client, against a scripted asyncio server on 127.0.0.1.

Keep-alive reuse, Content-Length, chunked and read-until-close bodies, a server closing an idle connection,
the one retry of a request the server dropped unread (only with an Idempotency-Key), time-outs and refused
connections (transport errors the clients' retry loop catches).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from own_loop import run_isolated

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from loopback_http import (  # noqa: E402
    LoopbackClient,
    LoopbackClosed,
    LoopbackConnectError,
    LoopbackError,
    LoopbackTimeout,
)
from reliability_common import RETRYABLE, free_port  # noqa: E402

Reply = Callable[[asyncio.StreamWriter, bytes], Awaitable[bool]]
"""Answers one request (its body given); returns False to close the connection afterwards."""


async def length(writer: asyncio.StreamWriter, body: bytes) -> bool:
    content = b"echo:" + body
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(content))
    writer.write(content)  # head and body in separate writes: the client may get them in separate reads
    return True


async def chunked(writer: asyncio.StreamWriter, body: bytes) -> bool:
    writer.write(b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n")
    payload = b'{"status": "accepted", "echo": "%s"}' % body
    for start in range(0, len(payload), 7):
        part = payload[start : start + 7]
        writer.write(b"%x;ext=1\r\n%s\r\n" % (len(part), part))
        await writer.drain()
        await asyncio.sleep(0)
    writer.write(b"0\r\nX-Trailer: yes\r\n\r\n")
    return True


async def redirect(writer: asyncio.StreamWriter, body: bytes) -> bool:
    writer.write(b"HTTP/1.1 303 See Other\r\nLocation: /surveys/1/receipt\r\nContent-Length: 0\r\n\r\n")
    return True


async def then_close(writer: asyncio.StreamWriter, body: bytes) -> bool:
    await length(writer, body)
    return False  # like an idle time-out: closes without saying so in the response


async def connection_close(writer: asyncio.StreamWriter, body: bytes) -> bool:
    writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
    return False


async def until_close(writer: asyncio.StreamWriter, body: bytes) -> bool:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of ")
    await writer.drain()
    writer.write(b"it")
    return False


async def drop(writer: asyncio.StreamWriter, body: bytes) -> bool:
    return False  # read the request, answer nothing, close: what a server closing an idle connection looks like


async def stall(writer: asyncio.StreamWriter, body: bytes) -> bool:
    await asyncio.sleep(5)
    return False


class Scripted:
    """A server answering the n-th request with ``replies[n]``; counts connections and requests."""

    def __init__(self, replies: list[Reply]) -> None:
        self.replies = replies
        self.connections = 0
        self.requests: list[tuple[int, bytes, dict[str, str]]] = []  # (connection number, body, headers)
        self.port = free_port()
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> Scripted:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    return
                lines = head.decode("latin-1").split("\r\n")
                headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.requests.append((number, body, headers))
                keep = await self.replies[len(self.requests) - 1](writer, body)
                await writer.drain()
                if not keep:
                    return
        finally:
            writer.close()


LOOPS = ["asyncio", "uvloop"]


@pytest.fixture(params=LOOPS)
def run(request: pytest.FixtureRequest) -> Callable[[Callable[[], Awaitable[None]]], None]:
    """Runs a test coroutine on the standard event loop and on uvloop (the load test's loop when installed)."""
    if request.param == "asyncio":
        return lambda test: run_isolated(test())
    uvloop = pytest.importorskip("uvloop")

    def on_uvloop(test: Callable[[], Awaitable[None]]) -> None:
        async def main() -> None:
            await test()

        def in_thread() -> None:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                runner.run(main())

        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(in_thread).result()

    return on_uvloop


Run = Callable[[Callable[[], Awaitable[None]]], None]


def test_keep_alive_reuses_one_connection_and_reads_every_framing(run: Run) -> None:
    async def test() -> None:
        async with Scripted([length, chunked, redirect, length]) as server:
            async with LoopbackClient(server.url, timeout=10) as client:
                first = await client.post("/save", content="a=1", headers={"Idempotency-Key": "k1"})
                batch = await client.post(server.url + "/batches", content=b"xyz" * 20, headers={})
                submit = await client.post("/submit", content="csrf=t", headers={})
                big = await client.post("/save", content="b" * 300_000, headers={"Cookie": "dh_session=x"})
            assert (first.status_code, first.text, first.headers["content-type"]) == (200, "echo:a=1", "text/plain")
            assert batch.status_code == 201 and batch.json() == {"status": "accepted", "echo": "xyz" * 20}
            assert submit.status_code == 303 and submit.headers.get("location", "").endswith("/receipt")
            assert submit.content == b""
            assert big.content == b"echo:" + b"b" * 300_000
            assert server.connections == 1 and client.connections_opened == 1
            assert [number for number, _, _ in server.requests] == [1, 1, 1, 1]
            assert server.requests[0][2]["idempotency-key"] == "k1"
            assert server.requests[0][2]["host"] == f"127.0.0.1:{server.port}"
            assert server.requests[3][2]["cookie"] == "dh_session=x"

    run(test)


def test_a_connection_the_server_closed_is_replaced(run: Run) -> None:
    async def test() -> None:
        async with Scripted([then_close, length, connection_close, until_close, length]) as server:
            async with LoopbackClient(server.url, timeout=10) as client:
                assert (await client.post("/a", content="1", headers={})).text == "echo:1"
                await asyncio.sleep(0.05)  # the server's FIN arrives while the connection is idle
                assert (await client.post("/b", content="2", headers={})).text == "echo:2"
                assert (await client.post("/c", content="3", headers={})).text == "ok"  # Connection: close
                assert (await client.post("/d", content="4", headers={})).text == "all of it"  # no length: to EOF
                assert (await client.post("/e", content="5", headers={})).text == "echo:5"
            assert server.connections == 4 and client.connections_opened == 4 and client.reconnects == 0
            assert [number for number, _, _ in server.requests] == [1, 2, 2, 3, 4]

    run(test)


def test_a_request_dropped_unread_on_a_reused_connection_is_sent_again_only_with_an_idempotency_key(run: Run) -> None:
    async def test() -> None:
        async with Scripted([length, drop, length, length, drop, length]) as server:
            async with LoopbackClient(server.url, timeout=10) as client:
                await client.post("/save", content="1", headers={"Idempotency-Key": "a"})
                retried = await client.post("/save", content="2", headers={"Idempotency-Key": "b"})
                assert retried.text == "echo:2" and client.reconnects == 1
                await client.post("/submit", content="3", headers={})
                with pytest.raises(LoopbackClosed) as raised:
                    await client.post("/submit", content="4", headers={})  # no key: the caller decides
                assert raised.value.nothing_received and isinstance(raised.value, RETRYABLE)
                assert (await client.post("/submit", content="5", headers={})).text == "echo:5"
            keys = [headers.get("idempotency-key") for _, _, headers in server.requests]
            assert keys == ["a", "b", "b", None, None, None]
            assert [number for number, _, _ in server.requests] == [1, 1, 2, 2, 2, 3]

    run(test)


def test_a_fresh_connection_closed_without_an_answer_is_not_retried(run: Run) -> None:
    async def test() -> None:
        async with Scripted([drop, length]) as server:
            async with LoopbackClient(server.url, timeout=10) as client:
                with pytest.raises(LoopbackClosed) as raised:
                    await client.post("/save", content="1", headers={"Idempotency-Key": "a"})
                assert not raised.value.nothing_received and client.reconnects == 0
            assert len(server.requests) == 1

    run(test)


def test_idle_connections_older_than_max_idle_are_not_reused(run: Run) -> None:
    async def test() -> None:
        async with Scripted([length, length, length]) as server:
            async with LoopbackClient(server.url, timeout=10, max_idle=0.05) as client:
                await client.post("/a", content="1", headers={})
                await client.post("/a", content="2", headers={})
                await asyncio.sleep(0.1)
                await client.post("/a", content="3", headers={})
            assert [number for number, _, _ in server.requests] == [1, 1, 2]

    run(test)


def test_concurrent_requests_on_one_client_get_their_own_connections(run: Run) -> None:
    async def test() -> None:
        async with Scripted([length] * 6) as server:
            async with LoopbackClient(server.url, timeout=10) as client:
                replies = await asyncio.gather(*(client.post("/x", content=str(n), headers={}) for n in range(3)))
                assert sorted(r.text for r in replies) == ["echo:0", "echo:1", "echo:2"]
                again = await asyncio.gather(*(client.post("/x", content=str(n), headers={}) for n in range(3)))
                assert sorted(r.text for r in again) == ["echo:0", "echo:1", "echo:2"]
            assert server.connections == 3

    run(test)


def test_refused_and_timed_out_requests_are_transport_errors(run: Run) -> None:
    async def test() -> None:
        async with LoopbackClient(f"http://127.0.0.1:{free_port()}", timeout=10) as client:
            with pytest.raises(LoopbackConnectError) as refused:
                await client.post("/save", content="1", headers={})
            assert isinstance(refused.value, RETRYABLE)
        async with Scripted([stall, length]) as server:
            async with LoopbackClient(server.url, timeout=0.2) as client:
                with pytest.raises(LoopbackTimeout):
                    await client.post("/save", content="1", headers={})
                assert (await client.post("/save", content="2", headers={})).text == "echo:2"  # a new connection
            assert server.connections == 2

    run(test)


def test_a_malformed_response_is_an_error(run: Run) -> None:
    async def garbage(writer: asyncio.StreamWriter, body: bytes) -> bool:
        writer.write(b"SMTP 220 hello\r\n\r\n")
        return True

    async def test() -> None:
        async with Scripted([garbage]) as server:
            async with LoopbackClient(server.url, timeout=10) as client:
                with pytest.raises(LoopbackError, match="malformed"):
                    await client.post("/save", content="1", headers={})

    run(test)


def test_the_driver_self_test_runs_people_and_consortia_against_the_stub_without_errors() -> None:
    """``load_survey.py --driver-only-selftest``, small: the stub answers like the app, nothing goes wrong."""
    import load_survey

    args = load_survey.parser().parse_args(
        ["--driver-only-selftest", "--users", "20", "--think", "0.1", "--ramp", "0.5", "--duration", "2",
         "--submit-share", "0.5", "--consortia", "2", "--days", "30", "--batch-pause", "0.1"]
    )  # fmt: skip
    report = run_isolated(load_survey.run_selftest(args))
    summary = "\n".join(report.lines())
    assert report.saves > 0 and report.batches > 0 and report.requests > 0, summary
    assert report.errors == 0 and report.transport_errors == {}, summary
    assert set(report.statuses) == {200, 201, 303}, summary  # saves and re-sent batches, new batches, submissions
    assert report.submits > 0 and report.driver_cpu > 0, summary
