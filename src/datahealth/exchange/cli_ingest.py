"""Exchange commands (registered by ``exchange/cli.py``)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``datahealth exchange``."""
