"""Balances: read, formatted, the group's numbers, top-up and debit with conditional updates."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ussd_gateway.services.common import Clock, audit, check_channel, utc_now
from ussd_gateway.services.money import format_money
from ussd_gateway.services.results import Balance, InsufficientFunds, NotSubscriber, NumberBalance
from ussd_gateway.services.settings import ServiceSettings
from ussd_gateway.store.database import Database
from ussd_gateway.store.models import BalanceRow, GroupMemberRow
from ussd_gateway.store.read_query import ReadQuery

_BALANCE = ReadQuery(
    select(BalanceRow.amount_minor, BalanceRow.currency)
    .where(BalanceRow.msisdn == bindparam("msisdn"))
)


def _recorded(
    session: AsyncSession, now: datetime, msisdn: str, channel: str, action: str,
    amount_minor: int, reference: str | None, balance: Balance,
) -> Balance:
    """Audit a change of balance; returns the balance it left."""
    audit(
        session,
        at=now,
        msisdn=msisdn,
        channel=channel,
        action=action,
        details={
            "amount_minor": amount_minor,
            "currency": balance.currency,
            "reference": reference,
            "balance_minor": balance.amount_minor,
        },
    )
    return balance


def _check_amount(amount_minor: int) -> None:
    if not isinstance(amount_minor, int) or isinstance(amount_minor, bool) or amount_minor <= 0:
        raise ValueError(f"amount must be a positive whole number of minor units: {amount_minor!r}")


class BalanceService:
    def __init__(
        self, db: Database, settings: ServiceSettings | None = None, clock: Clock = utc_now
    ) -> None:
        self._db = db
        self._clock = clock

    format_money = staticmethod(format_money)

    async def get(self, msisdn: str) -> Balance | None:
        rows = await self._db.fetch(_BALANCE, msisdn=msisdn)
        return Balance(*rows[0]) if rows else None

    async def group_balances(self, msisdn: str) -> tuple[NumberBalance, ...]:
        """The balances of every number in ``msisdn``'s account group, its own first; just its
        own when it is not linked; empty for an unknown number."""
        async with self._db.read() as session:
            group_id = await session.scalar(
                select(GroupMemberRow.group_id).where(GroupMemberRow.msisdn == msisdn)
            )
            query = select(BalanceRow.msisdn, BalanceRow.amount_minor, BalanceRow.currency)
            if group_id is None:
                query = query.where(BalanceRow.msisdn == msisdn)
            else:
                query = query.join(GroupMemberRow, GroupMemberRow.msisdn == BalanceRow.msisdn)
                query = query.where(GroupMemberRow.group_id == group_id)
            rows = (await session.execute(query.order_by(BalanceRow.msisdn))).all()
        lines = [
            NumberBalance(number, Balance(amount, currency)) for number, amount, currency in rows
        ]
        lines.sort(key=lambda line: line.msisdn != msisdn)
        return tuple(lines)

    async def top_up(
        self, msisdn: str, amount_minor: int, *, channel: str, reference: str | None = None
    ) -> Balance | NotSubscriber:
        check_channel(channel)
        _check_amount(amount_minor)
        now = self._clock()
        async with self._db.write() as session:
            row = (
                await session.execute(
                    update(BalanceRow)
                    .where(BalanceRow.msisdn == msisdn)
                    .values(amount_minor=BalanceRow.amount_minor + amount_minor, updated_at=now)
                    .returning(BalanceRow.amount_minor, BalanceRow.currency)
                )
            ).one_or_none()
            if row is None:
                return NotSubscriber()
            return _recorded(session, now, msisdn, channel, "balance.top_up", amount_minor,
                             reference, Balance(row.amount_minor, row.currency))

    async def debit(
        self, msisdn: str, amount_minor: int, *, channel: str, reference: str | None = None
    ) -> Balance | InsufficientFunds | NotSubscriber:
        """Take money only if the balance covers it; never leaves a negative balance."""
        check_channel(channel)
        _check_amount(amount_minor)
        now = self._clock()
        async with self._db.write() as session:
            row = (
                await session.execute(
                    update(BalanceRow)
                    .where(BalanceRow.msisdn == msisdn, BalanceRow.amount_minor >= amount_minor)
                    .values(amount_minor=BalanceRow.amount_minor - amount_minor, updated_at=now)
                    .returning(BalanceRow.amount_minor, BalanceRow.currency)
                )
            ).one_or_none()
            if row is None:
                current = await session.get(BalanceRow, msisdn)
                if current is None:
                    return NotSubscriber()
                return InsufficientFunds(Balance(current.amount_minor, current.currency))
            return _recorded(session, now, msisdn, channel, "balance.debit", amount_minor,
                             reference, Balance(row.amount_minor, row.currency))
