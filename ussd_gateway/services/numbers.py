"""The free "number management" service (*111*828*1#): enable, disable, query."""

from __future__ import annotations

from sqlalchemy import delete, select

from ussd_gateway.services.common import Clock, audit, check_channel, lock_subscriber, utc_now
from ussd_gateway.services.results import (
    AlreadyDisabled,
    AlreadyEnabled,
    Disabled,
    Enabled,
    NotSubscriber,
)
from ussd_gateway.services.settings import ServiceSettings
from ussd_gateway.store.database import Database
from ussd_gateway.store.models import EnabledServiceRow

NUMBER_MANAGEMENT = "number_management"


class NumberManagementService:
    def __init__(
        self, db: Database, settings: ServiceSettings | None = None, clock: Clock = utc_now
    ) -> None:
        self._db = db
        self._clock = clock

    async def enable(
        self, msisdn: str, *, channel: str
    ) -> Enabled | AlreadyEnabled | NotSubscriber:
        check_channel(channel)
        now = self._clock()
        async with self._db.write() as session:
            subscriber = await lock_subscriber(session, msisdn)
            if subscriber is None or subscriber.status != "active":
                return NotSubscriber()
            if await session.get(EnabledServiceRow, (msisdn, NUMBER_MANAGEMENT)) is not None:
                return AlreadyEnabled()
            session.add(
                EnabledServiceRow(
                    msisdn=msisdn, service_code=NUMBER_MANAGEMENT, enabled_at=now, channel=channel
                )
            )
            audit(
                session,
                at=now,
                msisdn=msisdn,
                channel=channel,
                action="service.enabled",
                details={"service": NUMBER_MANAGEMENT},
            )
            return Enabled()

    async def disable(
        self, msisdn: str, *, channel: str
    ) -> Disabled | AlreadyDisabled | NotSubscriber:
        check_channel(channel)
        now = self._clock()
        async with self._db.write() as session:
            if await lock_subscriber(session, msisdn) is None:
                return NotSubscriber()
            result = await session.execute(
                delete(EnabledServiceRow).where(
                    EnabledServiceRow.msisdn == msisdn,
                    EnabledServiceRow.service_code == NUMBER_MANAGEMENT,
                )
            )
            if result.rowcount == 0:  # type: ignore[attr-defined]
                return AlreadyDisabled()
            audit(
                session,
                at=now,
                msisdn=msisdn,
                channel=channel,
                action="service.disabled",
                details={"service": NUMBER_MANAGEMENT},
            )
            return Disabled()

    async def is_enabled(self, msisdn: str) -> bool:
        async with self._db.read() as session:
            found = await session.scalar(
                select(EnabledServiceRow.msisdn).where(
                    EnabledServiceRow.msisdn == msisdn,
                    EnabledServiceRow.service_code == NUMBER_MANAGEMENT,
                )
            )
            return found is not None
