"""PDU fuzzing of both SMPP roles over real loopback sockets (extends test_smpp_server_fuzz,
which mutates submit_sm against the SMSC role, and tests/peers + test_smpp_tlv).

- The ESME role (``EsmeClient`` bound to a hand-made SMSC) gets mutated deliver_sm,
  receipts, enquire_link and data_sm: every request is answered exactly once, with its
  ``_resp`` or a generic_nack carrying the request's sequence number, and the link stays up.
- Both roles get random byte streams: they never crash, and a link whose header was
  unusable is closed (the ESME redials), after which they serve a proper request again.
- A huge command_length is never allocated: the link is closed before the body is read,
  and the process' memory does not grow by the claimed size.

``USSD_LONG_TESTS=1`` runs many more examples (nightly).
"""

from __future__ import annotations

import asyncio
import os
import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smpp.client import EsmeClient
from smpp.codec import DEFAULT_MAX_PDU
from smpp.server import SmscServer, SmscSettings
from smpp.ussd import UssdReply, UssdRequest
from tests.peers.esme import RawEsme, ussd_submit
from tests.peers.raw import pdu as raw_pdu
from tests.smscs import pdus
from tests.smscs.base import ScriptedSmsc, SmscConnection
from tests.test_smpp_client import Menu, ussd_request
from tests.test_smpp_client import settings as esme_settings
from tests.test_smpp_server_fuzz import REQUEST_IDS as SERVER_REQUEST_IDS
from tests.test_smpp_server_fuzz import SEEDS as SERVER_SEEDS

LONG = os.environ.get("USSD_LONG_TESTS") == "1"
EXAMPLES = 1000 if LONG else 60
FUZZED = 1000
WAIT = 10.0
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

RECEIPT = pdus.deliver_sm(
    FUZZED, "79161234567", "Operator",
    b"id:0a1b sub:001 dlvrd:001 submit date:2511250700 done date:2511250701 stat:DELIVRD "
    b"err:000 text:", esm_class=0x04,
    tlvs=pdus.tlv(pdus.TAG_RECEIPTED_MESSAGE_ID, b"0a1b\x00")
    + pdus.tlv(pdus.TAG_MESSAGE_STATE, b"\x02"))
ESME_SEEDS = [
    pdus.deliver_sm(FUZZED, "79161234567", "111", b"*111*25#",
                    tlvs=pdus.tlv(0x0501, b"\x01") + pdus.tlv(0x1383, b"\x81\x00")),
    pdus.deliver_sm(FUZZED, "79161234567", "111", b"1",
                    tlvs=pdus.tlv(0x0501, b"\x12") + pdus.tlv(0x1383, b"\x81\x02")),
    pdus.deliver_sm(FUZZED, "79161234567", "111", b"", data_coding=8,
                    tlvs=pdus.tlv(pdus.TAG_MESSAGE_PAYLOAD, "Да".encode("utf-16-be"))
                    + pdus.tlv(0x0501, b"\x11") + pdus.tlv(0x0204, b"\x00\x07")),
    RECEIPT,
    pdus.pack(pdus.ENQUIRE_LINK, FUZZED),
    pdus.pack(0x103, FUZZED, b"\x00\x01\x0179161234567\x00\x00\x00111\x00\x00\x00\x00"),
]
# requests an SMSC may send to an ESME, and some it should not (bind, submit_sm)
ESME_REQUEST_IDS = [0x05, 0x15, 0x103, 0x04, 0x09, 0x03, 0x08, 0x0B, 0x21, 0x102]
UNBIND = 0x06
WITHOUT_RESPONSE = frozenset({0x0B, 0x102})  # outbind, alert_notification (SMPP 3.4 4.1.7, 4.12)


def tlv_mutation(draw: Any) -> bytes:
    """A TLV that lies: wrong length, an empty value, a USSD tag with odd values."""
    tag = draw(st.sampled_from([0x0501, 0x1383, 0x0204, 0x0424, 0x001E, 0x0427,
                                draw(st.integers(0, 0xFFFF))]))
    value: bytes = draw(st.binary(max_size=6))
    length = draw(st.one_of(st.just(len(value)), st.integers(0, 0xFFFF)))
    return struct.pack("!HH", tag, length) + value


