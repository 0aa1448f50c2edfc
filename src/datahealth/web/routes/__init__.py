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

# Matched in this order, route by route: the hospital pages (the survey's autosave above all) come first. No two
# routers share a path, so the order changes only how soon a request finds its route.
ROUTERS: list[APIRouter] = [
    hospital.router,
    auth.router,
    account.router,
    audit.router,
    admin.router,
    exchange_api.router,
    exchange_web.router,
    fhir_api.router,
    reports.router,
    operations_hospital.router,
    operations_admin.router,
]
