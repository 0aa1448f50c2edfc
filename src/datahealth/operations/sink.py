"""A local SMTP sink for the demo and for trying the mail out: receives on 127.0.0.1, keeps every mail.

Each received message is written to ``<directory>/<n>-<time>.eml`` (the raw bytes as received) and
can be read back decoded with ``received``. Needs ``aiosmtpd`` (a runtime dependency).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class ReceivedMail:
    name: str
    sender: str
    recipients: list[str]
    subject: str
    body: str
    date: str


def parse(raw: bytes, name: str = "") -> ReceivedMail:
    message = message_from_bytes(raw, policy=policy.default)
    if not isinstance(message, EmailMessage):  # policy.default always makes EmailMessage
        raise TypeError("unexpected message class")
    part = message.get_body(preferencelist=("plain",))
    body = part.get_content() if part is not None else ""
    return ReceivedMail(
        name=name,
        sender=str(message.get("From", "")),
        recipients=[str(message.get("To", ""))],
        subject=str(message.get("Subject", "")),
        body=str(body),
        date=str(message.get("Date", "")),
    )


def received(directory: Path, limit: int = 200) -> list[ReceivedMail]:
    """The newest ``limit`` mails kept in ``directory``, newest first."""
    if not directory.is_dir():
        return []
    files = sorted(directory.glob("*.eml"), key=lambda p: p.name, reverse=True)[:limit]
    return [parse(path.read_bytes(), path.name) for path in files]


class _Handler:
    def __init__(self, directory: Path, on_mail: Callable[[ReceivedMail], None]) -> None:
        self.directory = directory
        self.on_mail = on_mail
        self.lock = threading.Lock()
        self.count = len(list(directory.glob("*.eml")))

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's hook name)
        raw: bytes = envelope.original_content or envelope.content
        with self.lock:
            self.count += 1
            name = f"{self.count:07d}-{datetime.now(UTC):%Y%m%dT%H%M%S}.eml"
        (self.directory / name).write_bytes(raw)
        mail = parse(raw, name)
        self.on_mail(
            ReceivedMail(mail.name, envelope.mail_from, list(envelope.rcpt_tos), mail.subject, mail.body, mail.date)
        )
        return "250 Message accepted for delivery"


class MailSink:
    """An SMTP server on the loopback interface, running in a background thread until ``stop``."""

    def __init__(
        self, directory: Path, port: int = 8025, on_mail: Callable[[ReceivedMail], None] = lambda _m: None
    ) -> None:
        try:
            from aiosmtpd.controller import Controller
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise RuntimeError("the mail sink needs aiosmtpd: pip install aiosmtpd") from exc
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.controller = Controller(_Handler(directory, on_mail), hostname=LOOPBACK, port=port)

    @property
    def port(self) -> int:
        return int(self.controller.port)

    def start(self) -> MailSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()
