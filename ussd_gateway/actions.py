"""The menu actions, each a call into the services; the only place menus meet the store.

``MENU_CONTRACT`` declares each action's outcomes and the placeholder values each fills: the
contract with the menu files (menus/*.toml), checked by `ussd-gateway menus check`, at start
and on every reload, and held to at run time. menus/README.md shows it as a table.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from menus.contracts import ActionContract, MenuContract, Returns

from . import services as svc
from .store.database import StoreUnavailable

log = logging.getLogger("ussd_gateway.actions")

Outcome = tuple[str, Mapping[str, str]]
LANGUAGES = frozenset({"ru", "en"})
_BALANCE = "the balance as the subscriber's language writes it, e.g. 42.00 RUB"
# Besides these, every action may end with error or not_subscriber (menus/contracts.py).
MENU_CONTRACT = MenuContract(
    actions={
        "balance": ActionContract({"ok": Returns("the balance was read", {"balance": _BALANCE})}),
        "balance.group": ActionContract({
            "ok": Returns("a number on its own", {"balance": _BALANCE}),
            "linked": Returns("a number in an account group", {
                "balance": "its own balance",
                "numbers": 'one "79160000002: 42.00 RUB" line per other number of the group',
                "count": "how many other numbers",
            }),
        }),
        "password.issue": ActionContract({
            "ok": Returns("the password is on its way by SMS",
                          {"expires_minutes": "minutes it stays valid"}),
            "rate_limited": Returns("one was sent too recently",
                                    {"retry_after_minutes": "minutes until one may be asked"}),
        }),
        "numbers.enable": ActionContract({
            "enabled": Returns("number management is switched on"),
            "already_enabled": Returns("it was on already"),
        }),
        "numbers.disable": ActionContract({
            "disabled": Returns("number management is switched off"),
            "already_disabled": Returns("it was off already"),
        }),
        "language.set": ActionContract(
            {"ok": Returns("the language is changed", {"language": "the new language: ru, en"})},
            params={"language": "ru or en"},
        ),
    },
    dial_values={"msisdn": "the caller's number, e.g. 79161234567"},
)
# How long a balance read with the subscriber may stand in for the balance action's own read:
# long enough for the action of the same request, too short to show a stale figure.
BALANCE_REUSE_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class ActionArgs:
    """What one action call gets: whose, the menu's inputs, the language, the request."""

    msisdn: str
    inputs: Mapping[str, str]
    language: str
    request_key: str | None = None


