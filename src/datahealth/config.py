"""One settings object, built once and injected (never a module global)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path("var")


class Settings(BaseSettings):
    """Read from ``DATAHEALTH_*`` environment variables (and a ``.env`` file if present)."""

    model_config = SettingsConfigDict(env_prefix="DATAHEALTH_", env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str = ""
    """SQLAlchemy URL. Empty means an SQLite file ``datahealth.sqlite3`` in ``data_dir``."""

    host: str = "127.0.0.1"
    port: int = 8000
    base_url: str = ""
    """Public base URL printed for users; derived from host and port when empty."""

    session_idle_minutes: int = Field(default=30, ge=1)
    session_absolute_hours: int = Field(default=12, ge=1)
    secure_cookies: bool = False
    """Mark cookies Secure (and use the ``__Host-`` prefix). Turn on behind HTTPS."""

    secret_key: SecretStr = SecretStr("")
    """Encrypts TOTP secrets at rest. Required in production; in development and tests a random key is
    kept in ``data_dir/secret_key`` (mode 0600) so that restarts keep working."""

    password_min_length: int = Field(default=13, ge=8)
    """Guideline 6.0 Q&A: 13 or more random characters need no forced rotation."""
    password_short_min_length: int = Field(default=8, ge=8)
    """The guideline's alternative: 8+ characters mixing letters, digits and symbols, allowed only to
    accounts with two-factor login (set ``password_allow_short_with_2fa`` to false to forbid it)."""
    password_allow_short_with_2fa: bool = True
    login_max_failures_per_account: int = Field(default=5, ge=1)
    login_max_failures_per_address: int = Field(default=30, ge=1)
    login_throttle_minutes: int = Field(default=15, ge=1)
    reauth_minutes: int = Field(default=10, ge=1)
    """Exports and account changes need a password (and second factor) entered this recently."""
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    web_threads: int = Field(default=8, ge=1, le=200)
    """Threads per server process that run requests' database work. A few keep every transaction short: with
    dozens, the threads queue for Python's interpreter lock between statements while their transactions hold
    row locks (the audit chain's head above all), and saves slow each other down."""
    ingest_processes: int = Field(default=0, ge=0, le=32)
    """Processes per server process that ingest exchange batches (``exchange.ingest_pool``); 0 ingests in the web
    worker's threads. 1 or more keeps a batch's tens of milliseconds of Python away from the survey saves of the
    same worker (recommended with PostgreSQL under load; not with an in-memory SQLite database)."""
    ingest_nice: int = Field(default=10, ge=0, le=19)
    """How much lower the ingest processes' scheduling priority is than the web workers' (``nice``): when the cores
    are busy, the survey saves (interactive, waited for) get the CPU before a batch (sent by a machine)."""
    timezone: str = "Asia/Tokyo"

    backup_dir: str = ""
    """Where ``datahealth backup`` keeps its generations; empty means ``<data_dir>/backups``."""
    backup_keep: int = Field(default=7, ge=1)
    """How many backup generations to keep (older ones are deleted)."""
    pg_bindir: str = ""
    """Directory holding pg_dump/pg_restore; empty means search the usual places for the server's version."""
    linkage_key: SecretStr = SecretStr("")
    """HMAC key of the pseudonymous linkage keys (analytics/linked); empty means one derived from secret_key."""

    # --- survey operations: outgoing mail (SMTP) and the worker -------------------------------------
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_security: Literal["none", "starttls", "ssl"] = "none"
    """``starttls`` upgrades a plain connection (port 587); ``ssl`` is SMTPS from the start (port 465)."""
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_timeout_seconds: float = Field(default=15.0, gt=0)
    smtp_ca_file: str = ""
    """CA certificates (PEM) that sign the SMTP server's certificate; empty means the system's trust store."""
    mail_from: str = "datahealth-noreply@example.invalid"
    """The From address of every notice, reminder and answer."""
    mail_retry_base_seconds: int = Field(default=60, ge=1)
    """First retry delay after a failed delivery; doubles with every attempt (exponential backoff)."""
    mail_retry_max_seconds: int = Field(default=3600, ge=1)
    """The longest delay between two attempts: an SMTP outage delays mail, it never drops it."""
    mail_batch_size: int = Field(default=200, ge=1)
    mail_lease_seconds: int = Field(default=300, ge=10)
    """A worker that claimed mail and died releases it after this long, so another worker sends it."""
    mail_sink_dir: str = ""
    """Where ``datahealth mail-sink`` (and the demo's sink) keep received mail; the admin page lists it."""
    desk_operation_email: str = ""
    """Optional: inquiries about logging in and operation are also mailed here (G-MIS 事務局)."""
    desk_content_email: str = ""
    """Optional: inquiries about the survey's content are also mailed here (参事官室)."""
    worker_interval_seconds: int = Field(default=30, ge=1)

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'datahealth.sqlite3').as_posix()}"

    def effective_secret_key(self) -> bytes:
        """The configured key, or (outside production) one generated once and kept in the data directory."""
        configured = self.secret_key.get_secret_value()
        if configured:
            return configured.encode()
        if self.environment == "production":
            raise ValueError("DATAHEALTH_SECRET_KEY is required in production")
        path = self.data_dir / "secret_key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(48))
        return path.read_text().strip().encode()

    def public_url(self) -> str:
        if self.base_url:
            return self.base_url.rstrip("/")
        return f"http://{self.host}:{self.port}"
