"""Fixtures of the security tests: one multi-tenant world per module (SQLite; see tenants.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tenants import Tenants, build


@pytest.fixture(scope="module")
def tenants(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Tenants:
    return build(tmp_path_factory.mktemp("tenants"), sqlite_template)
