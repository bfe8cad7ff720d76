"""The personal account API (/api/v1): the same services, rules and audit as the USSD menus."""

from __future__ import annotations

from aiohttp import web

from ..services import results as r
from ..services.numbers import NUMBER_MANAGEMENT
from . import queries, views
from .problems import Problem, retry_after_header
from .ratelimit import ClientRateLimiter
from .routing import Call
from .tokens import Scope

PASSWORD_LIMITER_KEY = web.AppKey("password_request_limiter", ClientRateLimiter)

# The same answer whether or not the number is ours, so the form cannot be used to find out.
_PASSWORD_ON_ITS_WAY = ("If the number is a subscriber of ours, an SMS with a password is on "
                        "its way. It is temporary: change it after you log in.")


async def request_password(call: Call) -> web.StreamResponse:
    limiter = call.request.app[PASSWORD_LIMITER_KEY]
    wait = limiter.hit(call.client_address, call.deps.clock())
    if wait is not None:
        seconds = wait.total_seconds()
        raise Problem("client-rate-limited", "too many password requests from your address",
                      headers=retry_after_header(seconds),
                      retry_after_seconds=int(-(-seconds // 1)))
    msisdn = views.msisdn_of(call.body["msisdn"], call.deps.country_code, "/body/msisdn")
    result = await call.deps.services.passwords.issue_temporary(msisdn, channel=call.channel)
    if isinstance(result, r.RateLimited):
        seconds = result.retry_after.total_seconds()
        raise Problem("password-rate-limited", "this number asked for too many passwords",
                      headers=retry_after_header(seconds),
                      retry_after_seconds=int(-(-seconds // 1)))
    if isinstance(result, r.PasswordIssued):
        call.deps.metrics.sms.labels("queued").inc()
        call.deps.on_sms_queued()
    return views.ok({"message": _PASSWORD_ON_ITS_WAY}, status=202)


async def login(call: Call) -> web.StreamResponse:
    msisdn = views.msisdn_of(call.body["msisdn"], call.deps.country_code, "/body/msisdn")
    result = await call.deps.services.passwords.verify_login(msisdn, call.body["password"],
                                                    channel=call.channel)
    call.deps.metrics.web_logins.labels(_login_outcome(result)).inc()
    _raise_for_credentials(result)
    assert isinstance(result, r.LoginOk)
    scope = Scope.PASSWORD_CHANGE if result.must_change else Scope.ACCOUNT
    token, expires_at = call.signer.issue(msisdn, scope, call.deps.clock())
    reply = views.ok({"token": token, "token_type": "Bearer",
                      "expires_at": views.iso(expires_at), "msisdn": msisdn,
                      "must_change_password": result.must_change}, status=201)
    reply.headers["Cache-Control"] = "no-store"  # a credential: no cache may keep it
    return reply


async def change_password(call: Call) -> web.StreamResponse:
    result = await call.deps.services.passwords.change_password(
        call.msisdn, call.body["current_password"], call.body["new_password"],
        channel=call.channel)
    if isinstance(result, r.PasswordRejected):
        raise Problem("password-rejected", result.reason)
    _raise_for_credentials(result)
    return web.Response(status=204)


def _login_outcome(result: r.LoginResult) -> str:
    if isinstance(result, r.LoginOk):
        return "must_change" if result.must_change else "ok"
    return "locked" if isinstance(result, r.LockedOut) else "invalid"


def _raise_for_credentials(result: object) -> None:
    # Never says whether the number exists or how many attempts are left: a wrong number and a
    # wrong password look the same from outside.
    if isinstance(result, r.InvalidCredentials):
        raise Problem("invalid-credentials")
    if isinstance(result, r.LockedOut):
        seconds = result.retry_after.total_seconds()
        raise Problem("locked-out", headers=retry_after_header(seconds),
                      retry_after_seconds=int(-(-seconds // 1)))


async def account(call: Call) -> web.StreamResponse:
    deps, msisdn = call.deps, call.msisdn
    subscriber = await deps.services.subscribers.get(msisdn)
    own_balance = await deps.services.balance.get(msisdn)
    if subscriber is None or subscriber.status != "active" or own_balance is None:
        raise Problem("not-subscriber")
    language = subscriber.language
    services = [{
        "code": entry.code, "name": entry.name, "enabled": entry.enabled,
        "connection_price": views.money(entry.connection_price_minor, entry.currency, language),
        "monthly_fee": views.money(entry.monthly_fee_minor, entry.currency, language),
    } for entry in await queries.catalogue(deps.db, msisdn)]
    group = await deps.services.balance.group_balances(msisdn)
    linked = [{"msisdn": line.msisdn, "balance": views.balance(line.balance, language)}
              for line in group if line.msisdn != msisdn]
    return views.ok({"msisdn": msisdn, "region": subscriber.region, "language": language,
                     "balance": views.balance(own_balance, language), "services": services,
                     "linked_numbers": linked})


async def enable_service(call: Call) -> web.StreamResponse:
    _number_management_only(call)
    result = await call.deps.services.numbers.enable(call.msisdn, channel=call.channel)
    if isinstance(result, r.NotSubscriber):
        raise Problem("not-subscriber")
    return web.Response(status=204)


async def disable_service(call: Call) -> web.StreamResponse:
    _number_management_only(call)
    result = await call.deps.services.numbers.disable(call.msisdn, channel=call.channel)
    if isinstance(result, r.NotSubscriber):
        raise Problem("not-subscriber")
    return web.Response(status=204)


def _number_management_only(call: Call) -> None:
    code = call.path("code")
    if code != NUMBER_MANAGEMENT:
        raise Problem("unknown-service",
                      f"{code!r} cannot be switched here; only {NUMBER_MANAGEMENT!r} can")


async def apply_for_link(call: Call) -> web.StreamResponse:
    country = call.deps.country_code
    numbers = [views.msisdn_of(raw, country, f"/body/numbers/{index}")
               for index, raw in enumerate(call.body["numbers"])]
    result = await call.deps.services.linking.apply(call.msisdn, numbers, channel=call.channel,
                                           region=call.body.get("region"))
    if isinstance(result, r.ApplicationRefused):
        raise Problem("application-refused",
                      "; ".join(str(refusal) for refusal in result.refusals),
                      refusals=[{"msisdn": refusal.msisdn, "reason": refusal.reason.name.lower(),
                                 "message": refusal.reason.value}
                                for refusal in result.refusals])
    application = await call.deps.services.linking.get(result.application_id)
    assert application is not None
    return views.ok(views.application(application), status=201)


async def my_applications(call: Call) -> web.StreamResponse:
    found = await queries.applications(call.deps.db, applicant=call.msisdn)
    return views.ok({"applications": [views.application(a) for a in found]})


async def my_application(call: Call) -> web.StreamResponse:
    application_id = views.application_id_of(call.path("application_id"))
    application = await call.deps.services.linking.get(application_id)
    if application is None or application.applicant != call.msisdn:
        raise Problem("application-not-found")
    return views.ok(views.application(application))
