"""A raw-socket ESME that can misbehave on purpose: it sends whatever bytes it is told to.

Building blocks for the misbehaving-ESME tests: garbage, huge command_length, unknown
commands, truncated bodies, silence on enquire_link, a reader that never reads.
"""

from __future__ import annotations

import asyncio
import socket
import struct

from smpp.codec import DecodedPdu, decode_pdu
from tests.peers.raw import pdu, submit_sm, tlv

WAIT = 10.0
BIND_TRANSCEIVER = 0x09
ENQUIRE_LINK = 0x15
DELIVER_SM = 0x05


def bind_body(system_id: str, password: str) -> bytes:
    # system_id, password, system_type (empty), interface_version 3.4, TON, NPI, range
    return system_id.encode() + b"\x00" + password.encode() + b"\x00" + b"\x00\x34\x00\x00\x00"


def ussd_submit(sequence: int, text: bytes = b"*100#", op: int = 1,
                session: bytes = b"\x81\x00") -> bytes:
    return submit_sm(sequence, text, tlvs=tlv(0x0501, bytes((op,))) + tlv(0x1383, session))


class RawEsme:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int, receive_buffer: int | None = None) -> RawEsme:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        reader, writer = await asyncio.open_connection(sock=sock)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def read(self, answer_deliveries: bool = True) -> DecodedPdu:
        """The next PDU from the server; deliver_sm are acknowledged and returned too."""
        async with asyncio.timeout(WAIT):
            head = await self.reader.readexactly(16)
            length = struct.unpack_from("!I", head)[0]
            raw = head + await self.reader.readexactly(length - 16)
        decoded = decode_pdu(raw)
        if answer_deliveries and decoded.header.command_id == DELIVER_SM:
            await self.send(pdu(0x80000005, decoded.header.sequence_number, b"\x00"))
        return decoded

    async def read_response(self, sequence: int) -> DecodedPdu:
        """Skip server requests (answering deliveries) until the response to ``sequence``."""
        while True:
            decoded = await self.read()
            if decoded.header.command_id & 0x80000000 and (
                decoded.header.sequence_number == sequence
            ):
                return decoded

    async def bind(self, system_id: str = "ussdc", password: str = "secret") -> int:
        await self.send(pdu(BIND_TRANSCEIVER, 1, bind_body(system_id, password)))
        return (await self.read_response(1)).header.command_status

    async def closed_by_server(self) -> bool:
        """True once the server has closed the connection (everything unread is skipped)."""
        async with asyncio.timeout(WAIT):
            try:
                while await self.reader.read(65536):
                    pass
            except ConnectionResetError:
                pass  # aborted rather than closed: just as gone
        return True

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass
