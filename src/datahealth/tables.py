"""Imports every feature's table module so that ``Base.metadata`` is complete (Alembic, tests)."""

from datahealth import idempotency
from datahealth.analytics.study import tables as study_tables
from datahealth.audit import tables as audit_tables
from datahealth.auth import tables as auth_tables
from datahealth.exchange import tables as exchange_tables
from datahealth.operations import tables as operations_tables
from datahealth.survey import tables as survey_tables

__all__ = [
    "idempotency",
    "audit_tables",
    "auth_tables",
    "exchange_tables",
    "operations_tables",
    "study_tables",
    "survey_tables",
]