@st.composite
def mutated(draw: Any, seeds: list[bytes], request_ids: list[int],
            excluded: frozenset[int]) -> tuple[int, bytes]:
    seed = draw(st.sampled_from(seeds))
    body = bytearray(seed[16:])
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["flip", "delete", "insert", "truncate", "tlv"]))
        where = draw(st.integers(0, max(len(body), 1)))
        if kind == "flip" and where < len(body):
            body[where] = draw(st.integers(0, 255))
        elif kind == "delete" and where < len(body):
            del body[where]
        elif kind == "insert":
            body[where:where] = draw(st.binary(min_size=1, max_size=4))
        elif kind == "truncate":
            del body[where:]
        elif kind == "tlv":
            body += tlv_mutation(draw)
    command_id = draw(st.one_of(
        st.just(struct.unpack_from("!I", seed, 4)[0]),
        st.sampled_from(request_ids),
        st.integers(0, 0xFFFFFFFF).filter(lambda c: c not in excluded),
    ))
    status = draw(st.sampled_from([0, 0, 0x58, 0xFFFFFFFF]))
    return command_id, pdus.pack(command_id, FUZZED, bytes(body), status)


def collect_loop_errors() -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: errors.append(ctx))
    return errors


# --- the ESME role --------------------------------------------------------------------


class EsmeHarness:
    """One client bound to one hand-made SMSC for a whole Hypothesis run (binding afresh
    for every example would cost half a second each)."""

    def __init__(self) -> None:
        self.smsc = ScriptedSmsc()
        self.client: EsmeClient | None = None
        self.errors: list[dict[str, Any]] = []

    async def start(self) -> EsmeHarness:
        self.errors = collect_loop_errors()
        await self.smsc.start()
        self.client = EsmeClient(esme_settings(self.smsc.port, reconnect_min=0.01,
                                               reconnect_max=0.02), Menu())
        await self.client.start()
        assert await self.client.wait_bound(WAIT)
        return self

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.stop()
        await self.smsc.stop()

    async def live_link(self) -> SmscConnection:
        await self.smsc.wait_for(self._has_live_link, WAIT)
        return self.smsc.bound_connection

    def _has_live_link(self) -> bool:
        return any(c.bound and not c.closed.is_set() for c in self.smsc.connections)

    async def still_serves(self) -> None:
        await self.smsc.deliver(ussd_request("*111#", 1, b"\x7e\x00", "79990000000"))
        while True:
            screen = await asyncio.wait_for(self.smsc.submits.get(), WAIT)
            if screen.destination == "79990000000":
                assert screen.text == "1 Balance\n2 Password"
                return


async def esme_exchange(harness: EsmeHarness, command_id: int, raw: bytes) -> None:
    link = await harness.live_link()
    harness.smsc.unsolicited.clear()
    if command_id & 0x80000000 or command_id in WITHOUT_RESPONSE:
        link.send(raw)  # a response, outbind or alert_notification: no answer is due
    else:
        answer = await link.request(raw, WAIT)
        _, answer_id, _, sequence = pdus.header(answer)
        assert sequence == FUZZED
        assert answer_id in (command_id | 0x80000000, pdus.GENERIC_NACK), hex(answer_id)
    # two markers in a row: any duplicate answer to the fuzzed PDU arrives before them
    for marker in (0x7FFFFFF0, 0x7FFFFFF1):
        await link.request(pdus.pack(pdus.ENQUIRE_LINK, marker), WAIT)
    duplicates = [p for p in harness.smsc.unsolicited if pdus.header(p)[3] == FUZZED]
    if command_id & 0x80000000:
        assert not duplicates, duplicates  # never answer a response
    else:
        assert len(duplicates) <= int(command_id in WITHOUT_RESPONSE), duplicates
    assert not link.closed.is_set(), "the link was dropped for a PDU the spec lets it answer"


