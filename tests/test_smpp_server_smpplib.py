"""The SMSC role against an SMPP client nobody here wrote: smpplib, over loopback TCP.

smpplib is synchronous, so each client runs in a worker thread while the server runs on
the test's event loop. Every answer is checked byte for byte.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator
from typing import Any

import pytest
import smpplib.client
import smpplib.consts
import smpplib.exceptions

from smpp.server import SmscServer, SmscSettings
from smpp.ussd import UssdReply, UssdRequest
from tests.peers.raw import pdu, sm_body, tlv

MSISDN = "79161234567"
WAIT = 10.0


class RecordingClient(smpplib.client.Client):  # type: ignore[misc]
    """smpplib's client, keeping the raw bytes of every PDU it reads."""

    def __init__(self, port: int) -> None:
        super().__init__("127.0.0.1", port, timeout=WAIT, allow_unknown_opt_params=True)
        self.raw: list[bytes] = []
        self.delivered: list[Any] = []
        self.sent: list[Any] = []
        self.set_message_received_handler(lambda pdu: self.delivered.append(pdu))
        self.set_message_sent_handler(lambda pdu: self.sent.append(pdu))

    def _create_socket(self) -> Any:
        # smpplib writes deliver_sm_resp and the next submit_sm back to back; without
        # TCP_NODELAY, Nagle holds the second until a delayed ACK (40 ms a dialogue).
        raw = super()._create_socket()
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return raw

    def read_pdu(self) -> Any:
        head = self._recv_exact(4)
        length = struct.unpack(">L", head)[0]
        raw = head + self._recv_exact(length - 4)
        self.raw.append(raw)
        parsed = smpplib.smpp.parse_pdu(raw, client=self, allow_unknown_opt_params=True)
        if not parsed.is_error() and parsed.command in smpplib.consts.STATE_SETTERS:
            self.state = smpplib.consts.STATE_SETTERS[parsed.command]
        return parsed

    def dial(self, text: bytes, **tlvs: int) -> bytes:
        """Send one USSD submit_sm; return the raw deliver_sm that answers it."""
        before = len(self.delivered)
        self.send_message(
            source_addr_ton=1, source_addr_npi=1, source_addr=MSISDN,
            dest_addr_ton=0, dest_addr_npi=0, destination_addr="111",
            short_message=text, registered_delivery=0, data_coding=0, **tlvs,
        )
        while len(self.delivered) == before:
            self.read_once()
        return next(raw for raw in reversed(self.raw) if raw[4:8] == b"\x00\x00\x00\x05")


async def menu(request: UssdRequest) -> UssdReply | None:
    if request.is_abort:
        return None
    if request.text == "*111*25#":
        return UssdReply("1 Get password\n2 Help", final=False)
    if request.text == "1":
        return UssdReply("Пароль отправлен в SMS", final=True)
    if request.text == "boom":
        raise RuntimeError("a bug in the menu")
    return UssdReply(f"Echo {request.text}", final=True)


@pytest.fixture(autouse=True)
def smpplib_reads_ussd_service_op_in_deliver_sm(monkeypatch: pytest.MonkeyPatch) -> None:
    # smpplib 2.2.4 knows the TLV for submit_sm but not for deliver_sm (KeyError on
    # parse). Our bytes are checked raw anyway; this only lets smpplib read them too.
    import smpplib.command

    param = smpplib.command.SubmitSM.params["ussd_service_op"]
    monkeypatch.setitem(smpplib.command.DeliverSM.params, "ussd_service_op", param)


@pytest.fixture
async def server() -> AsyncIterator[SmscServer]:
    smsc = SmscServer(SmscSettings(name="gw", system_id="ussdc", password="secret",
                                   bind_failure_delay=0.01), menu)
    await smsc.start()
    yield smsc
    await smsc.stop()


def screen(sequence: int, text: bytes, tlvs: bytes, data_coding: int = 0) -> bytes:
    body = sm_body(text, source=b"111", destination=MSISDN.encode(), source_ton_npi=(0, 0),
                   data_coding=data_coding, tlvs=tlvs)
    return pdu(5, sequence, body.replace(b"\x00\x00" + MSISDN.encode(),
                                         b"\x01\x01" + MSISDN.encode()))


def sequence_of(raw: bytes) -> int:
    return int(struct.unpack_from("!I", raw, 12)[0])


def dialogue(port: int) -> list[bytes]:
    with RecordingClient(port) as client:
        client.connect()
        client.bind_transceiver(system_id="ussdc", password="secret")
        first = client.dial(b"*111*25#", ussd_service_op=1, its_session_info=0x8100)
        second = client.dial(b"1", ussd_service_op=18, its_session_info=0x8102)
        assert [resp.status for resp in client.sent] == [0, 0]
        return [first, second]


