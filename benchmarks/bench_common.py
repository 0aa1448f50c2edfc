"""Shared by the benchmark scripts (run as ``python benchmarks/<name>.py``, so this imports directly)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import create_engine, text


@contextmanager
def scratch_postgres(server_url: str, name: str) -> Iterator[str]:
    """A fresh database ``name`` on the server of ``server_url``; yields its URL and drops it afterwards."""
    admin = create_engine("postgresql+psycopg://" + server_url.split("://", 1)[1], isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def print_table(rows: Sequence[tuple[str, str]]) -> None:
    """The Markdown table that goes into docs/benchmarks.md."""
    print("| measurement | result |")
    print("|---|---|")
    for label, value in rows:
        print(f"| {label} | {value} |")