def test_esme_answers_every_mutated_request_once_and_keeps_the_link() -> None:
    with asyncio.Runner() as runner:
        harness = runner.run(EsmeHarness().start())

        @FUZZ
        @given(mutated(ESME_SEEDS, ESME_REQUEST_IDS, frozenset({UNBIND})))
        def exchange(case: tuple[int, bytes]) -> None:
            runner.run(asyncio.wait_for(esme_exchange(harness, *case), 30))

        try:
            exchange()
            runner.run(harness.still_serves())
            assert harness.smsc.binds == 1
        finally:
            runner.run(harness.stop())
        assert not harness.errors, harness.errors


def frame(stream: bytes, max_pdu: int) -> tuple[list[tuple[int, int]], bool, bytes]:
    """Read ``stream`` the way SMPP framing must: the (command_id, sequence) of each whole
    PDU, whether a header was unusable (the link must then close), and the zeros that
    complete a PDU cut short at the end."""
    found: list[tuple[int, int]] = []
    at = 0
    while len(stream) - at >= 16:
        length, command_id, _, sequence = struct.unpack_from("!IIII", stream, at)
        if not 16 <= length <= max_pdu:
            return found, True, b""
        if at + length > len(stream):
            return found, False, b"\x00" * (at + length - len(stream))
        found.append((command_id, sequence))
        at += length
    return found, False, b"\x00" * ((16 - (len(stream) - at)) % 16)


def aligned(garbage: bytes, max_pdu: int) -> tuple[bytes, list[tuple[int, int]], bool]:
    """``garbage`` completed with zeros up to a PDU boundary, its PDUs, and whether a
    header in it is unusable."""
    stream = garbage
    for _ in range(2):  # a partial header first, then a partial body
        found, unusable, padding = frame(stream, max_pdu)
        stream += padding
    return stream, found, unusable


async def esme_random_bytes(harness: EsmeHarness, garbage: bytes) -> None:
    link = await harness.live_link()
    stream, pdus_in, unusable = aligned(garbage, DEFAULT_MAX_PDU)
    link.send(stream)
    if unusable:
        # the client must drop the link without waiting for a body (it then redials)
        await asyncio.wait_for(link.closed.wait(), WAIT)
        return
    try:
        await link.request(pdus.pack(pdus.ENQUIRE_LINK, 0x7FFFFFF0), WAIT)
    except (TimeoutError, ConnectionError):
        pass
    if link.closed.is_set():
        assert any(command_id == UNBIND for command_id, _ in pdus_in), (
            f"dropped after {pdus_in}")


@st.composite
def framed_garbage(draw: Any) -> bytes:
    """One to three PDUs with usable headers and random everything else: each redial
    costs the client about a second, so unusable headers get their own few cases below."""
    stream = b""
    for _ in range(draw(st.integers(1, 3))):
        command_id = draw(st.one_of(st.sampled_from([*ESME_REQUEST_IDS, 0x80000004, 0x80000000]),
                                    st.integers(0, 0xFFFFFFFF)).filter(lambda c: c != UNBIND))
        body = draw(st.binary(max_size=300))
        stream += struct.pack("!IIII", 16 + len(body), command_id, draw(st.integers(0, 2**32 - 1)),
                              draw(st.integers(0, 2**32 - 1))) + body
    return stream


def test_esme_survives_random_pdus_from_the_smsc() -> None:
    with asyncio.Runner() as runner:
        harness = runner.run(EsmeHarness().start())

        @FUZZ
        @given(framed_garbage())
        def exchange(garbage: bytes) -> None:
            runner.run(asyncio.wait_for(esme_random_bytes(harness, garbage), 30))

        try:
            exchange()
            runner.run(harness.still_serves())
            assert harness.smsc.binds == 1  # nothing in there was a reason to drop the link
        finally:
            runner.run(harness.stop())
        assert not harness.errors, harness.errors