async def test_a_dialogue_with_session_numbers_above_127_byte_for_byte(
    server: SmscServer,
) -> None:
    first, second = await asyncio.wait_for(asyncio.to_thread(dialogue, server.port), WAIT * 3)
    assert first == screen(sequence_of(first), b"1 Get password\n2 Help",
                           tlv(0x0501, b"\x02") + tlv(0x1383, b"\x81\x00"))
    assert second == screen(sequence_of(second), "Пароль отправлен в SMS".encode("utf-16-be"),
                            tlv(0x0501, b"\x11") + tlv(0x1383, b"\x81\x03"), data_coding=8)
    assert server.binds_ok == 1 and server.requests == 2 and server.answers_sent == 2


def every_octet(port: int) -> list[bytes]:
    with RecordingClient(port) as client:
        client.connect()
        client.bind_transceiver(system_id="ussdc", password="secret")
        return [client.dial(b"x", ussd_service_op=18, its_session_info=(n << 8) | (n & 0xFE))
                for n in range(256)]


async def test_every_session_number_comes_back_intact(server: SmscServer) -> None:
    answers = await asyncio.wait_for(asyncio.to_thread(every_octet, server.port), WAIT * 6)
    for n, raw in enumerate(answers):
        assert raw.endswith(tlv(0x0501, b"\x11") + tlv(0x1383, bytes((n, (n & 0xFE) | 1))))


def bind_with(port: int, system_id: str, password: str) -> int:
    with RecordingClient(port) as client:
        client.connect()
        try:
            client.bind_transceiver(system_id=system_id, password=password)
        except smpplib.exceptions.PDUError as error:
            return int(error.args[1])
        return 0


async def test_binds_need_the_right_system_id_and_password(server: SmscServer) -> None:
    wrong_password = await asyncio.to_thread(bind_with, server.port, "ussdc", "guess")
    wrong_system = await asyncio.to_thread(bind_with, server.port, "other", "secret")
    assert (wrong_password, wrong_system) == (0x0E, 0x0F)  # ESME_RINVPASWD, ESME_RINVSYSID
    assert server.binds_refused == 2 and server.bind_failures["127.0.0.1"] == 2
    assert await asyncio.to_thread(bind_with, server.port, "ussdc", "secret") == 0
    assert server.binds_ok == 1 and "127.0.0.1" not in server.bind_failures


async def test_binds_from_a_network_not_allowed_are_refused() -> None:
    import ipaddress

    settings = SmscSettings(name="gw", system_id="ussdc", password="secret",
                            allow=(ipaddress.ip_network("10.0.0.0/8"),),
                            bind_failure_delay=0.01)
    smsc = SmscServer(settings, menu)
    await smsc.start()
    try:
        status = await asyncio.to_thread(bind_with, smsc.port, "ussdc", "secret")
        assert status == 0x0D  # ESME_RBINDFAIL
        assert smsc.binds_refused == 1 and smsc.bound_sessions == 0
    finally:
        await smsc.stop()


def failing_request(port: int) -> tuple[int, bytes]:
    with RecordingClient(port) as client:
        client.connect()
        client.bind_transceiver(system_id="ussdc", password="secret")
        client.send_message(source_addr=MSISDN, destination_addr="111", short_message=b"boom",
                            ussd_service_op=18, its_session_info=0x0102, registered_delivery=0)
        client.set_error_pdu_handler(lambda pdu: client.sent.append(pdu))
        client.read_once()
        status = int(client.sent[-1].status)
        # The link stays up: the next request is answered as usual.
        return status, client.dial(b"*100#", ussd_service_op=1, its_session_info=0x0200)


async def test_a_handler_exception_is_a_polite_error_and_the_link_stays_up(
    server: SmscServer,
) -> None:
    status, answer = await asyncio.wait_for(asyncio.to_thread(failing_request, server.port),
                                            WAIT * 3)
    assert status == 0x08  # ESME_RSYSERR
    assert answer.endswith(tlv(0x1383, b"\x02\x01"))
    assert server.handler_errors == 1 and server.answers_sent == 1


def unbind_after_bind(port: int) -> int:
    client = RecordingClient(port)
    client.connect()
    client.bind_transceiver(system_id="ussdc", password="secret")
    response = client.unbind()
    client.disconnect()
    return int(response.status)


async def test_unbind_is_answered(server: SmscServer) -> None:
    assert await asyncio.to_thread(unbind_after_bind, server.port) == 0
