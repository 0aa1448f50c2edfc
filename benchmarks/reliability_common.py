"""Shared by the crash test (scripts/crash_test.py, tests/reliability) and the load test (benchmarks/load_survey.py).

* ``prepare_database`` — a fresh migrated database: an SQLite file in a temp directory, or a new database on a
  PostgreSQL server (dropped by the returned cleanup);
* ``build_world`` — synthetic hospitals with logged-in sessions (created directly in the session table, so no
  argon2 login per user: the cookie token and CSRF token are what a browser would hold after logging in), the
  FY2024 survey open, consortia with registered participants, API tokens and the JSON messages they will send;
* ``Server`` — ``datahealth serve`` as a subprocess on 127.0.0.1 (its own process group, so SIGKILL reaches
  every worker);
* ``HospitalClient`` / ``ConsortiumClient`` — asyncio clients making the requests the survey page (HTMX
  autosave with an ``Idempotency-Key``, app.js) and a consortium's system (``POST /api/v1/exchange/batches``
  with an ``Idempotency-Key``) make, recording every acknowledged (2xx) write; they send through an
  ``httpx.AsyncClient`` (crash test) or a ``loopback_http.LoopbackClient`` (load test: one connection per
  person, a fraction of httpx's CPU per request);
* ``verify`` — every acknowledged write present with its value, no batch half-applied, integrity check, audit
  events matching data rows, the audit chain intact.

Only synthetic data (``exchange.synth`` and fixed survey answers). Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import html
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote_plus, urlencode

import httpx
import polars as pl
from loopback_http import LoopbackError
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.orm import Session

from datahealth import migrate
from datahealth.auth.passwords import hash_password, token_digest
from datahealth.auth.service import start_session
from datahealth.auth.tables import Organisation, OrgKind, Role, User, WebSession
from datahealth.clock import jst_date, system_clock
from datahealth.config import Settings
from datahealth.db import make_engine
from datahealth.errors import Problem
from datahealth.exchange import synth
from datahealth.exchange.service import Sender, Upload, ingest
from datahealth.exchange.tokens import create_token
from datahealth.survey.definitions import load_bundled
from datahealth.survey.service import create_survey, set_status, target_all_hospitals
from datahealth.survey.tables import SurveyStatus

SECRET_KEY = "reliability-test-secret-key-0123456789abcdef"  # noqa: S105 - synthetic, test servers only
PASSWORD = "reliability test password 2025"  # noqa: S105 - synthetic accounts
SURVEY_ID = "cyber-fy2024"
BASE_ANSWERS: dict[str, str | list[str]] = {
    # A complete, valid FY2024 response taking the "yes" side of every branch (all questions relevant).
    "q1_1": "山田 太郎",
    "q1_2": "テスト病院",
    "q2_1": "yes",
    "q2_2": "yes",
    "q2_3": ["riss_exam", "other"],
    "q2_3_other": "医療情報技師",
    "q3": "s3_4",
    "q4": "yes",
    "q5": "yes",
    "q6": "no",
    "q7_1": "yes",
    "q7_2": "no",
    "q8": "yes",
    "q9": "yes",
    "q10": "yes",
    "q11": "no",
    "q12": "yes",
    "q13": "13",
    "q14": "no",
    "q15": "yes",
    "q16": "yes",
    "q17_1": "yes",
    "q17_2": "yes",
    "q17_3": "c3",
    "q17_4": "m2",
    "q17_5": "g4_6",
    "q17_6": "yes",
}
ALREADY_SUBMITTED = Problem("DH-S202").message("ja")
VARIABLE = ("q1_1", "q1_2", "q2_3_other", "q13")
"""Questions whose value changes from save to save (so that a lost save shows as a wrong value)."""


# --- database ----------------------------------------------------------------------------------------------


@dataclass
class Target:
    backend: str
    data_dir: Path
    database_url: str  # empty for SQLite (the file in data_dir)

    def settings(self) -> Settings:
        from pydantic import SecretStr

        return Settings(
            data_dir=self.data_dir, database_url=self.database_url, environment="test", secret_key=SecretStr(SECRET_KEY)
        )

    def environment(self, port: int) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DATAHEALTH_")}
        env.update(
            DATAHEALTH_DATA_DIR=str(self.data_dir),
            DATAHEALTH_DATABASE_URL=self.database_url,
            DATAHEALTH_ENVIRONMENT="test",
            DATAHEALTH_SECRET_KEY=SECRET_KEY,
            DATAHEALTH_HOST="127.0.0.1",
            DATAHEALTH_PORT=str(port),
        )
        src = Path(__file__).resolve().parents[1] / "src"
        env["PYTHONPATH"] = os.pathsep.join([str(src), *filter(None, [os.environ.get("PYTHONPATH", "")])])
        return env

    def engine(self) -> Engine:
        return make_engine(self.settings())


def psycopg_url(url: str) -> str:
    return "postgresql+psycopg://" + url.split("://", 1)[1]


@contextmanager
def prepare_database(backend: str, workdir: Path | None = None, postgres_url: str = "") -> Iterator[Target]:
    """A fresh migrated database on ``backend`` (sqlite or postgres), removed afterwards."""
    base = Path(tempfile.mkdtemp(prefix=f"dh-rel-{backend}-", dir=workdir))
    data_dir = base / "data"
    data_dir.mkdir()
    name = ""
    admin: Engine | None = None
    try:
        if backend == "sqlite":
            target = Target("sqlite", data_dir, "")
        elif backend == "postgres":
            if not postgres_url:
                raise ValueError("PostgreSQL needs a server URL (DATAHEALTH_TEST_POSTGRES_URL or --postgres-url)")
            name = f"dh_rel_{uuid.uuid4().hex[:10]}"
            admin = create_engine(psycopg_url(postgres_url), isolation_level="AUTOCOMMIT", pool_pre_ping=True)
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
            # make_url keeps a query (``?host=/path/to/socket-directory``: PostgreSQL on a Unix socket)
            database_url = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
            target = Target("postgres", data_dir, database_url)
        else:
            raise ValueError(f"unknown backend {backend}")
        engine = target.engine()
        migrate.upgrade(engine)
        engine.dispose()
        yield target
    finally:
        if admin is not None:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
        shutil.rmtree(base, ignore_errors=True)


# --- the synthetic world --------------------------------------------------------------------------------------


@dataclass
class HospitalLogin:
    organisation_id: int
    login_id: str
    session_token: str
    csrf_token: str


@dataclass
class ConsortiumFeed:
    code: str
    token: str
    messages: list[bytes]
    """JSON messages (one participant, one window of days each): disjoint records, one batch each."""


@dataclass
class World:
    survey_id: int
    sections: list[tuple[str, list[str]]]
    """(section name, its answerable questions) of the FY2024 survey."""
    multiple: set[str]
    """Questions answered with a list (select multiple)."""
    hospitals: list[HospitalLogin]
    consortia: list[ConsortiumFeed]


def build_world(
    target: Target, *, hospitals: int, consortia: int = 0, participants: int = 10, days: int = 60, seed: int = 1
) -> World:
    """Hospitals with live sessions, the survey open, consortia ready to send ``participants × days`` records."""
    settings = target.settings()
    engine = target.engine()
    now = system_clock()
    today = jst_date(now)
    defn = load_bundled(SURVEY_ID)
    logins: list[HospitalLogin] = []
    feeds: list[ConsortiumFeed] = []
    with Session(engine) as db:
        survey = create_survey(db, defn, today - timedelta(days=30), today + timedelta(days=1))
        set_status(db, survey, SurveyStatus.OPEN)
        shared_hash = hash_password(PASSWORD)  # one argon2 hash for every synthetic account
        orgs = [
            Organisation(
                kind=OrgKind.HOSPITAL,
                code=f"99{n:08d}",
                name=f"合成病院{n:04d}",
                prefecture_code=1 + n % 47,
                bed_count=20 + (n * 37) % 800,
                founder_type="medical_corporation",
            )
            for n in range(hospitals)
        ]
        db.add_all(orgs)
        db.flush()
        users = [
            User(
                login_id=f"rel-h{n:04d}",
                display_name=f"{org.name} 担当者",
                role=Role.HOSPITAL,
                organisation_id=org.id,
                password_hash=shared_hash,
            )
            for n, org in enumerate(orgs)
        ]
        db.add_all(users)
        db.flush()
        target_all_hospitals(db, survey)
        tokens = [start_session(db, user, settings, now) for user in users]
        db.flush()
        for user, token in zip(users, tokens, strict=True):
            web_session = db.get(WebSession, token_digest(token))
            assert web_session is not None
            logins.append(HospitalLogin(user.organisation_id, user.login_id, token, web_session.csrf_token))
        survey_id = survey.id
        if consortia:
            feeds = _consortia(db, consortia, participants, days, seed, today, now)
        db.commit()
    engine.dispose()
    sections = [(s.name, [q.name for q in s.questions if q.answerable]) for s in defn.sections]
    multiple = {name for name, value in BASE_ANSWERS.items() if isinstance(value, list)}
    return World(survey_id, sections, multiple, logins, feeds)


def _consortia(
    db: Session, count: int, participants: int, days: int, seed: int, today: date, now: datetime
) -> list[ConsortiumFeed]:
    codes = synth.consortium_ids(count)
    start = today - timedelta(days=days + 2)
    data = synth.generate(
        participants=participants,
        days=days,
        consortia=codes,
        start=start,
        seed=seed,
        record_types=("weight", "blood_pressure", "activity"),
    )
    registries = [Upload(name, content) for name, content in synth.csv_files(data, records=False)]
    result = ingest(db, Sender(None, "reliability-setup"), registries, channel="cli", now=now)
    if result.status != "accepted":
        raise RuntimeError(f"registries refused: {result.issues[:3]}")
    send_time = (now + timedelta(hours=9)).replace(tzinfo=None)  # Japan local time, as the spec sends it
    observed = pl.col("observation_time").str.slice(0, 8).str.strptime(pl.Date, "%Y%m%d")
    window = 5
    feeds: list[ConsortiumFeed] = []
    for code in codes:
        token_row, plaintext = create_token(db, code, "reliability", None, now)
        del token_row
        messages: list[bytes] = []
        for first in range(0, days, window):
            part = {
                name: frame.filter(
                    (pl.col("consortium_id") == code)
                    & (observed >= start + timedelta(days=first))
                    & (observed < start + timedelta(days=first + window))
                )
                for name, frame in data.records.items()
            }
            windowed = synth.SynthData({}, part, [], start, days)
            messages += [body for _name, body in synth.json_messages(windowed, send_time)]
        feeds.append(ConsortiumFeed(code, plaintext, messages))
    return feeds


# --- the server ----------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Server:
    """``datahealth serve`` on 127.0.0.1 in its own process group."""

    def __init__(
        self,
        target: Target,
        port: int,
        *,
        workers: int = 1,
        log: Path | None = None,
        keep_standby: int = 0,
        settings: dict[str, str] | None = None,
    ) -> None:
        self.target = target
        self.settings = settings or {}
        """More ``DATAHEALTH_*`` variables for the server (the caller's own are not passed on)."""
        self.port = port
        self.workers = workers
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.keep_standby = keep_standby
        self._standby: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _spawn(self) -> subprocess.Popen[bytes]:
        """A process that has imported the application and waits for a line on stdin to run ``serve``.

        Importing takes seconds on a busy machine; the crash test keeps ``keep_standby`` of them ready so that
        a restart after SIGKILL costs only what ``datahealth serve`` itself does (settings and database checks,
        the app, binding the port).
        """
        command = [
            sys.executable,
            "-c",
            "import sys, uvicorn, datahealth.web.app; from datahealth.cli import app; sys.stdin.readline(); app()",
            "serve",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            "--no-access-log",
        ]
        output = self.log.open("ab") if self.log else subprocess.DEVNULL
        return subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            command,
            env=self.target.environment(self.port) | self.settings,
            stdin=subprocess.PIPE,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start(self, timeout: float = 120) -> float:
        """Start (from the stand-by) and wait until it answers; returns the seconds it took."""
        began = time.monotonic()
        process = self._standby.pop(0) if self._standby else self._spawn()
        assert process.stdin is not None
        process.stdin.write(b"go\n")
        process.stdin.flush()
        self.process = process
        self.starts += 1
        deadline = began + timeout
        try:
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    raise RuntimeError(f"server exited with {process.returncode} (log: {self.log})")
                try:
                    if httpx.get(self.url + "/login", timeout=2).status_code == 200:
                        return time.monotonic() - began
                except httpx.HTTPError:
                    pass
                time.sleep(0.02)
            self.kill()
            raise RuntimeError(f"server did not answer within {timeout} s")
        finally:
            while len(self._standby) < self.keep_standby:
                self._standby.append(self._spawn())

    def kill(self) -> None:
        """SIGKILL the whole process group (every worker) and wait for it."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()
        self.process = None

    def stop(self) -> None:
        for standby in self._standby:
            os.killpg(standby.pid, signal.SIGKILL)
            standby.wait()
        self._standby.clear()
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            self.kill()
        self.process = None


# --- clients ------------------------------------------------------------------------------------------------


@dataclass
class AckedSave:
    login_id: str
    key: str
    section: str
    latency: float
    at: float = 0.0
    """``time.monotonic()`` when acknowledged."""


@dataclass
class AckedBatch:
    code: str
    key: str
    message: int
    batch_id: str
    stored: int
    duplicate: bool


@dataclass
class Ledger:
    """What the clients were told: every acknowledged write, and what went wrong."""

    saves: list[AckedSave] = field(default_factory=list)
    submits: dict[str, str] = field(default_factory=dict)  # login id -> how acknowledged
    batches: list[AckedBatch] = field(default_factory=list)
    model: dict[str, dict[str, str | list[str]]] = field(default_factory=dict)
    """login id -> the answers every acknowledged save of that hospital adds up to."""
    unexpected: list[str] = field(default_factory=list)
    """Responses that are neither an acknowledgement nor a retryable failure (a 500, a wrong 4xx, a lost ack)."""
    retries: int = 0
    transport_errors: dict[str, int] = field(default_factory=dict)
    """Connection errors and time-outs by exception name (each was retried)."""
    status_counts: dict[int, int] = field(default_factory=dict)
    save_latencies: list[float] = field(default_factory=list)
    batch_latencies: list[float] = field(default_factory=list)
    resend_checks: int = 0


RETRYABLE = (httpx.TransportError, LoopbackError)
"""Transport failures (no answer) of either HTTP client: the request is sent again."""


class HttpResponse(Protocol):
    """What the clients read of a response (``httpx.Response`` and ``loopback_http.Response`` both have it)."""

    @property
    def status_code(self) -> int: ...
    @property
    def headers(self) -> Any: ...
    @property
    def text(self) -> str: ...
    def json(self) -> Any: ...


class HttpClient(Protocol):
    """``httpx.AsyncClient`` or ``loopback_http.LoopbackClient``: the one call the clients make."""

    async def post(self, url: str, *, content: bytes | str, headers: dict[str, str]) -> Any: ...


class Gate:
    """Lets the controller pause the clients between operations (for a consistent check) and stop them."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.open.set()
        self.stopping = False
        self.busy = 0
        self.idle = asyncio.Condition()

    async def enter(self) -> bool:
        await self.open.wait()
        if self.stopping:
            return False
        self.busy += 1
        return True

    async def leave(self) -> None:
        self.busy -= 1
        async with self.idle:
            self.idle.notify_all()

    async def pause(self) -> None:
        self.open.clear()
        async with self.idle:
            await self.idle.wait_for(lambda: self.busy == 0)

    def resume(self) -> None:
        self.open.set()

    async def stop(self) -> None:
        self.stopping = True
        await self.pause()
        self.open.set()


async def _send_until_acknowledged(
    ledger: Ledger, attempt: Callable[[int], Any], accept: Callable[[HttpResponse, int], bool], what: str
) -> tuple[HttpResponse, int]:
    """Repeat ``attempt(n)`` while the server is down (connection errors, 503) until it is acknowledged."""
    tries = 0
    while True:
        try:
            response: HttpResponse = await attempt(tries)
        except RETRYABLE as error:
            tries += 1
            ledger.retries += 1
            name = type(error).__name__
            ledger.transport_errors[name] = ledger.transport_errors.get(name, 0) + 1
            await asyncio.sleep(0.05 + random.random() * 0.1)
            continue
        ledger.status_counts[response.status_code] = ledger.status_counts.get(response.status_code, 0) + 1
        if response.status_code == 503:
            tries += 1
            ledger.retries += 1
            await asyncio.sleep(0.05 + random.random() * 0.1)
            continue
        if not accept(response, tries):
            codes = sorted(set(re.findall(r"DH-[A-Z][0-9]{3}", response.text)))
            ledger.unexpected.append(f"{what} (attempt {tries + 1}): HTTP {response.status_code} {codes}")
        return response, tries


def random_uuid() -> str:
    """``str(uuid.uuid4())`` (what app.js's ``crypto.randomUUID()`` sends) at a quarter of its cost."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


_FORM_TEMPLATES: dict[str, list[tuple[str, str | None]]] = {}
"""Section name -> (question, its encoded ``_shown`` and answer fields, or None for a VARIABLE question)."""


def _form_template(questions: list[str]) -> list[tuple[str, str | None]]:
    template: list[tuple[str, str | None]] = []
    for question in questions:
        if question in VARIABLE:
            template.append((question, None))
            continue
        value = BASE_ANSWERS[question]
        items = value if isinstance(value, list) else [value]
        template.append((question, urlencode([("_shown", question), *[(question, item) for item in items]])))
    return template


class HospitalClient:
    """One person after another filling in the survey: autosaves (HTMX, Idempotency-Key), then submit."""

    def __init__(
        self,
        server_url: str,
        world: World,
        logins: list[HospitalLogin],
        ledger: Ledger,
        gate: Gate,
        rng: random.Random,
        *,
        submit_share: float = 0.5,
        saves_per_visit: tuple[int, int] = (3, 12),
        think: tuple[float, float] = (0.0, 0.0),
        same_key_retry: float = 0.5,
    ) -> None:
        self.url = server_url
        self.world = world
        self.logins = logins
        self.ledger = ledger
        self.gate = gate
        self.rng = rng
        self.submit_share = submit_share
        self.saves_per_visit = saves_per_visit
        self.think = think
        self.same_key_retry = same_key_retry
        self.saved_sections: dict[str, set[str]] = {}

    async def run(self, client: HttpClient) -> None:
        index = 0
        while True:
            waiting = [login for login in self.logins if login.login_id not in self.ledger.submits]
            if not waiting:
                return
            login = waiting[index % len(waiting)]
            index += 1
            for _ in range(self.rng.randint(*self.saves_per_visit)):
                if not await self._step(client, login, self._save):
                    return
            if self._complete(login) and self.rng.random() < self.submit_share:
                if not await self._step(client, login, self._submit):
                    return

    async def _step(self, client: HttpClient, login: HospitalLogin, action: Callable[..., Any]) -> bool:
        if not await self.gate.enter():
            return False
        try:
            await action(client, login)
        finally:
            await self.gate.leave()
        if self.think[1] > 0:
            await asyncio.sleep(self.rng.uniform(*self.think))
        return True

    def _complete(self, login: HospitalLogin) -> bool:
        return len(self.saved_sections.get(login.login_id, set())) == len(self.world.sections)

    def _cookie(self, login: HospitalLogin) -> str:
        return f"dh_session={login.session_token}"  # a header: per-request cookies= is deprecated in httpx

    async def _save(self, client: HttpClient, login: HospitalLogin) -> None:
        done = self.saved_sections.setdefault(login.login_id, set())
        sections = self.world.sections
        section = next((name for name, _ in sections if name not in done), None) or self.rng.choice(sections)[0]
        model = self.ledger.model.get(login.login_id, {})
        values, body = self._form(section)
        key = random_uuid()
        path = f"/surveys/{self.world.survey_id}/s/{section}"
        keys = [key]
        began = time.perf_counter()

        async def attempt(tries: int) -> HttpResponse:
            if tries and self.rng.random() >= self.same_key_retry:
                keys.append(random_uuid())  # app.js sends a fresh key when it saves again after a failure
            headers = {
                "HX-Request": "true",
                "X-CSRF-Token": login.csrf_token,
                "Idempotency-Key": keys[-1],
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": self._cookie(login),
            }
            return await client.post(self.url + path, content=body, headers=headers)

        response, _tries = await _send_until_acknowledged(
            self.ledger, attempt, lambda r, _t: r.status_code == 200, f"save {login.login_id}/{section}"
        )
        if response.status_code == 200:
            latency = time.perf_counter() - began
            self.ledger.saves.append(AckedSave(login.login_id, keys[-1], section, latency, time.monotonic()))
            self.ledger.save_latencies.append(latency)
            self.ledger.model[login.login_id] = {**model, **values}
            done.add(section)

    def _form(self, section: str) -> tuple[dict[str, str | list[str]], str]:
        """The section's answers (variable questions get a new value) and the form body the page would post.

        The body is what ``urlencode`` makes of ``_shown``/answer pairs in question order; the fixed parts are
        encoded once per section (encoding every field of every save was the driver's largest cost).
        """
        template = _FORM_TEMPLATES.get(section)
        if template is None:
            template = _FORM_TEMPLATES[section] = _form_template(dict(self.world.sections)[section])
        values: dict[str, str | list[str]] = {}
        parts: list[str] = []
        for question, fixed in template:
            if fixed is None:
                value = values[question] = self._variant(question)
                parts.append(f"_shown={question}&{question}={quote_plus(value)}")
            else:
                values[question] = BASE_ANSWERS[question]
                parts.append(fixed)
        return values, "&".join(parts)

    def _variant(self, question: str) -> str:
        if question == "q13":
            return str(self.rng.randint(1, 99))
        return f"{BASE_ANSWERS[question]} {self.rng.randint(0, 10**9)}"

    async def _submit(self, client: HttpClient, login: HospitalLogin) -> None:
        path = f"/surveys/{self.world.survey_id}/submit"
        form = urlencode({"csrf_token": login.csrf_token})

        async def attempt(_tries: int) -> HttpResponse:
            headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": self._cookie(login)}
            return await client.post(self.url + path, content=form, headers=headers)  # never follows the 303

        def accept(response: HttpResponse, tries: int) -> bool:
            if response.status_code == 303 and response.headers.get("location", "").endswith("/receipt"):
                return True
            # A retry after a lost answer finds the response already submitted (DH-S202): that was the ack.
            # The review page shows the message, not the code.
            return tries > 0 and response.status_code == 409 and ALREADY_SUBMITTED in html.unescape(response.text)

        response, tries = await _send_until_acknowledged(self.ledger, attempt, accept, f"submit {login.login_id}")
        if accept(response, tries):
            self.ledger.submits[login.login_id] = "303" if response.status_code == 303 else "409-after-retry"


class ConsortiumClient:
    """A consortium's system sending its JSON messages, one batch each, with an Idempotency-Key."""

    def __init__(
        self,
        server_url: str,
        feed: ConsortiumFeed,
        ledger: Ledger,
        gate: Gate,
        rng: random.Random,
        *,
        resend: float,
        pause: float = 0.0,
    ) -> None:
        self.url = server_url + "/api/v1/exchange/batches"
        self.feed = feed
        self.ledger = ledger
        self.gate = gate
        self.rng = rng
        self.resend = resend
        self.pause = pause
        self.sent: list[AckedBatch] = []

    def _headers(self, key: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.feed.token}",
            "Idempotency-Key": key,
            "Content-Type": "application/json",
        }

    async def run(self, client: HttpClient) -> None:
        for number, body in enumerate(self.feed.messages):
            if not await self.gate.enter():
                return
            try:
                await self._send(client, number, body)
                if self.sent and self.rng.random() < self.resend:
                    await self._resend(client, self.rng.choice(self.sent))
            finally:
                await self.gate.leave()
            if self.pause:
                await asyncio.sleep(self.pause)

    async def _send(self, client: HttpClient, number: int, body: bytes) -> None:
        key = f"{self.feed.code}-{number}-{uuid.uuid4().hex[:8]}"
        began = time.perf_counter()

        async def attempt(_tries: int) -> HttpResponse:
            return await client.post(self.url, content=body, headers=self._headers(key))

        def accept(response: HttpResponse, tries: int) -> bool:
            return response.status_code == 201 or (tries > 0 and response.status_code == 200)

        response, tries = await _send_until_acknowledged(self.ledger, attempt, accept, f"batch {key}")
        if not accept(response, tries):
            return
        self.ledger.batch_latencies.append(time.perf_counter() - began)
        result = response.json()
        stored = sum(c.get("stored", 0) + c.get("replaced", 0) for c in result["counts"].values())
        if result["status"] != "accepted":
            self.ledger.unexpected.append(f"batch {key}: status {result['status']}")
        acked = AckedBatch(self.feed.code, key, number, result["batch_id"], stored, response.status_code == 200)
        self.sent.append(acked)
        self.ledger.batches.append(acked)

    async def _resend(self, client: HttpClient, first: AckedBatch) -> None:
        """An acknowledged batch again: same key → the first result (200); same content, new key → nothing new."""
        body = self.feed.messages[first.message]
        same_key = self.rng.random() < 0.5
        key = first.key if same_key else f"{first.key}-again-{uuid.uuid4().hex[:6]}"

        async def attempt(_tries: int) -> HttpResponse:
            return await client.post(self.url, content=body, headers=self._headers(key))

        def accept(response: HttpResponse, tries: int) -> bool:
            if same_key:
                return response.status_code == 200 and response.json().get("duplicate_of") == first.batch_id
            if response.status_code not in (200, 201):
                return False
            counts = response.json()["counts"].values()
            return all(c.get("stored", 0) == 0 and c.get("replaced", 0) == 0 for c in counts)

        await _send_until_acknowledged(self.ledger, attempt, accept, f"re-send of {first.key} (same key: {same_key})")
        self.ledger.resend_checks += 1