@pytest.mark.parametrize("garbage", [
    b"\x00" * 16,                                            # command_length 0
    struct.pack("!IIII", 15, 0x05, 0, 1),                     # shorter than a header
    struct.pack("!IIII", DEFAULT_MAX_PDU + 1, 0x05, 0, 1),    # one octet over the cap
    b"GET / HTTP/1.1\r\nHost: smsc\r\n\r\n",                  # not SMPP at all
], ids=["zero-length", "short-length", "over-the-cap", "http"])
def test_esme_drops_a_link_with_an_unusable_header_and_redials(garbage: bytes) -> None:
    with asyncio.Runner() as runner:
        harness = runner.run(EsmeHarness().start())
        try:
            runner.run(esme_random_bytes(harness, garbage))
            runner.run(harness.smsc.wait_binds(2, WAIT))
            runner.run(harness.still_serves())
        finally:
            runner.run(harness.stop())
        assert not harness.errors, harness.errors


# --- the SMSC role --------------------------------------------------------------------


async def echo(request: UssdRequest) -> UssdReply | None:
    return UssdReply(f"Echo {request.text[:50]}", final=request.is_abort)


def smsc_settings(**overrides: Any) -> SmscSettings:
    values: dict[str, Any] = {"name": "gw", "system_id": "ussdc", "password": "secret",
                              "bind_failure_delay": 0.001, "bind_failure_delay_max": 0.01}
    values.update(overrides)
    return SmscSettings(**values)


async def answered(esme: RawEsme, sequence: int) -> bool:
    """True if the link still answers an enquire_link; False once the server closed it."""
    try:
        await esme.send(raw_pdu(0x15, sequence))
        await esme.read_response(sequence)
        return True
    except (asyncio.IncompleteReadError, ConnectionError):
        return False


async def smsc_random_bytes(server: SmscServer, garbage: bytes) -> None:
    esme = await RawEsme.connect(server.port)
    try:
        assert await esme.bind() == 0
        stream, pdus_in, unusable = aligned(garbage, server.settings.max_pdu)
        await esme.send(stream)
        alive = await answered(esme, 0x7FFFFFF0)
        if unusable:
            assert not alive, "a link with an unusable header must be closed"
        elif not any(command_id == UNBIND for command_id, _ in pdus_in):
            assert alive, f"dropped after {pdus_in}"
    finally:
        await esme.close()


def test_smsc_survives_random_bytes() -> None:
    with asyncio.Runner() as runner:
        errors = runner.run(_errors())
        server = SmscServer(smsc_settings(), echo)
        runner.run(server.start())

        @FUZZ
        @given(st.one_of(
            st.binary(min_size=1, max_size=600),
            # a plausible header in front of random bytes reaches into the body parsing
            st.tuples(st.integers(0, 700), st.sampled_from([0x04, 0x05, 0x103, 0x15, 0x09]),
                      st.binary(max_size=600)).map(
                lambda t: struct.pack("!IIII", t[0], t[1], 0, 77) + t[2]),
        ))
        def exchange(garbage: bytes) -> None:
            runner.run(asyncio.wait_for(smsc_random_bytes(server, garbage), 30))

        try:
            exchange()
            runner.run(smsc_still_serves(server))
        finally:
            runner.run(server.stop())
        assert not errors, errors


async def smsc_exchange(server: SmscServer, command_id: int, raw: bytes) -> None:
    esme = await RawEsme.connect(server.port)
    try:
        assert await esme.bind() == 0
        await esme.send(raw)
        answers: list[int] = []
        for marker in (0x7FFFFFF0, 0x7FFFFFF1):
            await esme.send(raw_pdu(0x15, marker))
            while True:  # screens (deliver_sm) are acknowledged by RawEsme.read
                header = (await esme.read()).header
                if not header.command_id & 0x80000000:
                    continue
                if header.sequence_number == marker:
                    break
                assert header.sequence_number == FUZZED, header
                answers.append(header.command_id)
            if answers or command_id & 0x80000000:
                continue
            # requests are answered concurrently: the answer may follow the first marker
            while not answers:
                header = (await esme.read()).header
                if header.command_id & 0x80000000 and header.sequence_number == FUZZED:
                    answers.append(header.command_id)
        expected = 0 if command_id & 0x80000000 else 1
        assert len(answers) == expected, [hex(a) for a in answers]
        if answers:
            assert answers[0] in (command_id | 0x80000000, pdus.GENERIC_NACK)
        assert await answered(esme, 0x7FFFFFF2)  # the link stays up
    finally:
        await esme.close()


