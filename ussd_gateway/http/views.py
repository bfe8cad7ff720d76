"""Turning service values into JSON documents, and request values into service arguments."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from ..msisdn import InvalidMsisdn, normalize_msisdn
from ..services.money import format_money
from ..services.results import Balance, LinkApplication
from .problems import Problem
from .queries import ApplicationSummary


def msisdn_of(raw: str, country_code: str, field: str) -> str:
    try:
        return normalize_msisdn(raw, country_code)
    except InvalidMsisdn as exc:
        raise Problem("invalid-msisdn", str(exc), errors=[
            {"field": field, "message": exc.reason}]) from None


def application_id_of(raw: str) -> int:
    if not raw.isdigit() or len(raw) > 18:
        raise Problem("application-not-found", f"no link application {raw!r}")
    return int(raw)


def iso(moment: datetime) -> str:
    return moment.isoformat()


def money(amount_minor: int, currency: str, language: str) -> dict[str, Any]:
    return {"amount_minor": amount_minor, "currency": currency,
            "formatted": format_money(amount_minor, currency, language)}


def balance(value: Balance, language: str) -> dict[str, Any]:
    return money(value.amount_minor, value.currency, language)


def application(value: LinkApplication | ApplicationSummary) -> dict[str, Any]:
    number = value.application_id if isinstance(value, LinkApplication) else value.id
    return {"id": number, "applicant": value.applicant, "region": value.region,
            "numbers": list(value.numbers), "status": value.status,
            "submitted_at": iso(value.submitted_at), "review_due_at": iso(value.review_due_at),
            "decision_reason": value.decision_reason}


def ok(document: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(document, status=status)
