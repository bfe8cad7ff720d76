"""A real gateway bound (as an ESME) to a hand-made USSD centre that sends raw bytes.

The simulator only sends well-formed dialogues; this centre sends whatever a test builds:
a wrong data_coding, an empty short_message, two dialogues of one number at once, many
concurrent requests from one handset. Screens come back as submit_sm with the USSD TLVs,
SMS without them; both are sorted here by number (and session for screens).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.gateway_stack import stack_config
from tests.smscs import pdus
from tests.smscs.base import ScriptedSmsc
from ussd_gateway.config import GatewayConfig
from ussd_gateway.gateway import Gateway, Running

WAIT = 15.0


@dataclass
class RawCentre:
    smsc: ScriptedSmsc
    gateway: Gateway
    running: Running
    config: GatewayConfig
    screens: defaultdict[tuple[str, int], asyncio.Queue[pdus.ShortMessage]] = field(
        default_factory=lambda: defaultdict(asyncio.Queue))
    sms: defaultdict[str, list[pdus.ShortMessage]] = field(
        default_factory=lambda: defaultdict(list))

    async def send(self, msisdn: str, text: bytes, *, op: int | None, session: int,
                   unit: int = 0, end: bool = False, data_coding: int = 0) -> int:
        """One deliver_sm from a handset; returns the command_status of its resp."""
        tlvs = b""
        if op is not None:
            tlvs += pdus.tlv(pdus.TAG_USSD_SERVICE_OP, bytes((op,)))
        tlvs += pdus.tlv(pdus.TAG_ITS_SESSION_INFO, bytes((session, (unit << 1) | int(end))))
        response = await self.smsc.deliver(
            lambda seq: pdus.deliver_sm(seq, msisdn, "111", text, tlvs=tlvs,
                                        data_coding=data_coding), WAIT)
        return pdus.header(response)[2]

    async def screen(self, msisdn: str, session: int) -> pdus.ShortMessage:
        return await asyncio.wait_for(self.screens[(msisdn, session)].get(), WAIT)

    async def dial(self, msisdn: str, text: bytes, session: int, *,
                   data_coding: int = 0) -> pdus.ShortMessage:
        assert await self.send(msisdn, text, op=1, session=session,
                               data_coding=data_coding) == pdus.ESME_ROK
        return await self.screen(msisdn, session)

    async def _sort(self) -> None:
        while True:
            message = await self.smsc.submits.get()
            session_info = message.tlvs.get(pdus.TAG_ITS_SESSION_INFO)
            if pdus.TAG_USSD_SERVICE_OP in message.tlvs or session_info is not None:
                number = session_info[0] if session_info else -1
                self.screens[(message.destination, number)].put_nowait(message)
            else:
                self.sms[message.destination].append(message)


def is_final(screen: pdus.ShortMessage) -> bool:
    op = screen.tlvs.get(pdus.TAG_USSD_SERVICE_OP, b"\x02")[0]
    session_info = screen.tlvs.get(pdus.TAG_ITS_SESSION_INFO, b"\x00\x00")
    return op in (16, 17) or bool(session_info[1] & 1)


@asynccontextmanager
async def raw_centre(tmp_path: Path, tweak: Callable[[dict[str, Any]], None] | None = None,
                     smsc: ScriptedSmsc | None = None) -> AsyncIterator[RawCentre]:
    """``smsc``: one of tests/smscs/misbehaving.py instead of a well-behaved one (its
    credentials become the gateway's: gateway / demo)."""
    smsc = smsc or ScriptedSmsc()
    smsc.system_id, smsc.password = "gateway", "demo"
    await smsc.start()
    gateway: Gateway | None = None
    sorter: asyncio.Task[None] | None = None
    try:
        config = stack_config(tmp_path, smsc.port, tweak)
        gateway = Gateway(config)
        running = await gateway.start()
        await smsc.wait_binds(1, WAIT)
        centre = RawCentre(smsc, gateway, running, config)
        sorter = asyncio.create_task(centre._sort())
        yield centre
    finally:
        if sorter is not None:
            sorter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sorter
        if gateway is not None:
            await gateway.stop()
        await smsc.stop()

