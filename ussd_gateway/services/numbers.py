"""The free "number management" service (*111*828*1#): enable, disable, query."""

from __future__ import annotations

from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.engine import Connection

from ussd_gateway.services.common import (
    INSERT_AUDIT,
    LOCK_SUBSCRIBER,
    Clock,
    audit_values,
    check_channel,
    utc_now,
)
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

# A service on a number, by ``msisdn`` and ``code`` (any catalogue service uses them too).
SERVICE_ENABLED = select(EnabledServiceRow.msisdn).where(
    EnabledServiceRow.msisdn == bindparam("msisdn"),
    EnabledServiceRow.service_code == bindparam("code"),
)
ENABLE_SERVICE = insert(EnabledServiceRow)
DISABLE_SERVICE = delete(EnabledServiceRow).where(
    EnabledServiceRow.msisdn == bindparam("msisdn"),
    EnabledServiceRow.service_code == bindparam("code"),
)
_THIS = {"code": NUMBER_MANAGEMENT}


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

        def enable(connection: Connection) -> Enabled | AlreadyEnabled | NotSubscriber:
            subscriber = connection.execute(LOCK_SUBSCRIBER, {"msisdn": msisdn}).first()
            if subscriber is None or subscriber.status != "active":
                return NotSubscriber()
            enabled = connection.execute(SERVICE_ENABLED, {"msisdn": msisdn, **_THIS}).first()
            if enabled is not None:
                return AlreadyEnabled()
            connection.execute(ENABLE_SERVICE, {
                "msisdn": msisdn, "service_code": NUMBER_MANAGEMENT, "enabled_at": now,
                "channel": channel})
            connection.execute(INSERT_AUDIT, audit_values(
                at=now, msisdn=msisdn, channel=channel, action="service.enabled",
                details={"service": NUMBER_MANAGEMENT}))
            return Enabled()

        return await self._db.transact(enable)

    async def disable(
        self, msisdn: str, *, channel: str
    ) -> Disabled | AlreadyDisabled | NotSubscriber:
        check_channel(channel)
        now = self._clock()

        def disable(connection: Connection) -> Disabled | AlreadyDisabled | NotSubscriber:
            if connection.execute(LOCK_SUBSCRIBER, {"msisdn": msisdn}).first() is None:
                return NotSubscriber()
            if not connection.execute(DISABLE_SERVICE, {"msisdn": msisdn, **_THIS}).rowcount:
                return AlreadyDisabled()
            connection.execute(INSERT_AUDIT, audit_values(
                at=now, msisdn=msisdn, channel=channel, action="service.disabled",
                details={"service": NUMBER_MANAGEMENT}))
            return Disabled()

        return await self._db.transact(disable)

    async def is_enabled(self, msisdn: str) -> bool:
        async with self._db.read() as session:
            found = await session.scalar(
                select(EnabledServiceRow.msisdn).where(
                    EnabledServiceRow.msisdn == msisdn,
                    EnabledServiceRow.service_code == NUMBER_MANAGEMENT,
                )
            )
            return found is not None
