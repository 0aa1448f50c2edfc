"""``datahealth worker`` (reminders and the outbox) and ``datahealth mail-sink`` (a local SMTP sink)."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from datahealth.clock import format_jst, system_clock
from datahealth.config import Settings
from datahealth.db import make_engine, make_session_factory
from datahealth.operations import worker
from datahealth.operations.sink import LOOPBACK, MailSink, ReceivedMail

console = Console()


def _print_report(report: worker.WorkerReport) -> None:
    stamp = format_jst(system_clock(), with_seconds=True)
    for survey_id, run in report.reminders.items():
        if run.reminded or run.already:
            console.print(
                f"{stamp} リマインド / reminders: survey {survey_id}: {run.reminded} hospitals "
                f"({run.emails} e-mails, {run.without_address} without address, {run.already} already reminded)"
            )
    d = report.delivery
    if d.claimed:
        line = f"{stamp} 送信 / mail: sent {d.sent}, waiting for retry {d.deferred}, failed {d.failed}"
        if d.error:
            line += f" — {d.error}"
        console.print(line, highlight=False)
    elif not report.busy():
        console.print(f"{stamp} nothing to do / 処理対象なし", style="dim")


def worker_command(
    once: Annotated[bool, typer.Option("--once", help="Run one round and exit (for cron)")] = False,
    interval: Annotated[int | None, typer.Option(help="Seconds between rounds (default: settings)")] = None,
) -> None:
    """Send scheduled reminders and deliver the mail outbox / リマインドとメール送信を実行."""
    settings = Settings()
    engine = make_engine(settings)
    factory = make_session_factory(engine)
    try:
        if once:
            _print_report(worker.run_once(factory, settings, system_clock))
            return
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        console.print(
            f"worker: every {interval or settings.worker_interval_seconds}s, SMTP {settings.smtp_host}:"
            f"{settings.smtp_port} ({settings.smtp_security}); Ctrl+C to stop"
        )
        try:
            worker.run_forever(
                factory,
                settings,
                system_clock,
                interval=interval or settings.worker_interval_seconds,
                stop=stop,
                on_report=_print_report,
            )
        except KeyboardInterrupt:
            pass
    finally:
        engine.dispose()


def default_sink_dir(settings: Settings) -> Path:
    return Path(settings.mail_sink_dir) if settings.mail_sink_dir else settings.data_dir / "mail-sink"


def mail_sink_command(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1")] = 8025,
    directory: Annotated[Path | None, typer.Option(help="Where to keep received mail (.eml)")] = None,
    seconds: Annotated[float, typer.Option(help="Stop after this many seconds (0: until Ctrl+C)")] = 0,
) -> None:
    """A local SMTP sink on 127.0.0.1 that keeps and prints what it receives / 受信専用のローカル SMTP."""
    settings = Settings()
    target = directory or default_sink_dir(settings)

    def show(mail: ReceivedMail) -> None:
        console.print(f"[bold]{mail.subject}[/bold] → {', '.join(mail.recipients)}", highlight=False)

    sink = MailSink(target, port=port, on_mail=show).start()
    console.print(f"mail sink on {LOOPBACK}:{sink.port}, keeping mail in {target}")
    console.print(f"  set DATAHEALTH_SMTP_HOST={LOOPBACK} DATAHEALTH_SMTP_PORT={sink.port} for the worker")
    try:
        deadline = time.monotonic() + seconds if seconds else None
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        sink.stop()


def register(root: typer.Typer) -> None:
    root.command("worker")(worker_command)
    root.command("mail-sink")(mail_sink_command)
