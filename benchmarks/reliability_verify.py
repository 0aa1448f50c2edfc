"""Checks after a crash or load run: what the clients were told is in the database, consistent and audited.

Used by scripts/crash_test.py, benchmarks/load_survey.py and tests/reliability (see docs/reliability.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from reliability_common import Ledger, Target, World
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from datahealth.exchange.tables import SPEC_TABLES

# --- verification -----------------------------------------------------------------------------------------------


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _normalised(value: Any) -> Any:
    if isinstance(value, list):
        return sorted(str(v) for v in value)
    return str(value)


def verify(target: Target, world: World, ledger: Ledger, *, audit_cli: bool = True) -> list[str]:
    """Everything the clients were told is in the database, consistent, and audited. Returns the problems."""
    problems: list[str] = []
    engine = target.engine()
    try:
        with engine.connect() as connection:
            problems += _integrity(connection, target.backend)
            problems += _saves(connection, world, ledger)
            problems += _batches(connection, ledger)
        with Session(engine) as db:
            from datahealth.audit import log

            result = log.verify(db)
            if not result.ok:
                problems.append(f"audit chain broken at {result.first_bad_seq}: {result.reason}")
    finally:
        engine.dispose()
    if audit_cli:
        completed = subprocess.run(  # noqa: S603 - our own interpreter and arguments
            [sys.executable, "-c", "from datahealth.cli import app; app()", "audit", "verify"],
            env=target.environment(0),
            capture_output=True,
            text=True,
            check=False,
        )
        if completed.returncode != 0:
            problems.append(f"datahealth audit verify failed: {completed.stdout[-300:]} {completed.stderr[-300:]}")
    return problems


def _integrity(connection: Any, backend: str) -> list[str]:
    problems: list[str] = []
    if backend == "sqlite":
        rows = [row[0] for row in connection.execute(text("PRAGMA integrity_check"))]
        if rows != ["ok"]:
            problems.append(f"PRAGMA integrity_check: {rows[:5]}")
        broken = connection.execute(text("PRAGMA foreign_key_check")).all()
        if broken:
            problems.append(f"PRAGMA foreign_key_check: {broken[:5]}")
    else:
        # Constraints are enforced by PostgreSQL itself; these check what no constraint covers.
        invalid = connection.execute(
            text("SELECT conname FROM pg_constraint WHERE NOT convalidated AND connamespace = 'public'::regnamespace")
        ).all()
        if invalid:
            problems.append(f"constraints not validated: {invalid}")
        broken_indexes = connection.execute(
            text("SELECT indexrelid::regclass FROM pg_index WHERE NOT indisvalid OR NOT indisready")
        ).all()
        if broken_indexes:
            problems.append(f"invalid indexes: {broken_indexes}")
    head = connection.execute(text("SELECT seq FROM audit_head WHERE id = 1")).scalar()
    count, top = connection.execute(text("SELECT count(*), coalesce(max(seq), 0) FROM audit_events")).one()
    if (head or 0) != count or count != top:
        problems.append(f"audit head {head} but {count} events up to seq {top}")
    submitted = connection.execute(
        text("SELECT count(*) FROM responses WHERE status = 'submitted' AND receipt_code IS NULL")
    ).scalar()
    if submitted:
        problems.append(f"{submitted} submitted responses without a receipt code")
    return problems


def _saves(connection: Any, world: World, ledger: Ledger) -> list[str]:
    problems: list[str] = []
    keys = {
        (owner, key)
        for owner, key in connection.execute(
            text("SELECT owner, key FROM idempotency_keys WHERE scope = 'survey.save'")
        ).all()
    }
    events: dict[str, list[bool]] = {}
    for (detail,) in connection.execute(
        text("SELECT detail FROM audit_events WHERE action = 'survey.response.save' AND outcome = 'success'")
    ).all():
        data = _json(detail) or {}
        if "idempotency_key" in data:
            events.setdefault(data["idempotency_key"], []).append(bool(data.get("applied")))
    for save in ledger.saves:
        if (f"user:{save.login_id}", save.key) not in keys:
            problems.append(f"acknowledged save {save.key} of {save.login_id} has no idempotency record (lost)")
        if save.key not in events:
            problems.append(f"acknowledged save {save.key} of {save.login_id} has no audit event")
    for _owner, key in keys:
        applied = [flag for flag in events.get(key, []) if flag]
        if len(applied) != 1:
            problems.append(f"save {key} is recorded but has {len(applied)} 'applied' audit events (expected 1)")
    orphans = set(events) - {key for _owner, key in keys}
    if orphans:
        problems.append(f"{len(orphans)} audit events of saves that are not in the data, e.g. {sorted(orphans)[:3]}")
    # The stored answers are what the acknowledged saves add up to (each hospital's client runs one at a time).
    by_org = {login.organisation_id: login.login_id for login in world.hospitals}
    stored = {
        by_org[org]: (_json(answers), status)
        for org, answers, status in connection.execute(
            text("SELECT organisation_id, answers, status FROM responses WHERE survey_id = :s"), {"s": world.survey_id}
        ).all()
        if org in by_org
    }
    for login_id, model in ledger.model.items():
        answers, status = stored.get(login_id, ({}, None))
        for question, value in model.items():
            if _normalised(answers.get(question)) != _normalised(value):
                problems.append(
                    f"{login_id}: {question} is {answers.get(question)!r}, acknowledged {value!r} (lost write)"
                )
        if login_id in ledger.submits and status != "submitted":
            problems.append(f"{login_id}: submission acknowledged but status is {status}")
    submitted = connection.execute(
        text("SELECT count(*) FROM responses WHERE survey_id = :s AND status = 'submitted'"), {"s": world.survey_id}
    ).scalar()
    submit_events = connection.execute(
        text("SELECT count(*) FROM audit_events WHERE action = 'survey.response.submit' AND outcome = 'success'")
    ).scalar()
    lifecycle = connection.execute(text("SELECT count(*) FROM response_events WHERE kind = 'submitted'")).scalar()
    if not submitted == submit_events == lifecycle:
        problems.append(f"submitted responses {submitted}, submit audit events {submit_events}, lifecycle {lifecycle}")
    if submitted < len(ledger.submits):
        problems.append(f"{len(ledger.submits)} submissions acknowledged but {submitted} submitted")
    return problems


def record_rows_by_batch(connection: Any) -> dict[str, int]:
    rows: dict[str, int] = {}
    for table in SPEC_TABLES.values():
        if "batch_id" not in table.c:
            continue
        for batch_id, count in connection.execute(
            select(table.c.batch_id, text("count(*)")).group_by(table.c.batch_id)
        ).all():
            rows[batch_id] = rows.get(batch_id, 0) + int(count)
    return rows


def _batches(connection: Any, ledger: Ledger) -> list[str]:
    problems: list[str] = []
    rows = record_rows_by_batch(connection)
    batches = {
        batch_id: (status, _json(counts))
        for batch_id, status, counts in connection.execute(
            text("SELECT id, status, counts FROM exch_batches WHERE consortium_id <> ''")
        ).all()
    }
    audited: dict[str, int] = {}
    for object_id, detail in connection.execute(
        text(
            "SELECT object_id, detail FROM audit_events "
            "WHERE action = 'exchange.batch.ingest' AND outcome = 'success' AND object_type = 'batch'"
        )
    ).all():
        if (_json(detail) or {}).get("duplicate_of"):  # a re-send answered from the first batch
            continue
        audited[object_id] = audited.get(object_id, 0) + 1
    for batch_id, (status, counts) in batches.items():
        expected = sum(c.get("stored", 0) + c.get("replaced", 0) for c in counts.values()) if counts else 0
        if status == "processing" or rows.get(batch_id, 0) != expected:
            found = rows.get(batch_id, 0)
            problems.append(f"batch {batch_id} ({status}) says {expected} records stored, {found} found")
        if audited.get(batch_id, 0) != 1:
            problems.append(f"batch {batch_id} has {audited.get(batch_id, 0)} receive audit events (expected 1)")
    for batch_id in set(audited) - set(batches):
        problems.append(f"audit event for batch {batch_id} that is not in the data")
    for batch_id in set(rows) - set(batches):
        problems.append(f"{rows[batch_id]} records refer to batch {batch_id}, which does not exist (half-applied)")
    for acked in ledger.batches:
        if acked.batch_id not in batches:
            problems.append(f"acknowledged batch {acked.batch_id} ({acked.key}) is missing (lost)")
        elif not acked.duplicate and rows.get(acked.batch_id, 0) != acked.stored:
            found = rows.get(acked.batch_id, 0)
            problems.append(f"acknowledged batch {acked.batch_id}: {acked.stored} stored, {found} found")
    return problems
