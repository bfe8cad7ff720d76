"""Enabling and disabling the catalogue's services on a number.

A connection price is debited in the same transaction that enables the service, so a service
is never enabled unpaid nor paid for twice. Disabling is free. Number management keeps its own
free path (:mod:`ussd_gateway.services.numbers`), whatever the catalogue says.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Connection

from ussd_gateway.services.common import (
    INSERT_AUDIT,
    LOCK_SUBSCRIBER,
    Clock,
    audit_values,
    check_channel,
    utc_now,
)
from ussd_gateway.services.numbers import (
    DISABLE_SERVICE,
    ENABLE_SERVICE,
    NUMBER_MANAGEMENT,
    SERVICE_ENABLED,
    NumberManagementService,
)
from ussd_gateway.services.results import (
    AlreadyDisabled,
    AlreadyEnabled,
    Balance,
    CannotAfford,
    Disabled,
    Enabled,
    NotSubscriber,
    PriceInOtherCurrency,
    UnknownService,
)
from ussd_gateway.services.settings import ServiceSettings
from ussd_gateway.store.database import Database
from ussd_gateway.store.models import BalanceRow, ServiceRow

EnableResult = (Enabled | AlreadyEnabled | NotSubscriber | UnknownService | CannotAfford
                | PriceInOtherCurrency)
DisableResult = Disabled | AlreadyDisabled | NotSubscriber | UnknownService

_PRICE = select(ServiceRow.connection_price_minor, ServiceRow.currency).where(
    ServiceRow.code == bindparam("code"))
# Takes the price only from a balance in the price's currency that covers it.
_CHARGE = (
    update(BalanceRow)
    .where(BalanceRow.msisdn == bindparam("b_msisdn"),
           BalanceRow.currency == bindparam("price_currency"),
           BalanceRow.amount_minor >= bindparam("price"))
    .values(amount_minor=BalanceRow.amount_minor - bindparam("price"),
            updated_at=bindparam("now"))
    .returning(BalanceRow.amount_minor)
)
_BALANCE = select(BalanceRow.amount_minor, BalanceRow.currency).where(
    BalanceRow.msisdn == bindparam("msisdn"))


class OptionalServices:
    def __init__(
        self, db: Database, settings: ServiceSettings | None = None, clock: Clock = utc_now,
        *, numbers: NumberManagementService | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._numbers = numbers or NumberManagementService(db, settings, clock)

    async def enable(self, msisdn: str, code: str, *, channel: str) -> EnableResult:
        """Enable ``code`` on ``msisdn``, debiting its connection price; refused (nothing
        enabled, nothing debited) when the balance does not cover it."""
        check_channel(channel)
        if code == NUMBER_MANAGEMENT:
            return await self._numbers.enable(msisdn, channel=channel)
        now = self._clock()
        return await self._db.transact(lambda connection: _enable(
            connection, msisdn, code, channel, now))

    async def disable(self, msisdn: str, code: str, *, channel: str) -> DisableResult:
        """Free; nothing is refunded."""
        check_channel(channel)
        if code == NUMBER_MANAGEMENT:
            return await self._numbers.disable(msisdn, channel=channel)
        now = self._clock()
        return await self._db.transact(lambda connection: _disable(
            connection, msisdn, code, channel, now))


def _enable(connection: Connection, msisdn: str, code: str, channel: str,
            now: datetime) -> EnableResult:
    subscriber = connection.execute(LOCK_SUBSCRIBER, {"msisdn": msisdn}).first()
    if subscriber is None or subscriber.status != "active":
        return NotSubscriber()
    service = connection.execute(_PRICE, {"code": code}).first()
    if service is None:
        return UnknownService(code)
    if connection.execute(SERVICE_ENABLED, {"msisdn": msisdn, "code": code}).first() is not None:
        return AlreadyEnabled()
    price = Balance(service.connection_price_minor, service.currency)
    if price.amount_minor > 0:
        charged = connection.execute(_CHARGE, {
            "b_msisdn": msisdn, "price": price.amount_minor, "price_currency": price.currency,
            "now": now}).first()
        if charged is None:
            return _refusal(connection, msisdn, price)
        connection.execute(INSERT_AUDIT, audit_values(
            at=now, msisdn=msisdn, channel=channel, action="balance.debit",
            details={"amount_minor": price.amount_minor, "currency": price.currency,
                     "reference": f"service:{code}", "balance_minor": charged.amount_minor}))
    connection.execute(ENABLE_SERVICE, {"msisdn": msisdn, "service_code": code, "enabled_at": now,
                                 "channel": channel})
    connection.execute(INSERT_AUDIT, audit_values(
        at=now, msisdn=msisdn, channel=channel, action="service.enabled",
        details={"service": code, "connection_price_minor": price.amount_minor,
                 "currency": price.currency}))
    return Enabled()


def _refusal(connection: Connection, msisdn: str,
             price: Balance) -> CannotAfford | PriceInOtherCurrency | NotSubscriber:
    row = connection.execute(_BALANCE, {"msisdn": msisdn}).first()
    if row is None:
        return NotSubscriber()
    balance = Balance(row.amount_minor, row.currency)
    if balance.currency != price.currency:
        return PriceInOtherCurrency(price, balance)
    return CannotAfford(price, balance)


def _disable(connection: Connection, msisdn: str, code: str, channel: str,
             now: datetime) -> DisableResult:
    if connection.execute(LOCK_SUBSCRIBER, {"msisdn": msisdn}).first() is None:
        return NotSubscriber()
    if connection.execute(_PRICE, {"code": code}).first() is None:
        return UnknownService(code)
    if not connection.execute(DISABLE_SERVICE, {"msisdn": msisdn, "code": code}).rowcount:
        return AlreadyDisabled()
    connection.execute(INSERT_AUDIT, audit_values(
        at=now, msisdn=msisdn, channel=channel, action="service.disabled",
        details={"service": code}))
    return Disabled()
