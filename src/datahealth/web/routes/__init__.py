"""Route modules; each is a thin shell over one feature's services."""

from fastapi import APIRouter

from datahealth.web.routes import (
    account,
    admin,
    audit,
    auth,
    exchange_api,
    exchange_web,
    fhir_api,
    hospital,
    operations_admin,
    operations_hospital,
    reports,
)

ROUTERS: list[APIRouter] = [
    auth.router,
    account.router,
    audit.router,
    hospital.router,
    admin.router,
    exchange_api.router,
    exchange_web.router,
    fhir_api.router,
    reports.router,
    operations_hospital.router,
    operations_admin.router,
]