class ServiceActions:
    """Implements :class:`ussd_gateway.dispatch.ActionRunner` over the services."""

    def __init__(self, services: svc.SelfCare, *, on_password_issued: Callable[[], None],
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._services = services
        self._on_password_issued = on_password_issued
        self._clock = clock
        # Balances read with the subscriber when a code was dialled, by MSISDN, oldest
        # first: a balance action in the same request shows that read instead of a second.
        self._read_balances: dict[str, tuple[float, svc.Balance]] = {}
        self._handlers: dict[str, Callable[[ActionArgs], Awaitable[Outcome]]] = {
            "balance": self._balance,
            "balance.group": self._group_balances,
            "password.issue": self._issue_password,
            "numbers.enable": self._enable_numbers,
            "numbers.disable": self._disable_numbers,
            "language.set": self._set_language,
        }
        if self._handlers.keys() != MENU_CONTRACT.actions.keys():
            raise RuntimeError("MENU_CONTRACT and the action handlers name different actions")

    async def language_of(self, msisdn: str) -> str | None:
        """Read once when a code is dialled; the balance comes along for a balance action.

        Should the balance part of the store fail, the subscriber alone is read, so the
        codes that do not need a balance keep working.
        """
        try:
            found = await self._services.subscribers.with_balance(msisdn)
        except StoreUnavailable:
            subscriber = await self._services.subscribers.get(msisdn)
            return subscriber.language if subscriber is not None else None
        if found is None:
            return None
        subscriber, balance = found
        if balance is not None:
            self._remember_balance(msisdn, balance)
        return subscriber.language

    def _remember_balance(self, msisdn: str, balance: svc.Balance) -> None:
        now = time.monotonic()
        while self._read_balances:
            oldest, (read_at, _) = next(iter(self._read_balances.items()))
            if now - read_at < BALANCE_REUSE_SECONDS and len(self._read_balances) < 10_000:
                break
            del self._read_balances[oldest]
        self._read_balances.pop(msisdn, None)
        self._read_balances[msisdn] = (now, balance)

    def _balance_read_just_now(self, msisdn: str) -> svc.Balance | None:
        read = self._read_balances.pop(msisdn, None)
        if read is None or time.monotonic() - read[0] >= BALANCE_REUSE_SECONDS:
            return None
        return read[1]

    async def run(self, action: str, msisdn: str, inputs: Mapping[str, str],
                  language: str, *, request_key: str | None = None) -> Outcome:
        """``request_key`` names the request (its dialogue and what was dialled), so an
        action can tell a resent request from a new one."""
        handler = self._handlers.get(action)
        if handler is None:
            log.error("menu asked for unknown action %r", action)
            return "error", {}
        outcome, values = await handler(ActionArgs(msisdn, inputs, language, request_key))
        declared = MENU_CONTRACT.actions[action]
        if not declared.returns(outcome) or set(values) != declared.values_of(outcome):
            # The menus were checked against the declaration; say where they part ways.
            log.error("action %r returned %r with values %s, not as MENU_CONTRACT declares",
                      action, outcome, sorted(values))
        return outcome, values

    async def _balance(self, call: ActionArgs) -> Outcome:
        msisdn, language = call.msisdn, call.language
        balance = self._balance_read_just_now(msisdn) or await self._services.balance.get(msisdn)
        if balance is None:
            return "not_subscriber", {}
        return "ok", {"balance": svc.format_money(balance.amount_minor, balance.currency,
                                                  language)}

    async def _group_balances(self, call: ActionArgs) -> Outcome:
        """``ok`` with {balance} for a number on its own; ``linked`` adds {numbers}, one
        line per other number of its account group with that number's balance.

        The numbers are shown in full: they are the subscriber's own (one owner per group),
        and masked ones could not be told apart.
        """
        msisdn, language = call.msisdn, call.language
        lines = await self._services.balance.group_balances(msisdn)
        if not lines or lines[0].msisdn != msisdn:
            return "not_subscriber", {}
        own = {"balance": _money(lines[0].balance, language)}
        if len(lines) == 1:
            return "ok", own
        others = [f"{line.msisdn}: {_money(line.balance, language)}" for line in lines[1:]]
        return "linked", {**own, "numbers": "\n".join(others), "count": str(len(others))}

    async def _issue_password(self, call: ActionArgs) -> Outcome:
        msisdn = call.msisdn
        result = await self._services.passwords.issue_temporary(
            msisdn, channel="ussd", request_key=call.request_key)
        if isinstance(result, svc.NotSubscriber):
            return "not_subscriber", {}
        if isinstance(result, svc.RateLimited):
            return "rate_limited", {"retry_after_minutes": _minutes(result.retry_after)}
        if not result.repeated:
            self._on_password_issued()
        return "ok", {"expires_minutes": _minutes(result.expires_at - self._clock())}

    async def _enable_numbers(self, call: ActionArgs) -> Outcome:
        msisdn = call.msisdn
        result = await self._services.numbers.enable(msisdn, channel="ussd")
        if isinstance(result, svc.NotSubscriber):
            return "not_subscriber", {}
        return ("already_enabled" if isinstance(result, svc.AlreadyEnabled) else "enabled"), {}

    async def _disable_numbers(self, call: ActionArgs) -> Outcome:
        msisdn = call.msisdn
        result = await self._services.numbers.disable(msisdn, channel="ussd")
        if isinstance(result, svc.NotSubscriber):
            return "not_subscriber", {}
        return ("already_disabled" if isinstance(result, svc.AlreadyDisabled) else "disabled"), {}

    async def _set_language(self, call: ActionArgs) -> Outcome:
        msisdn, inputs = call.msisdn, call.inputs
        wanted = inputs.get("language", "")
        if wanted not in LANGUAGES:
            return "error", {}
        if not await self._services.subscribers.set_language(msisdn, wanted, channel="ussd"):
            return "not_subscriber", {}
        return "ok", {"language": wanted}


def _money(balance: svc.Balance, language: str) -> str:
    return svc.format_money(balance.amount_minor, balance.currency, language)


def _minutes(delta: timedelta) -> str:
    return str(max(1, -(-int(delta.total_seconds()) // 60)))
