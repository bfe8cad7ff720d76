"""Several SMPP connections at once: each USSD centre gets its answers on the link its
requests came in on, and SMS leave on the connection named in ``[sms] connection``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.gateway_stack import gateway_simulator, running_stack

DEMO = "79160000001"
ENGLISH = "79160000002"
OTHER = "79160000003"


async def test_each_centre_is_answered_on_its_own_link_and_sms_go_to_the_named_smsc(
        tmp_path: Path) -> None:
    second, smsc = gateway_simulator(), gateway_simulator()
    await second.start()
    await smsc.start()

    def three_links(raw: dict[str, Any]) -> None:
        first = raw["smpp"]["connections"][0]
        raw["smpp"]["connections"] += [dict(first, name="ussdc-2", port=second.port),
                                       dict(first, name="smsc", port=smsc.port)]
        raw["sms"]["connection"] = "smsc"

    try:
        async with running_stack(tmp_path, three_links) as stack:
            assert await second.wait_bound(15) and await smsc.wait_bound(15)
            here = await stack.simulator.dial(DEMO, "*100#")
            there = await second.dial(ENGLISH, "*100#")
            assert "150,75" in here.screens[0]  # Russian, from the first centre
            assert there.screens[0].startswith("Your balance")  # English, from the second

            password = await second.dial(OTHER, "*111*25#")
            assert password.session_ended
            [sms] = await smsc.wait_for_sms(OTHER, 1, timeout=15)
            assert "password" in sms.text.lower() or "пароль" in sms.text.lower()
            # the SMS went to the SMSC only, not to either USSD centre
            assert stack.simulator.inbox(OTHER) == [] and second.inbox(OTHER) == []
    finally:
        await second.stop()
        await smsc.stop()
