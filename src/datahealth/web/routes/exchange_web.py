"""Routes (thin shell over the exchange services)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