def test_smsc_answers_every_mutated_request_with_lying_tlvs_once() -> None:
    """test_smpp_server_fuzz mutates bytes of the body; this adds TLVs whose lengths lie
    and USSD TLVs with odd values, on one long-lived server."""
    with asyncio.Runner() as runner:
        errors = runner.run(_errors())
        server = SmscServer(smsc_settings(), echo)
        runner.run(server.start())

        @FUZZ
        @given(mutated(SERVER_SEEDS, SERVER_REQUEST_IDS, frozenset({UNBIND})))
        def exchange(case: tuple[int, bytes]) -> None:
            runner.run(asyncio.wait_for(smsc_exchange(server, *case), 30))

        try:
            exchange()
            runner.run(smsc_still_serves(server))
        finally:
            runner.run(server.stop())
        assert not errors, errors


async def _errors() -> list[dict[str, Any]]:
    return collect_loop_errors()


async def smsc_still_serves(server: SmscServer) -> None:
    esme = await RawEsme.connect(server.port)
    try:
        assert await esme.bind() == 0
        await esme.send(ussd_submit(2))
        assert (await esme.read_response(2)).header.command_status == 0
    finally:
        await esme.close()


# --- memory: a huge command_length is never allocated -----------------------------------


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def push_until_closed(writer: asyncio.StreamWriter, total: int) -> int:
    """Write zeros until the peer closes (returns what was written) or ``total`` is sent."""
    chunk = b"\x00" * 65536
    sent = 0
    try:
        while sent < total:
            writer.write(chunk)
            await asyncio.wait_for(writer.drain(), WAIT)
            sent += len(chunk)
    except (ConnectionError, TimeoutError):
        pass
    return sent


@pytest.mark.parametrize("claimed", [0x7FFFFFFF, 0xFFFFFFF0, DEFAULT_MAX_PDU + 1])
async def test_smsc_role_closes_before_reading_a_huge_body(claimed: int) -> None:
    server = SmscServer(smsc_settings(), echo)
    await server.start()
    try:
        esme = await RawEsme.connect(server.port)
        assert await esme.bind() == 0
        before = rss_bytes()
        await esme.send(struct.pack("!IIII", claimed, 0x04, 0, 9))
        nack = await esme.read()
        assert (nack.header.command_id, nack.header.sequence_number) == (0x80000000, 9)
        sent = await push_until_closed(esme.writer, 64 << 20)
        assert sent < 64 << 20, "the server kept reading a body it should never accept"
        assert rss_bytes() - before < 16 << 20
        await esme.close()
    finally:
        await server.stop()


async def test_smsc_role_takes_a_pdu_of_exactly_the_maximum() -> None:
    server = SmscServer(smsc_settings(max_pdu=4096), echo)
    await server.start()
    try:
        esme = await RawEsme.connect(server.port)
        assert await esme.bind() == 0
        await esme.send(raw_pdu(0x00000042, 5, b"\x00" * (4096 - 16)))  # unknown, full size
        nack = await esme.read_response(5)
        assert nack.header.command_status == 0x03  # ESME_RINVCMDID, and the link stays
        assert await answered(esme, 6)
        await esme.send(raw_pdu(0x00000042, 7, b"\x00" * (4096 - 15)))  # one octet too many
        assert not await answered(esme, 8)
        await esme.close()
    finally:
        await server.stop()


async def test_esme_role_drops_a_huge_pdu_without_reading_it() -> None:
    smsc = ScriptedSmsc()
    await smsc.start()
    client = EsmeClient(esme_settings(smsc.port), Menu())
    await client.start()
    try:
        assert await client.wait_bound(WAIT)
        link = smsc.bound_connection
        before = rss_bytes()
        link.send(struct.pack("!IIII", 0x7FFFFFFF, pdus.DELIVER_SM, 0, 7))
        sent = await push_until_closed(link.writer, 64 << 20)
        assert sent < 64 << 20
        assert rss_bytes() - before < 16 << 20
        await smsc.wait_binds(2, WAIT)  # and it redials
        assert await client.wait_bound(WAIT)
    finally:
        await client.stop()
        await smsc.stop()
