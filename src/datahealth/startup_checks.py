"""Refuse to start with settings or a database that would break the platform's guarantees."""

from __future__ import annotations

from sqlalchemy import Engine, make_url, text

from datahealth.config import Settings

MIN_SECRET_LENGTH = 32


class UnsafeConfiguration(RuntimeError):
    """A setting or the database is unsafe for this environment; the message says what to change."""


def check_settings(settings: Settings) -> None:
    problems: list[str] = []
    if settings.environment == "production":
        secret = settings.secret_key.get_secret_value()
        if len(secret) < MIN_SECRET_LENGTH:
            problems.append(
                f"DATAHEALTH_SECRET_KEY は {MIN_SECRET_LENGTH} 文字以上のランダムな値にしてください / "
                f"set DATAHEALTH_SECRET_KEY to a random value of at least {MIN_SECRET_LENGTH} characters"
            )
        if not settings.secure_cookies:
            problems.append(
                "本番では HTTPS の背後で DATAHEALTH_SECURE_COOKIES=true にしてください / "
                "production runs behind HTTPS: set DATAHEALTH_SECURE_COOKIES=true"
            )
        if not settings.database_url.startswith("postgresql"):
            problems.append(
                "本番では PostgreSQL（DATAHEALTH_DATABASE_URL）を使ってください / "
                "production needs PostgreSQL: set DATAHEALTH_DATABASE_URL"
            )
    if settings.ingest_processes and _in_memory(settings.resolved_database_url()):
        problems.append(
            "メモリ上の SQLite では DATAHEALTH_INGEST_PROCESSES を 0 にしてください（別プロセスからは見えません） / "
            "an in-memory SQLite database is not visible to other processes: set DATAHEALTH_INGEST_PROCESSES=0"
        )
    if problems:
        raise UnsafeConfiguration("\n".join(problems))


def _in_memory(url: str) -> bool:
    parsed = make_url(url)
    return parsed.get_backend_name() == "sqlite" and (parsed.database or ":memory:").startswith(
        (":memory:", "file::memory:")
    )


def check_database(engine: Engine) -> None:
    """PostgreSQL must not acknowledge commits it could lose (fsync, synchronous_commit)."""
    if engine.dialect.name != "postgresql":
        return
    with engine.connect() as connection:
        fsync = connection.execute(text("SHOW fsync")).scalar_one()
        synchronous = connection.execute(text("SHOW synchronous_commit")).scalar_one()
    unsafe = [f"fsync={fsync}"] if fsync != "on" else []
    if synchronous == "off":
        unsafe.append(f"synchronous_commit={synchronous}")
    if unsafe:
        raise UnsafeConfiguration(
            "PostgreSQL の設定ではコミット済みのデータが失われる可能性があります（" + ", ".join(unsafe) + "）。"
            "fsync=on、synchronous_commit=on にしてください / PostgreSQL could lose committed data ("
            + ", ".join(unsafe)
            + "): set fsync=on and synchronous_commit=on"
        )
