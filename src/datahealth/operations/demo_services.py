"""What ``datahealth demo`` runs next to the web app: a local SMTP sink and the operations worker."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console

from datahealth.clock import system_clock
from datahealth.config import Settings
from datahealth.db import make_engine, make_session_factory
from datahealth.operations import worker
from datahealth.operations.cli import default_sink_dir
from datahealth.operations.sink import LOOPBACK, MailSink

DEMO_SINK_PORT = 8025
DEMO_WORKER_SECONDS = 5


@contextmanager
def operations_demo_services(settings: Settings, console: Console) -> Iterator[Settings]:
    """Start the sink on 127.0.0.1 and a worker thread; yield settings whose SMTP points at the sink."""
    try:
        sink = MailSink(default_sink_dir(settings), port=DEMO_SINK_PORT).start()
    except (RuntimeError, OSError) as exc:  # aiosmtpd missing or the port taken: serve without mail
        console.print(f"mail sink not started ({exc}); mail stays queued / メールは送信待ちのままです")
        yield settings
        return
    served = settings.model_copy(
        update={
            "smtp_host": LOOPBACK,
            "smtp_port": sink.port,
            "smtp_security": "none",
            "smtp_username": "",
            "mail_sink_dir": str(sink.directory),
            "mail_retry_base_seconds": min(settings.mail_retry_base_seconds, 10),
        }
    )
    engine = make_engine(served)
    stop = threading.Event()
    thread = threading.Thread(
        target=worker.run_forever,
        args=(make_session_factory(engine), served, system_clock),
        kwargs={"interval": DEMO_WORKER_SECONDS, "stop": stop},
        name="datahealth-worker",
        daemon=True,
    )
    thread.start()
    console.print(
        f"mail sink / 受信箱: SMTP {LOOPBACK}:{sink.port} → {sink.directory} "
        f"(admin: {settings.public_url()}/admin/mail/sink); worker every {DEMO_WORKER_SECONDS}s"
    )
    try:
        yield served
    finally:
        stop.set()
        thread.join(timeout=30)
        sink.stop()
        engine.dispose()
