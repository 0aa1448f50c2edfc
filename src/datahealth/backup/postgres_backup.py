"""PostgreSQL: ``pg_dump -Fc`` in an exported snapshot, ``pg_restore`` into scratch or swapped-in databases.

Connection details reach the client tools through libpq environment variables (``PGHOST``, ``PGUSER``,
``PGPASSWORD`` …), never through the command line, so a password does not show in ``ps`` or in messages;
tool errors are scrubbed of it before they reach the operator.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess  # noqa: S404  (pg_dump/pg_restore are run with argument lists, never a shell)  # nosec B404
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from datahealth.backup.common import BackupError, Note, Notify, quiet, scrub, tail
from datahealth.backup.contenthash import TableDigest, database_digests

_LIBPQ_QUERY_ENV = {
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "sslcrl": "PGSSLCRL",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "application_name": "PGAPPNAME",
    "options": "PGOPTIONS",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
    "host": "PGHOST",
    "port": "PGPORT",
    "user": "PGUSER",
}
_CLEARED_ENV = ("PGHOST", "PGHOSTADDR", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE", "PGSERVICE")
_TOOL_DIRS = (
    "/usr/lib/postgresql/{major}/bin",  # Debian, Ubuntu
    "/usr/pgsql-{major}/bin",  # RHEL and the PGDG packages
    "/opt/homebrew/opt/postgresql@{major}/bin",  # macOS Homebrew (Apple silicon)
    "/usr/local/opt/postgresql@{major}/bin",  # macOS Homebrew (Intel)
)


@dataclass(frozen=True)
class Server:
    """Where a PostgreSQL database lives, as the client tools need it."""

    url: URL
    """psycopg URL of the database."""
    major: int
    version: str
    encoding: str
    collate: str
    ctype: str
    owner: str

    @property
    def database(self) -> str:
        return self.url.database or ""

    def for_database(self, name: str) -> URL:
        return self.url.set(database=name)

    @property
    def secrets(self) -> list[str]:
        return [self.url.password] if isinstance(self.url.password, str) and self.url.password else []


@dataclass(frozen=True)
class Tool:
    name: str
    path: Path
    version: str

    @property
    def major(self) -> int:
        return _major(self.version)


def psycopg_url(url: str) -> URL:
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


@contextmanager
def connect(url: URL, autocommit: bool = False) -> Iterator[Connection]:
    engine = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT" if autocommit else None)
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def describe(engine: Engine) -> Server:
    with engine.connect() as connection:
        row = connection.execute(
            text(
                "SELECT current_setting('server_version_num')::int, current_setting('server_version'), "
                "pg_encoding_to_char(encoding), datcollate, datctype, pg_get_userbyid(datdba) "
                "FROM pg_database WHERE datname = current_database()"
            )
        ).one()
    return Server(
        url=engine.url,
        major=int(row[0]) // 10000,
        version=str(row[1]).split()[0],
        encoding=str(row[2]),
        collate=str(row[3]),
        ctype=str(row[4]),
        owner=str(row[5]),
    )


def libpq_env(url: URL, database: str | None = None) -> dict[str, str]:
    """The environment for a client tool: connection settings as libpq variables, the password included."""
    env = {key: value for key, value in os.environ.items() if key not in _CLEARED_ENV}
    if url.host:
        env["PGHOST"] = url.host
    if url.port:
        env["PGPORT"] = str(url.port)
    if url.username:
        env["PGUSER"] = url.username
    if isinstance(url.password, str) and url.password:
        env["PGPASSWORD"] = url.password
    for key, value in url.query.items():
        variable = _LIBPQ_QUERY_ENV.get(key)
        if variable:
            env[variable] = value if isinstance(value, str) else value[0]
    env["PGDATABASE"] = database or url.database or ""
    return env


# --- finding pg_dump / pg_restore --------------------------------------------------------------------


def _major(version: str) -> int:
    match = re.search(r"(\d+)(?:\.(\d+))?", version)
    if not match:
        return 0
    major = int(match.group(1))
    return major if major >= 10 else major * 10 + int(match.group(2) or 0)  # 9.6 → 96, older than 10


def tool_version(path: Path) -> str:
    completed = subprocess.run(  # noqa: S603  (a fixed argument list; path found by find_tool)  # nosec B603
        [str(path), "--version"], capture_output=True, text=True, timeout=30, check=False
    )
    match = re.search(r"\d+(?:\.\d+)+|\d+", completed.stdout)
    return match.group(0) if match else ""


def installed_majors() -> list[int]:
    majors: set[int] = set()
    for pattern in _TOOL_DIRS:
        for found in glob.glob(pattern.format(major="*")):
            match = re.search(r"(\d+)/bin$", found)
            if match:
                majors.add(int(match.group(1)))
    return sorted(majors, reverse=True)


def find_tool(name: str, minimum: int, bindir: str | Path | None) -> Tool:
    """The ``pg_dump``/``pg_restore`` of the server's major version, or a newer one (``DH-B104``).

    Search order: ``DATAHEALTH_PG_BINDIR`` if set (and nothing else); the version-specific directories
    of Debian/Ubuntu, RHEL/PGDG and Homebrew, the exact major first, then newer majors, newest first;
    finally ``PATH``. A client older than the server cannot dump it, so older ones are skipped.
    """
    bindir = Path(bindir) if bindir else None
    candidates: list[Path] = []
    if bindir is not None:
        candidates.append(bindir / name)
    else:
        majors = [minimum] + [major for major in installed_majors() if major > minimum]
        for major in majors:
            candidates += [Path(pattern.format(major=major)) / name for pattern in _TOOL_DIRS]
        on_path = shutil.which(name)
        if on_path:
            candidates.append(Path(on_path))
    searched: list[str] = []
    for candidate in candidates:
        if not (candidate.is_file() and os.access(candidate, os.X_OK)):
            continue
        version = tool_version(candidate)
        searched.append(f"{candidate} ({version or '?'})")
        if _major(version) >= minimum:
            return Tool(name, candidate, version)
    where = ", ".join(searched) or (str(bindir) if bindir else "/usr/lib/postgresql/*/bin, /usr/pgsql-*/bin, PATH")
    raise BackupError.of("DH-B104", tool=name, version=str(minimum), detail=where)


def run_tool(tool: Tool, arguments: list[str], env: dict[str, str], secrets: list[str]) -> None:
    """Run a client tool; on failure raise ``DH-B105`` with the tail of its stderr (secrets removed)."""
    with tempfile.TemporaryFile() as stderr:
        completed = subprocess.run(  # noqa: S603  (argument list built here; no shell, no user text)  # nosec B603
            [str(tool.path), *arguments], env=env, stdout=subprocess.DEVNULL, stderr=stderr, check=False
        )
        if completed.returncode != 0:
            stderr.seek(0)
            message = scrub(stderr.read().decode("utf-8", "replace"), secrets)
            raise BackupError.of("DH-B105", tool=tool.name, status=completed.returncode, detail=tail(message))


# --- dump ------------------------------------------------------------------------------------------


def revision_of(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


@dataclass(frozen=True)
class DumpResult:
    digests: dict[str, TableDigest]
    revision: str | None
    tool: Tool


def dump(engine: Engine, server: Server, target: Path, bindir: str | Path | None, notify: Notify = quiet) -> DumpResult:
    """``pg_dump -Fc`` into ``target``; counts and hashes come from the very snapshot pg_dump reads.

    One REPEATABLE READ transaction exports its snapshot; pg_dump imports it (``--snapshot``) while this
    process hashes the tables in the same transaction. Writers carry on; both see the same commit.
    """
    tool = find_tool("pg_dump", server.major, bindir)
    notify(Note(f"{tool.path}（{tool.version}）でダンプしています", f"dumping with {tool.path} ({tool.version})"))
    with engine.connect() as base:
        connection = base.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            connection.execute(text("SET TRANSACTION READ ONLY"))
            snapshot_id = connection.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            env = libpq_env(server.url)
            arguments = ["--format=custom", "--no-password", f"--snapshot={snapshot_id}", f"--file={target}"]
            with tempfile.TemporaryFile() as stderr:
                process = subprocess.Popen(  # noqa: S603  (argument list built here; no shell, no user text)  # nosec B603
                    [str(tool.path), *arguments], env=env, stdout=subprocess.DEVNULL, stderr=stderr
                )
                try:
                    notify(Note("行数とハッシュを計算しています", "counting rows and hashing tables"))
                    digests = database_digests(connection)
                    revision = revision_of(connection)
                except BaseException:
                    process.kill()
                    process.wait()
                    raise
                returncode = process.wait()  # the snapshot stays exported until pg_dump is done
                if returncode != 0:
                    stderr.seek(0)
                    message = scrub(stderr.read().decode("utf-8", "replace"), server.secrets)
                    raise BackupError.of("DH-B105", tool="pg_dump", status=returncode, detail=tail(message))
    return DumpResult(digests=digests, revision=revision, tool=tool)


# --- databases for verification and restore ---------------------------------------------------------


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def scratch_name(prefix: str, base: str = "") -> str:
    """A lower-case database name under 63 bytes: ``<base>_<prefix>_<UTC date>_<time>_<random>``."""
    stamp = time.strftime("%Y%m%d_%H%M%S", time.gmtime()) + "_" + os.urandom(2).hex()
    head = re.sub(r"[^a-z0-9_]", "_", base.lower())[:24] or "datahealth"
    return f"{head}_{prefix}_{stamp}"


def create_database(server: Server, name: str, owner: str | None = None) -> None:
    statement = (
        f"CREATE DATABASE {quote_ident(name)} TEMPLATE template0 ENCODING {quote_literal(server.encoding)} "
        f"LC_COLLATE {quote_literal(server.collate)} LC_CTYPE {quote_literal(server.ctype)}"
    )
    if owner:
        statement += f" OWNER {quote_ident(owner)}"
    try:
        with connect(server.url, autocommit=True) as connection:
            connection.execute(text(statement))
    except SQLAlchemyError as exc:
        detail = scrub(str(getattr(exc, "orig", exc)), server.secrets)
        raise BackupError.of("DH-B105", tool="CREATE DATABASE", status="-", detail=tail(detail)) from None


def drop_database(server: Server, name: str) -> None:
    force = " WITH (FORCE)" if server.major >= 13 else ""
    with connect(_maintenance_url(server, name), autocommit=True) as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {quote_ident(name)}{force}"))


def restore_into(server: Server, name: str, dump_file: Path, bindir: str | Path | None, scratch: bool) -> Tool:
    """``pg_restore`` the dump into the (empty) database ``name``.

    For a scratch database ownership and grants are skipped (they do not change the content); for a
    database that goes live they are restored as dumped, in one transaction.
    """
    tool = find_tool("pg_restore", server.major, bindir)
    arguments = ["--no-password", "--exit-on-error", f"--dbname={name}"]
    arguments += ["--no-owner", "--no-acl"] if scratch else ["--single-transaction"]
    run_tool(tool, [*arguments, str(dump_file)], libpq_env(server.url, name), server.secrets)
    return tool


def digests_of(url: URL) -> tuple[dict[str, TableDigest], str | None]:
    with connect(url) as connection, connection.begin():
        return database_digests(connection), revision_of(connection)


IN_USE_GRACE_SECONDS = 5.0


def ensure_unused(server: Server, name: str, grace_seconds: float | None = None) -> None:
    """``DH-B109`` while another session (the running server, a psql …) is connected to ``name``.

    A session that was just closed lingers in ``pg_stat_activity`` for a moment, so this looks again
    for a few seconds before it gives up.
    """
    deadline = time.monotonic() + (IN_USE_GRACE_SECONDS if grace_seconds is None else grace_seconds)
    while (others := other_sessions(server, name)) and time.monotonic() < deadline:
        time.sleep(0.2)
    if others:
        raise BackupError.of("DH-B109", path=name, detail=f"{others} session(s) / 接続 {others} 件")


def other_sessions(server: Server, name: str) -> int:
    with connect(_maintenance_url(server, name), autocommit=True) as connection:
        return int(
            connection.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE datname = :name AND pid <> pg_backend_pid()"),
                {"name": name},
            ).scalar_one()
        )


def swap_databases(server: Server, live: str, new: str, aside: str) -> None:
    """Rename ``live`` to ``aside`` and ``new`` to ``live``; undo the first rename if the second fails."""
    with connect(_maintenance_url(server, live, new, aside), autocommit=True) as connection:
        try:
            connection.execute(text(f"ALTER DATABASE {quote_ident(live)} RENAME TO {quote_ident(aside)}"))
        except SQLAlchemyError as exc:
            detail = scrub(str(getattr(exc, "orig", exc)), server.secrets)
            raise BackupError.of("DH-B109", path=live, detail=tail(detail)) from None
        try:
            connection.execute(text(f"ALTER DATABASE {quote_ident(new)} RENAME TO {quote_ident(live)}"))
        except SQLAlchemyError as exc:
            connection.execute(text(f"ALTER DATABASE {quote_ident(aside)} RENAME TO {quote_ident(live)}"))
            detail = scrub(str(getattr(exc, "orig", exc)), server.secrets)
            raise BackupError.of("DH-B105", tool="ALTER DATABASE", status="-", detail=tail(detail)) from None


def _maintenance_url(server: Server, *avoid: str) -> URL:
    """A database other than the ones being dropped or renamed: ``postgres``, else ``template1``."""
    for name in ("postgres", "template1"):
        if name in avoid:
            continue
        url = server.for_database(name)
        try:
            with connect(url) as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError:
            continue
        return url
    return server.url
