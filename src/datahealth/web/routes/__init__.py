"""Route modules; each is a thin shell over one feature's services."""

from fastapi import APIRouter

from datahealth.web.routes import admin, auth, hospital

ROUTERS: list[APIRouter] = [auth.router, hospital.router, admin.router]
