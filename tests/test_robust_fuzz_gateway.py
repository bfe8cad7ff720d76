"""Hostile deliver_sm through the whole gateway: SMPP, dispatcher, menu engine and store.

test_robust_fuzz and test_smpp_server_fuzz mutate PDUs against the SMPP layer alone (a stub
menu, an echo). Here the real gateway (a SQLite file with the demo subscribers, the shipped
menus, memory sessions) is bound as an ESME to a hand-made SMSC, and Hypothesis sends it
dialogues of well-framed deliver_sm with hostile content: random dial strings and replies
(digits, * and #, letters, Cyrillic, empty, far longer than a screen), any data_coding,
text that does not decode in it, odd ussd_service_op and its_session_info values, numbers
that are not numbers. What a USSD centre and a subscriber see:

- every deliver_sm gets exactly one deliver_sm_resp: ROK, except ESME_RINVPARLEN when
  its_session_info is not two octets (SMPP 3.4 5.3.2.44) and possibly ESME_RINVCMDLEN
  when esm_class says a user data header comes first (USSD centres send none);
- every accepted USSD request that is not an abort gets exactly one screen, to its number:
  a polite text that fits one USSD screen, never empty, never a trace or an unfilled
  placeholder, never the "service unavailable" screen of a request that failed inside;
- nothing else gets a screen; the link stays up; nothing is logged at ERROR;
- afterwards ``*100#`` still shows the balance it showed before, and the process' memory
  grew by no more than a generous bound.

``USSD_LONG_TESTS=1`` runs many more dialogues (nightly).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.gateway_stack import stack_config
from tests.smscs import pdus
from tests.smscs.base import ScriptedSmsc
from tests.test_robust_fuzz import collect_loop_errors, rss_bytes
from ussd_gateway.config import GatewayConfig
from ussd_gateway.gateway import Gateway

LONG = os.environ.get("USSD_LONG_TESTS") == "1"
EXAMPLES = 1000 if LONG else 60
WAIT = 15.0
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

DEMO = ["79160000001", "79160000002", "79160000003"]  # the demo subscribers fuzz may use
WITNESS = "79160000004"  # a demo subscriber the fuzz never touches: *100# before and after
MEMORY_GROWTH = 64 << 20  # generous: the run itself needs a few MB
ABORT_OPS = frozenset({16, 17, 19})  # PSSD/PSSR response, USSN confirm: the user hung up
ESME_RINVPARLEN = 0xC2
ESME_RINVCMDLEN = 0x02
UDHI = 0x40
SHORT_MESSAGE_MAX = 254  # longer text goes in message_payload
BAD_WORDS = ("Traceback", 'File "', "Error", "Exception", "None", "{", "}")


@dataclass(frozen=True)
class Step:
    """One deliver_sm of a dialogue, as built; ``op`` / ``session_info`` None: TLV absent."""

    text: bytes
    data_coding: int
    op: int | None
    session_info: bytes | None
    esm_class: int

    @property
    def statuses(self) -> frozenset[int]:
        """The deliver_sm_resp statuses this request may get."""
        if self.session_info is not None and len(self.session_info) != 2:
            return frozenset({ESME_RINVPARLEN})  # its_session_info is two octets
        if self.esm_class & UDHI:
            # aiosmpplib reads only a concatenation header; any other is refused as malformed
            return frozenset({pdus.ESME_ROK, ESME_RINVCMDLEN})
        return frozenset({pdus.ESME_ROK})

    @property
    def wants_screen(self) -> bool:
        """A USSD request (the generic dialect marks them with ussd_service_op; a receipt
        never is one) that is not the subscriber hanging up. Owed only if accepted."""
        if self.op is None or (self.esm_class & 0x3C) == 0x04:
            return False
        ended = self.session_info is not None and len(self.session_info) == 2 and bool(
            self.session_info[1] & 1)
        return self.op not in ABORT_OPS and not ended

    def pdu(self, sequence: int, msisdn: str) -> bytes:
        tlvs = b""
        if self.op is not None:
            tlvs += pdus.tlv(pdus.TAG_USSD_SERVICE_OP, bytes((self.op,)))
        if self.session_info is not None:
            tlvs += pdus.tlv(pdus.TAG_ITS_SESSION_INFO, self.session_info)
        text = self.text
        if len(text) > SHORT_MESSAGE_MAX:
            tlvs += pdus.tlv(pdus.TAG_MESSAGE_PAYLOAD, text)
            text = b""
        return pdus.deliver_sm(sequence, msisdn, "111", text, tlvs=tlvs,
                               esm_class=self.esm_class, data_coding=self.data_coding)


# --- strategies -----------------------------------------------------------------------

T = TypeVar("T")


def mostly(usual: st.SearchStrategy[T], odd: st.SearchStrategy[T]) -> st.SearchStrategy[T]:
    """``usual`` three times in four (and what failures shrink towards)."""
    return st.sampled_from([True, True, True, False]).flatmap(
        lambda ok: usual if ok else odd)


CYRILLIC = "абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ"
MSISDNS = mostly(st.sampled_from(DEMO), st.one_of(
    st.text("0123456789", max_size=20),                       # unknown, short, too long
    st.text("0123456789+#*abcXYZ -", max_size=20),            # not a number at all
))
DIALS = st.one_of(
    st.sampled_from(["*100#", "*111#", "*111*1#", "*111*25#", "*111*828#", "*111*828*1#",
                     "*111*828*0#", "*111*828*9#", "*111*9#", "*111*9*1#", "*100*1#"]),
    st.lists(st.text("0123456789", min_size=1, max_size=7), min_size=1, max_size=6).map(
        lambda parts: "*" + "*".join(parts) + "#"),
)
REPLIES = st.one_of(
    st.sampled_from(["1", "2", "25", "828", "9", "0", "00", "#", "*", "99"]),
    st.text("0123456789", min_size=1, max_size=12),
)
ANY_TEXT = st.one_of(
    st.sampled_from(["", "#", "*", "*#", "##", "**"]),
    st.text("0123456789*#", max_size=30),
    st.text(CYRILLIC + "abcXYZ 0123456789*#.,!?", max_size=60),
    st.text(max_size=40),                                     # any Unicode, emoji included
    st.text("0123456789*#" + CYRILLIC, min_size=161, max_size=1200),  # far over a screen
)
CODINGS = st.one_of(st.sampled_from([0, 1, 3, 6, 8, 0x0F, 0x11, 0x18, 0x48, 0xF0, 0xF4]),
                    st.integers(0, 255))
OPS = st.one_of(st.none(), st.sampled_from([0, 1, 2, 3, 16, 17, 18, 19, 32, 33]),
                st.integers(0, 255))
SESSION_INFOS = st.one_of(
    st.none(),
    st.binary(min_size=2, max_size=2),                       # any session, unit, end bit
    st.binary(max_size=4),                                   # a wrong length now and then
)


def encode(text: str, how: str) -> bytes:
    if how == "ucs2":
        return text.encode("utf-16-be", "surrogatepass")
    if how == "latin-1":
        return text.encode("latin-1", "replace")
    return text.encode("utf-8", "surrogatepass")


@st.composite
def step(draw: Any, session: int, unit: int) -> Step:
    """Half the time framed as a USSD centre would (op 1 first, op 18 after, the dialogue's
    session, GSM or UCS2), with mostly menu-like text; otherwise every field is hostile."""
    if draw(st.booleans()):
        data_coding = draw(st.sampled_from([0, 8]))
        text = draw(mostly(REPLIES if unit else DIALS, ANY_TEXT))
        how = "ucs2" if data_coding == 8 else "latin-1"
        return Step(encode(text, how), data_coding, 1 if unit == 0 else 18,
                    bytes((session, (unit << 1) & 0xFE)), 0)
    data_coding = draw(CODINGS)
    how = draw(st.sampled_from(["ucs2", "latin-1", "utf-8", "bytes"]))
    text_strategy = st.one_of(DIALS, REPLIES, ANY_TEXT)
    text = draw(st.binary(max_size=300)) if how == "bytes" else encode(draw(text_strategy), how)
    return Step(text, data_coding, draw(OPS), draw(SESSION_INFOS),
                draw(st.sampled_from([0, 0x04, 0x40, 0x08, 0x03])))


@st.composite
def dialogues(draw: Any) -> tuple[str, list[Step]]:
    session = draw(st.integers(0, 255))
    count = draw(st.integers(1, 4))
    return draw(MSISDNS), [draw(step(session, unit)) for unit in range(count)]


# --- the gateway under test -----------------------------------------------------------


class ErrorRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class LiveGateway:
    """One real gateway bound to one hand-made SMSC for a whole Hypothesis run."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.smsc = ScriptedSmsc(system_id="gateway", password="demo")
        self.gateway: Gateway | None = None
        self.config: GatewayConfig | None = None
        self.screens: defaultdict[str, asyncio.Queue[pdus.ShortMessage]] = defaultdict(
            asyncio.Queue)
        self.sms: defaultdict[str, list[pdus.ShortMessage]] = defaultdict(list)
        self.loop_errors: list[dict[str, Any]] = []
        self.logged = ErrorRecords()
        self._sorter: asyncio.Task[None] | None = None

    async def start(self) -> LiveGateway:
        self.loop_errors = collect_loop_errors()
        logging.getLogger().addHandler(self.logged)
        await self.smsc.start()
        self.config = stack_config(self.directory, self.smsc.port)
        self.gateway = Gateway(self.config)
        await self.gateway.start()
        await self.smsc.wait_binds(1, WAIT)
        self._sorter = asyncio.create_task(self._sort())
        return self

    async def stop(self) -> None:
        """Stop the gateway first (it answers what it has taken in), then sort what came."""
        try:
            if self.gateway is not None:
                await self.gateway.stop()
            if self._sorter is not None:
                self._sorter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._sorter
            while not self.smsc.submits.empty():
                self._file(self.smsc.submits.get_nowait())
        finally:
            await self.smsc.stop()
            logging.getLogger().removeHandler(self.logged)

    async def send(self, msisdn: str, step: Step) -> bytes:
        return await self.smsc.deliver(lambda sequence: step.pdu(sequence, msisdn), WAIT)

    async def screen(self, msisdn: str) -> pdus.ShortMessage:
        return await asyncio.wait_for(self.screens[msisdn].get(), WAIT)

    async def dial(self, msisdn: str, code: str) -> pdus.ShortMessage:
        response = await self.send(msisdn, Step(code.encode(), 0, 1, b"\x01\x00", 0))
        assert pdus.header(response)[2] == pdus.ESME_ROK
        return await self.screen(msisdn)

    def unavailable_texts(self) -> set[str]:
        assert self.gateway is not None
        return {self.gateway.engine.final_message("service_unavailable", language).text
                for language in ("ru", "en")}

    def fits(self, screen: pdus.ShortMessage) -> bool:
        assert self.config is not None
        limits = self.config.menus
        limit = limits.ucs2_chars if screen.data_coding == 8 else limits.gsm7_chars
        return len(screen.text) <= limit

    @property
    def link_up(self) -> bool:
        return any(c.bound and not c.closed.is_set() for c in self.smsc.connections)

    async def _sort(self) -> None:
        while True:
            self._file(await self.smsc.submits.get())

    def _file(self, message: pdus.ShortMessage) -> None:
        tlvs = message.tlvs
        if pdus.TAG_USSD_SERVICE_OP in tlvs or pdus.TAG_ITS_SESSION_INFO in tlvs:
            self.screens[message.destination].put_nowait(message)
        else:
            self.sms[message.destination].append(message)


