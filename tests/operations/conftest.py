"""Fixtures: a real SMTP server (aiosmtpd) on 127.0.0.1 that records what it receives, a movable clock."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from ops_smtp import SmtpServer, free_port

from datahealth.config import Settings


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer(free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def mail_settings(settings: Settings, smtp: SmtpServer) -> Settings:
    return settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp.port,
            "smtp_timeout_seconds": 5.0,
            "mail_from": "chousa@example.invalid",
            "base_url": "http://127.0.0.1:8000",
        }
    )


@dataclass
class Clock:
    moment: datetime = field(default_factory=lambda: datetime(2025, 2, 1, 3, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.moment


@pytest.fixture
def clock() -> Clock:
    return Clock()
