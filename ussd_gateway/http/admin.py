"""The operator API (/admin/v1): subscribers, top-up, link review, audit, live state."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from aiohttp import web

from ..msisdn import mask_msisdn
from ..services import results as r
from ..sessions.record import LiveSession, live_session
from . import queries, views
from .import_runner import import_subscribers
from .importing import ImportFileError, check_rows, csv_rows, json_rows
from .problems import Problem
from .routing import JSON, Call

SESSIONS_LIMIT = 50  # live sessions listed when the operator names no limit
_LONG_AGO = datetime.min.replace(tzinfo=UTC)


async def upsert_subscriber(call: Call) -> web.StreamResponse:
    body = call.body
    msisdn = views.msisdn_of(body["msisdn"], call.deps.country_code, "/body/msisdn")
    service = call.deps.services.subscribers
    existed = await service.exists(msisdn)
    try:
        subscriber = await service.upsert(
            msisdn, owner=body["owner"].strip(), region=body["region"].strip(),
            language=body.get("language"), status=body.get("status"),
            currency=body.get("currency"), channel=call.channel)
    except ValueError as exc:  # the service's own checks, phrased for the operator
        raise Problem("invalid-request", str(exc)) from None
    return views.ok(_subscriber(subscriber), status=200 if existed else 201)


async def show_subscriber(call: Call) -> web.StreamResponse:
    deps = call.deps
    msisdn = views.msisdn_of(call.path("msisdn"), deps.country_code, "/path/msisdn")
    subscriber = await deps.services.subscribers.get(msisdn)
    if subscriber is None:
        raise Problem("not-subscriber")
    balance = await deps.services.balance.get(msisdn)
    services = [offer.entry.code for offer in
                await deps.services.catalogue.offered_to(msisdn) if offer.enabled]
    return views.ok({
        "subscriber": _subscriber(subscriber),
        "balance": views.balance(balance, subscriber.language) if balance else None,
        "services": services,
        "linked_numbers": list(await deps.services.linking.group_numbers(msisdn)),
    })


async def import_subscriber_file(call: Call) -> web.StreamResponse:
    try:
        rows = json_rows(call.body) if call.media_type == JSON else csv_rows(call.text or "")
    except ImportFileError as exc:
        raise Problem("invalid-request", str(exc)) from None
    report = await import_subscribers(call.deps.services.subscribers,
                                      check_rows(rows, call.deps.country_code),
                                      channel=call.channel)
    return views.ok(report.as_dict())


async def top_up(call: Call) -> web.StreamResponse:
    msisdn = views.msisdn_of(call.path("msisdn"), call.deps.country_code, "/path/msisdn")
    result = await call.deps.services.balance.top_up(msisdn, call.body["amount_minor"],
                                             channel=call.channel,
                                             reference=call.body.get("reference"))
    if isinstance(result, r.NotSubscriber):
        raise Problem("not-subscriber")
    subscriber = await call.deps.services.subscribers.get(msisdn)
    language = subscriber.language if subscriber else "en"
    return views.ok({"msisdn": msisdn, "balance": views.balance(result, language)})


async def list_services(call: Call) -> web.StreamResponse:
    entries = await call.deps.services.catalogue.entries()
    return views.ok({"services": [_catalogue_entry(entry) for entry in entries]})


async def put_service(call: Call) -> web.StreamResponse:
    body = call.body
    try:
        entry, created = await call.deps.services.catalogue.put(
            call.path("code"), names=body["names"],
            connection_price_minor=body["connection_price_minor"],
            monthly_fee_minor=body["monthly_fee_minor"], currency=body.get("currency"),
            channel=call.channel)
    except ValueError as exc:  # the service's own checks, phrased for the operator
        raise Problem("invalid-request", str(exc)) from None
    return views.ok(_catalogue_entry(entry), status=201 if created else 200)


async def list_applications(call: Call) -> web.StreamResponse:
    found = await queries.applications(call.deps.db, status=call.query.get("status"),
                                       limit=call.query.get("limit", 100))
    return views.ok({"applications": [views.application(a) for a in found]})


async def show_application(call: Call) -> web.StreamResponse:
    application_id = views.application_id_of(call.path("application_id"))
    application = await call.deps.services.linking.get(application_id)
    if application is None:
        raise Problem("application-not-found")
    return views.ok(views.application(application))


async def approve_application(call: Call) -> web.StreamResponse:
    application_id = views.application_id_of(call.path("application_id"))
    result = await call.deps.services.linking.approve(application_id, channel=call.channel)
    return _decision(result)


async def reject_application(call: Call) -> web.StreamResponse:
    application_id = views.application_id_of(call.path("application_id"))
    result = await call.deps.services.linking.reject(application_id, call.body["reason"],
                                            channel=call.channel)
    return _decision(result)


def _decision(result: r.ApplicationApproved | r.ApplicationRejected | r.ApplicationNotFound
              | r.ApplicationAlreadyDecided) -> web.Response:
    if isinstance(result, r.ApplicationNotFound):
        raise Problem("application-not-found")
    if isinstance(result, r.ApplicationAlreadyDecided):
        raise Problem("application-already-decided", f"it is already {result.status}",
                      status_now=result.status)
    if isinstance(result, r.ApplicationApproved):
        return views.ok({"id": result.application_id, "status": "approved",
                         "group_id": result.group_id, "added": list(result.added)})
    # Approving re-checks the rules; an application that no longer meets them is rejected.
    return views.ok({"id": result.application_id, "status": "rejected", "reason": result.reason})


async def audit_trail(call: Call) -> web.StreamResponse:
    msisdn = views.msisdn_of(call.path("msisdn"), call.deps.country_code, "/path/msisdn")
    entries = await queries.audit_trail(call.deps.db, msisdn, limit=call.query.get("limit", 200))
    return views.ok({"msisdn": msisdn, "entries": [
        {"at": views.iso(e.at), "channel": e.channel, "action": e.action, "details": e.details}
        for e in entries]})


async def live_sessions(call: Call) -> web.StreamResponse:
    sessions = call.deps.sessions
    limit = call.query.get("limit", SESSIONS_LIMIT)
    open_now = await sessions.count()  # first: with Redis it also counts the timeouts
    found = [live_session(value) for value in await sessions.live(limit)]
    found.sort(key=lambda s: s.last_request or _LONG_AGO, reverse=True)
    now = call.deps.clock()
    return views.ok({"open": open_now, "timed_out": sessions.expired, "limit": limit,
                     "sessions": [_live_session(s, now) for s in found]})


def _live_session(session: LiveSession, now: datetime) -> dict[str, object]:
    began, last = session.began, session.last_request
    return {"msisdn": mask_msisdn(session.msisdn) if session.msisdn else None,
            "code": session.code, "screen": session.screen, "language": session.language,
            "started_at": views.iso(began) if began else None,
            "last_request_at": views.iso(last) if last else None,
            "age_seconds": _seconds(now - began) if began else None,
            "idle_seconds": _seconds(now - last) if last else None}


def _seconds(span: timedelta) -> int:
    return max(0, int(span.total_seconds()))


async def outbox(call: Call) -> web.StreamResponse:
    deps = call.deps
    destination = call.query.get("msisdn")
    if destination is not None:
        destination = views.msisdn_of(destination, deps.country_code, "/query/msisdn")
    messages = await queries.recent_outbox(deps.db, destination=destination,
                                           state=call.query.get("state"),
                                           limit=call.query.get("limit", 100))
    return views.ok({"unsent": await deps.services.outbox.count_unsent(), "messages": [{
        "id": m.id, "destination": m.destination, "purpose": m.purpose, "secret": m.secret,
        "state": m.state, "attempts": m.attempts, "created_at": views.iso(m.created_at),
        "smsc_message_id": m.smsc_message_id, "receipt_state": m.receipt_state,
        "last_error": m.last_error} for m in messages]})


async def reload_menus(call: Call) -> web.StreamResponse:
    # Loading menu files reads and checks them all: keep that off the event loop.
    error = await asyncio.to_thread(call.deps.reload_menus)
    if error is not None:
        raise Problem("menus-refused", error)
    return views.ok({"status": "reloaded"})


async def smpp_connections(call: Call) -> web.StreamResponse:
    return views.ok({"connections": call.deps.smpp_status()})


def _catalogue_entry(entry: r.CatalogueEntry) -> dict[str, object]:
    return {"code": entry.code, "name": entry.name, "names": dict(entry.names),
            "connection_price_minor": entry.connection_price_minor,
            "monthly_fee_minor": entry.monthly_fee_minor, "currency": entry.currency}


def _subscriber(value: r.Subscriber) -> dict[str, str]:
    return {"msisdn": value.msisdn, "owner": value.owner, "region": value.region,
            "language": value.language, "status": value.status}