async def exchange(live: LiveGateway, msisdn: str, steps: list[Step],
                   unavailable: set[str]) -> None:
    """Send one dialogue, each unit once its answer (if it is owed one) has come."""
    for unit in steps:
        response = await live.send(msisdn, unit)
        _, command_id, status, _ = pdus.header(response)
        assert command_id == pdus.DELIVER_SM | pdus.RESPONSE, hex(command_id)
        assert status in unit.statuses, (hex(status), unit)
        if status != pdus.ESME_ROK or not unit.wants_screen:
            continue
        screen = await live.screen(msisdn)
        text = screen.text
        assert text.strip(), (unit, screen)
        assert not any(word in text for word in BAD_WORDS), (unit, text)
        assert text not in unavailable, (unit, text)
        assert live.fits(screen), (unit, len(text), text)


def test_hostile_dialogues_through_the_real_gateway_get_polite_answers(
        tmp_path: Path) -> None:
    with asyncio.Runner() as runner:
        live = runner.run(LiveGateway(tmp_path).start())
        try:
            balance = runner.run(live.dial(WITNESS, "*100#")).text
            assert re.search(r"\d+,\d\d", balance), balance  # the witness's balance
            unavailable = live.unavailable_texts()
            before = rss_bytes()

            @FUZZ
            @given(dialogues())
            # once refused (ESME_RINVCMDLEN) and lost: Shift-JIS / ISO-2022-JP text that
            # does not decode; now read with U+FFFD and answered like any unknown request
            @example(("79160000002", [Step(b"\x80", 9, 1, b"\x01\x00", 0)]))
            @example(("79160000002", [Step(b"\x1b$B\xff", 5, 1, b"\x02\x00", 0)]))
            def dialogue(case: tuple[str, list[Step]]) -> None:
                msisdn, steps = case
                runner.run(asyncio.wait_for(exchange(live, msisdn, steps, unavailable), 60))
                assert live.link_up

            dialogue()
            grown = rss_bytes() - before
            assert runner.run(live.dial(WITNESS, "*100#")).text == balance
            assert grown < MEMORY_GROWTH, f"memory grew by {grown >> 20} MB"
            assert live.smsc.binds == 1 and live.link_up
        finally:
            runner.run(live.stop())
        extra = {m: q.qsize() for m, q in live.screens.items() if q.qsize()}
        assert not extra, f"screens nobody was owed: {extra}"
        assert not live.smsc.unsolicited, "a deliver_sm was answered twice"
        assert not live.loop_errors, live.loop_errors
        assert not live.logged.records, [r.getMessage() for r in live.logged.records]
