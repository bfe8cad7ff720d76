"""The personal account API (/api/v1): the same services, rules and audit as the USSD menus."""

from __future__ import annotations

from aiohttp import web

from ..services import results as r
from ..services.money import format_money
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
    token, expires_at = call.signer.issue(msisdn, scope, call.deps.clock(),
                                          credential_stamp=result.credential_stamp)
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
        "code": offer.entry.code, "name": offer.entry.name_in(language),
        "enabled": offer.enabled,
        "connection_price": views.money(offer.entry.connection_price_minor,
                                        offer.entry.currency, language),
        "monthly_fee": views.money(offer.entry.monthly_fee_minor, offer.entry.currency,
                                   language),
    } for offer in await deps.services.catalogue.offered_to(msisdn)]
    group = await deps.services.balance.group_balances(msisdn)
    linked = [{"msisdn": line.msisdn, "balance": views.balance(line.balance, language)}
              for line in group if line.msisdn != msisdn]
    return views.ok({"msisdn": msisdn, "region": subscriber.region, "language": language,
                     "balance": views.balance(own_balance, language), "services": services,
                     "linked_numbers": linked})


async def enable_service(call: Call) -> web.StreamResponse:
    """Enabling twice is not an error and is paid for once."""
    code = call.path("code")
    result = await call.deps.services.optional_services.enable(call.msisdn, code,
                                                               channel=call.channel)
    if isinstance(result, r.CannotAfford):
        raise Problem("insufficient-funds",
                      f"connecting {code} costs {_money_text(result.price)}; the balance is "
                      f"{_money_text(result.balance)}",
                      connection_price=views.balance(result.price, "en"),
                      balance=views.balance(result.balance, "en"))
    if isinstance(result, r.PriceInOtherCurrency):
        raise Problem("price-in-other-currency",
                      f"{code} is priced in {result.price.currency}; the balance is kept in "
                      f"{result.balance.currency}")
    _raise_for_service(result, code)
    return web.Response(status=204)


async def disable_service(call: Call) -> web.StreamResponse:
    """Free; disabling a service that is off is not an error."""
    code = call.path("code")
    result = await call.deps.services.optional_services.disable(call.msisdn, code,
                                                                channel=call.channel)
    _raise_for_service(result, code)
    return web.Response(status=204)


def _raise_for_service(result: object, code: str) -> None:
    if isinstance(result, r.NotSubscriber):
        raise Problem("not-subscriber")
    if isinstance(result, r.UnknownService):
        raise Problem("unknown-service", f"no service {code[:60]!r} in the catalogue")


def _money_text(value: r.Balance) -> str:
    return format_money(value.amount_minor, value.currency, "en")


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
