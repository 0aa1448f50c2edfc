"""A backup taken while the application writes is one consistent moment of the database."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import func, select

from datahealth.auth.tables import Organisation
from datahealth.backup.snapshot import create_backup
from datahealth.backup.verify import verify_generation
from datahealth.config import Settings
from datahealth.db import make_engine, make_session_factory, transaction
from factories import make_org, make_user


def count_organisations(settings: Settings) -> int:
    engine = make_engine(settings)
    try:
        with make_session_factory(engine)() as db:
            return db.scalar(select(func.count()).select_from(Organisation)) or 0
    finally:
        engine.dispose()


def test_backup_while_another_thread_writes_is_consistent(settings: Settings, tmp_path: Path):
    engine = make_engine(settings)
    factory = make_session_factory(engine)
    with transaction(factory) as db:  # enough rows that the copy and the hashing take a while
        for number in range(300):
            make_org(db, code=f"13{number:08d}", name=f"既存病院{number}")
    stop = threading.Event()
    written: list[int] = []
    failures: list[BaseException] = []

    def writer() -> None:
        number = 0
        try:
            while not stop.is_set() and number < 5000:
                with transaction(factory) as db:  # an organisation and its user commit together
                    org = make_org(db, code=f"27{number:08d}", name=f"並行病院{number}")
                    make_user(db, org, f"concurrent-{number}")
                written.append(number)
                number += 1
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(written) < 5 and thread.is_alive():
            stop.wait(0.01)
        before = len(written)
        result = create_backup(settings, tmp_path / "b", keep=2)
        after = len(written)
    finally:
        stop.set()
        thread.join()
        engine.dispose()
    assert not failures
    tables = result.manifest.tables
    # every organisation written by the thread has its user: no half transaction in the snapshot
    concurrent = tables["organisations"].rows - 300
    assert tables["users"].rows == concurrent
    assert before <= concurrent <= after + 1  # one moment between the start and the end of the backup
    report = verify_generation(settings, result.generation)
    assert report.ok, [p.as_dict() for p in report.problems()]
    assert count_organisations(settings) == 300 + len(written)
