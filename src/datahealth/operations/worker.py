"""The operations worker: scheduled reminders, then the outbox. ``datahealth worker`` runs it.

Safe to run next to the web application and next to other workers: reminders are made unique by the
database, outbox rows are claimed with a lease (see ``outbox``). Every round that did something is
audited (``ops.reminder.send``, ``ops.mail.deliver``) with counts only, never addresses or bodies.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from datahealth.audit import log as audit
from datahealth.clock import Clock
from datahealth.config import Settings
from datahealth.db import transaction
from datahealth.operations import outbox, reminders

ACTOR = "system:worker"
log = logging.getLogger(__name__)
MAX_BATCHES_PER_ROUND = 50


@dataclass
class WorkerReport:
    reminders: dict[int, reminders.ReminderRun] = field(default_factory=dict)
    delivery: outbox.DeliveryReport = field(default_factory=outbox.DeliveryReport)

    @property
    def reminded(self) -> int:
        return sum(run.reminded for run in self.reminders.values())

    def busy(self) -> bool:
        return bool(self.reminded or self.delivery.claimed)


def run_reminders(factory: sessionmaker[Session], settings: Settings, clock: Clock) -> dict[int, reminders.ReminderRun]:
    with transaction(factory) as db:
        now = clock()
        runs = reminders.run_all_scheduled(db, settings.public_url(), now)
        for survey_id, run in runs.items():
            if run.reminded:
                audit.record(
                    db,
                    actor=ACTOR,
                    action="ops.reminder.send",
                    now=now,
                    object_type="survey",
                    object_id=survey_id,
                    detail={"reminded": run.reminded, "emails": run.emails, "schedule": "scheduled"},
                )
    return runs


def deliver(factory: sessionmaker[Session], settings: Settings, clock: Clock) -> outbox.DeliveryReport:
    """Deliver due mail batch after batch until none is due (or the server fails)."""
    total = outbox.DeliveryReport()
    for _ in range(MAX_BATCHES_PER_ROUND):
        report = outbox.deliver_due(factory, settings, clock)
        total.claimed += report.claimed
        total.sent += report.sent
        total.deferred += report.deferred
        total.failed += report.failed
        total.error = report.error or total.error
        if not report.claimed or report.deferred:
            break
    if total.claimed:
        with transaction(factory) as db:
            audit.record(
                db,
                actor=ACTOR,
                action="ops.mail.deliver",
                now=clock(),
                outcome="success" if not total.deferred and not total.failed else "failure",
                object_type="outbox",
                detail={"sent": total.sent, "deferred": total.deferred, "failed": total.failed},
            )
    return total


def run_once(factory: sessionmaker[Session], settings: Settings, clock: Clock) -> WorkerReport:
    return WorkerReport(run_reminders(factory, settings, clock), deliver(factory, settings, clock))


def run_forever(
    factory: sessionmaker[Session],
    settings: Settings,
    clock: Clock,
    *,
    interval: float,
    stop: threading.Event,
    on_report: Callable[[WorkerReport], None] = lambda _report: None,
) -> None:
    """Run a round every ``interval`` seconds until ``stop`` is set; a failing round is retried next time."""
    while not stop.is_set():
        try:
            on_report(run_once(factory, settings, clock))
        except Exception:  # e.g. the database is briefly unavailable: log it, try again next round
            log.exception("operations worker round failed; retrying in %s s", interval)
        stop.wait(interval)
