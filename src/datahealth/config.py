"""One settings object, built once and injected (never a module global)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
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

    password_min_length: int = Field(default=13, ge=8)
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    timezone: str = "Asia/Tokyo"

    backup_dir: str = ""
    """Where ``datahealth backup`` keeps its generations; empty means ``<data_dir>/backups``."""
    backup_keep: int = Field(default=7, ge=1)
    """How many backup generations to keep (older ones are deleted)."""
    pg_bindir: str = ""
    """Directory holding pg_dump/pg_restore; empty means search the usual places for the server's version."""

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'datahealth.sqlite3').as_posix()}"

    def public_url(self) -> str:
        if self.base_url:
            return self.base_url.rstrip("/")
        return f"http://{self.host}:{self.port}"
