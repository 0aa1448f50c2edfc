"""Build and send e-mail over SMTP (plain, STARTTLS or SMTPS) with the standard library.

Messages are ``email.message.EmailMessage`` with the default (SMTP) policy: a Japanese subject is
encoded as an RFC 2047 encoded-word and the body as UTF-8, so every mail client shows it correctly.
The password is a ``SecretStr`` and is read only when logging in to the server; it is never logged.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from datahealth.config import Settings


def build_message(settings: Settings, to_address: str, subject: str, body: str, when: datetime) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to_address
    message["Subject"] = subject
    message["Date"] = format_datetime(when)
    message["Message-ID"] = make_msgid(domain=settings.mail_from.rpartition("@")[2] or "localhost")
    message.set_content(body, charset="utf-8", cte="base64")  # 7-bit clean: any relay passes it unchanged
    return message


class TransientMailError(Exception):
    """The server could not be reached or answered 4xx: try again later."""


class PermanentMailError(Exception):
    """The server refused this message for good (5xx, e.g. an unknown recipient)."""


@dataclass
class Connection:
    """An open SMTP session that sends messages one by one, classifying failures."""

    smtp: smtplib.SMTP

    def send(self, message: EmailMessage) -> None:
        try:
            refused = self.smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if all(code >= 500 for code in codes):
                raise PermanentMailError(_describe(codes[0], "recipient refused")) from None
            raise TransientMailError(_describe(codes[0], "recipient deferred")) from None
        except smtplib.SMTPDataError as exc:  # the content was refused: only this message is affected
            if exc.smtp_code >= 500:
                raise PermanentMailError(_describe(exc.smtp_code, "message refused")) from None
            raise TransientMailError(_describe(exc.smtp_code, "message deferred")) from None
        except smtplib.SMTPResponseException as exc:
            # e.g. 530 "STARTTLS first" on MAIL FROM: the server's policy or our settings, not this message;
            # keep it queued so that fixing the settings sends everything
            raise TransientMailError(_describe(exc.smtp_code, "sender refused")) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise TransientMailError(type(exc).__name__) from None
        if refused:
            raise PermanentMailError("recipient refused")


def _describe(code: int, what: str) -> str:
    return f"SMTP {code} {what}"


def _tls_context(settings: Settings) -> ssl.SSLContext:
    """Verifying TLS (certificate and host name), trusting ``smtp_ca_file`` when it is set."""
    return ssl.create_default_context(cafile=settings.smtp_ca_file or None)


@contextmanager
def connect(settings: Settings) -> Iterator[Connection]:
    """Open, secure and log in to the configured SMTP server; failures are ``TransientMailError``."""
    timeout = settings.smtp_timeout_seconds
    try:
        smtp: smtplib.SMTP
        if settings.smtp_security == "ssl":
            smtp = smtplib.SMTP_SSL(
                settings.smtp_host, settings.smtp_port, timeout=timeout, context=_tls_context(settings)
            )
        else:
            smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
        smtp.ehlo()
        if settings.smtp_security == "starttls":
            smtp.starttls(context=_tls_context(settings))
            smtp.ehlo()
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
    except smtplib.SMTPAuthenticationError as exc:
        raise TransientMailError(_describe(exc.smtp_code, "authentication failed")) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise TransientMailError(f"cannot connect to SMTP server: {type(exc).__name__}") from None
    try:
        yield Connection(smtp)
    finally:
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()
