"""Every schema change has a migration: the migrated database equals the models, on both engines."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

import datahealth.tables  # noqa: F401  (registers every table)
from datahealth import migrate
from datahealth.db import Base


def test_migrations_reach_head(engine: Engine):
    assert migrate.current_revision(engine) == migrate.head_revision()


def test_migrated_schema_matches_the_models(engine: Engine):
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []
