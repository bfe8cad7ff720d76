"""The catalogue of optional services: what the operator offers, in which languages, at what
connection price and monthly fee. Operators edit it; subscribers read it in their language."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, delete, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ussd_gateway.services.common import INSERT_AUDIT, Clock, audit_values, check_channel, utc_now
from ussd_gateway.services.numbers import NUMBER_MANAGEMENT
from ussd_gateway.services.results import CatalogueEntry, OfferedService
from ussd_gateway.services.settings import ServiceSettings
from ussd_gateway.store.database import Database
from ussd_gateway.store.models import EnabledServiceRow, ServiceNameRow, ServiceRow

CODE = re.compile(r"^[a-z][a-z0-9_]{1,49}$")
MAX_NAME = 100
MAX_PRICE_MINOR = 10**12
_CURRENCY = re.compile(r"^[A-Z]{3}$")

_COLUMNS = (ServiceRow.code, ServiceRow.name, ServiceRow.connection_price_minor,
            ServiceRow.monthly_fee_minor, ServiceRow.currency)
_ENTRIES = select(*_COLUMNS).order_by(ServiceRow.code)
_ENTRY = select(*_COLUMNS).where(ServiceRow.code == bindparam("code"))
_LOCK_ENTRY = _ENTRY.with_for_update()
_NAMES = select(ServiceNameRow.service_code, ServiceNameRow.language, ServiceNameRow.name)
_NAMES_OF = _NAMES.where(ServiceNameRow.service_code == bindparam("code"))
_ENABLED_CODES = select(EnabledServiceRow.service_code).where(
    EnabledServiceRow.msisdn == bindparam("msisdn"))
_INSERT_ENTRY = insert(ServiceRow)
_UPDATE_ENTRY = update(ServiceRow).where(ServiceRow.code == bindparam("b_code"))
_FORGET_NAMES = delete(ServiceNameRow).where(ServiceNameRow.service_code == bindparam("code"))
_INSERT_NAME = insert(ServiceNameRow)


class CatalogueService:
    def __init__(
        self, db: Database, settings: ServiceSettings | None = None, clock: Clock = utc_now
    ) -> None:
        self._db = db
        self._settings = settings or ServiceSettings()
        self._clock = clock

    async def entries(self) -> tuple[CatalogueEntry, ...]:
        """The whole catalogue, by code."""
        async with self._db.read() as session:
            return await _all_entries(session)

    async def get(self, code: str) -> CatalogueEntry | None:
        async with self._db.read() as session:
            rows = (await session.execute(_ENTRY, {"code": code})).all()
            names = (await session.execute(_NAMES_OF, {"code": code})).all()
        found = _entries(rows, names)
        return found[0] if found else None

    async def offered_to(self, msisdn: str) -> tuple[OfferedService, ...]:
        """Every catalogue service, and whether ``msisdn`` has it enabled."""
        async with self._db.read() as session:
            entries = await _all_entries(session)
            enabled = set((await session.execute(_ENABLED_CODES, {"msisdn": msisdn})).scalars())
        return tuple(OfferedService(entry, entry.code in enabled) for entry in entries)

    async def put(
        self,
        code: str,
        *,
        names: Mapping[str, str],
        connection_price_minor: int,
        monthly_fee_minor: int,
        channel: str,
        currency: str | None = None,
    ) -> tuple[CatalogueEntry, bool]:
        """Add the service to the catalogue or change it; True when it was added.

        Numbers that have it enabled keep it; a new connection price applies to the next
        ones. Raises ValueError saying what is wrong with the entry.
        """
        check_channel(channel)
        currency = currency or self._settings.default_currency
        clean_names = self._check(code, names, connection_price_minor, monthly_fee_minor,
                                  currency)
        entry = CatalogueEntry(
            code=code, name=dict(clean_names).get(self._settings.default_language,
                                                  clean_names[0][1]),
            names=clean_names, connection_price_minor=connection_price_minor,
            monthly_fee_minor=monthly_fee_minor, currency=currency)
        now = self._clock()
        try:
            created = await self._db.transact(lambda connection: _save(
                connection, entry, channel, now))
        except IntegrityError:
            # Added at the same moment by another operator (PostgreSQL): now it is a change.
            created = await self._db.transact(lambda connection: _save(
                connection, entry, channel, now))
        return entry, created

    def _check(self, code: str, names: Mapping[str, str], connection_price_minor: int,
               monthly_fee_minor: int, currency: str) -> tuple[tuple[str, str], ...]:
        if not CODE.match(code):
            raise ValueError(f"service code {code[:60]!r} must be 2 to 50 lower-case letters, "
                             "digits or _, starting with a letter")
        languages = self._settings.languages
        unknown = sorted(set(names) - set(languages))
        if unknown:
            raise ValueError(f"names: {', '.join(unknown)} is not one of the languages "
                             f"{', '.join(languages)}")
        missing = [language for language in languages if not names.get(language, "").strip()]
        if missing:
            raise ValueError(f"names: the name in {', '.join(missing)} is missing "
                             "(subscribers see the service in their language)")
        too_long = [language for language in languages if len(names[language].strip()) > MAX_NAME]
        if too_long:
            raise ValueError(f"names: the name in {', '.join(too_long)} is longer than "
                             f"{MAX_NAME} characters")
        for field, amount in (("connection_price_minor", connection_price_minor),
                              ("monthly_fee_minor", monthly_fee_minor)):
            if (not isinstance(amount, int) or isinstance(amount, bool)
                    or not 0 <= amount <= MAX_PRICE_MINOR):
                raise ValueError(f"{field} must be a whole number of minor units from 0 to "
                                 f"{MAX_PRICE_MINOR}, got {amount!r}")
        if not _CURRENCY.match(currency):
            raise ValueError(f"currency must be an ISO 4217 code, got {currency!r}")
        if code == NUMBER_MANAGEMENT and (connection_price_minor or monthly_fee_minor):
            raise ValueError("number management is free by the operator's rules: its "
                             "connection price and monthly fee must be 0")
        return tuple((language, names[language].strip()) for language in sorted(languages))


def _save(connection: Connection, entry: CatalogueEntry, channel: str, now: datetime) -> bool:
    """Write the entry and its names; audit what changed. True when it is new."""
    code = entry.code
    before = connection.execute(_LOCK_ENTRY, {"code": code}).first()
    old_names = {language: name for _, language, name
                 in connection.execute(_NAMES_OF, {"code": code})}
    values = {"name": entry.name, "connection_price_minor": entry.connection_price_minor,
              "monthly_fee_minor": entry.monthly_fee_minor, "currency": entry.currency}
    if before is None:
        connection.execute(_INSERT_ENTRY, {"code": code, **values})
        changes: dict[str, Any] = {**values, "names": dict(entry.names)}
    else:
        connection.execute(_UPDATE_ENTRY, {"b_code": code, **values})
        changes = {key: {"from": getattr(before, key), "to": value}
                   for key, value in values.items() if getattr(before, key) != value}
        if old_names != dict(entry.names):
            changes["names"] = {"from": old_names, "to": dict(entry.names)}
    connection.execute(_FORGET_NAMES, {"code": code})
    connection.execute(_INSERT_NAME, [{"service_code": code, "language": language,
                                       "name": name} for language, name in entry.names])
    if before is None or changes:
        connection.execute(INSERT_AUDIT, audit_values(
            at=now, msisdn=None, channel=channel,
            action="catalogue.created" if before is None else "catalogue.updated",
            details={"service": code, **changes}))
    return before is None


async def _all_entries(session: AsyncSession) -> tuple[CatalogueEntry, ...]:
    rows = (await session.execute(_ENTRIES)).all()
    names = (await session.execute(_NAMES)).all()
    return _entries(rows, names)


_EntryRows = Sequence[Row[str, str, int, int, str]]
_NameRows = Sequence[Row[str, str, str]]


def _entries(rows: _EntryRows, names: _NameRows) -> tuple[CatalogueEntry, ...]:
    by_code: dict[str, list[tuple[str, str]]] = {}
    for code, language, name in names:
        by_code.setdefault(code, []).append((language, name))
    return tuple(CatalogueEntry(
        code=row.code, name=row.name, names=tuple(sorted(by_code.get(row.code, []))),
        connection_price_minor=row.connection_price_minor,
        monthly_fee_minor=row.monthly_fee_minor, currency=row.currency) for row in rows)
