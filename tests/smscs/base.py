"""A hand-made SMSC over raw bytes on loopback, for driving the ESME client in tests.

It binds ESMEs (checking system_id/password), answers enquire_link and unbind, records
every submit_sm and answers it with a message id, and can push deliver_sm to the bound
ESME and wait for the deliver_sm_resp. Subclasses in ``misbehaving.py`` override one
hook each to break a rule.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools

from tests.smscs import pdus


class SmscConnection:
    """One accepted ESME connection."""

    def __init__(self, smsc: ScriptedSmsc, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.smsc = smsc
        self.reader = reader
        self.writer = writer
        self.bound = False
        self.bind_command = 0
        self.closed = asyncio.Event()
        self._sequence = itertools.count(1)
        self._responses: dict[int, asyncio.Future[bytes]] = {}

    def next_sequence(self) -> int:
        return next(self._sequence)

    def send(self, pdu: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(pdu)

    async def request(self, pdu: bytes, within: float = 5.0) -> bytes:
        """Send a request PDU and wait for the response with the same sequence number."""
        sequence = pdus.header(pdu)[3]
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._responses[sequence] = future
        self.send(pdu)
        try:
            return await asyncio.wait_for(future, within)
        finally:
            self._responses.pop(sequence, None)

    def close(self) -> None:
        self.writer.close()

    def abort(self) -> None:
        """Drop the TCP connection without unbind (an RST, like a crashed SMSC)."""
        self.writer.transport.abort()

    async def serve(self) -> None:
        try:
            while True:
                head = await self.reader.readexactly(16)
                length, command_id, _, sequence = pdus.header(head)
                pdu = head + await self.reader.readexactly(length - 16)
                if command_id & pdus.RESPONSE:
                    future = self._responses.get(sequence)
                    if future is not None and not future.done():
                        future.set_result(pdu)
                    else:
                        self.smsc.unsolicited.append(pdu)
                        await self.smsc._notify()
                    continue
                response = await self.smsc.on_request(self, command_id, sequence, pdu)
                if response is not None:
                    self.send(response)
                if command_id == pdus.UNBIND:
                    await self.writer.drain()
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.writer.close()
            self.closed.set()


class ScriptedSmsc:
    """A well-behaved SMSC; override the ``on_*`` / ``submit_status`` hooks to misbehave."""

    def __init__(self, system_id: str = "gateway", password: str = "secret") -> None:
        self.system_id = system_id
        self.password = password
        self.port = 0
        self.connections: list[SmscConnection] = []
        self.binds = 0
        self.bind_attempts = 0
        self.submits: asyncio.Queue[pdus.ShortMessage] = asyncio.Queue()
        self.enquire_links = 0
        self.unsolicited: list[bytes] = []  # responses to requests the ESME never got
        self._message_ids = itertools.count(1000)
        self._changed = asyncio.Condition()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for connection in self.connections:
            connection.abort()
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = SmscConnection(self, reader, writer)
        self.connections.append(connection)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await connection.serve()
        finally:
            self._tasks.discard(task)
            await self._notify()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, predicate: object, within: float = 10.0) -> None:
        """Wait until ``predicate()`` is true (re-checked on every bind/close)."""
        assert callable(predicate)
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(predicate)

    async def wait_binds(self, count: int, within: float = 10.0) -> None:
        await self.wait_for(lambda: self.binds >= count, within)

    @property
    def bound_connection(self) -> SmscConnection:
        """The newest live bind that may receive deliver_sm (not a transmitter)."""
        return next(
            c
            for c in reversed(self.connections)
            if c.bound and not c.closed.is_set() and c.bind_command != pdus.BIND_TRANSMITTER
        )

    # -- hooks -------------------------------------------------------------------------

    async def on_request(self, connection: SmscConnection, command_id: int, sequence: int,
                         pdu: bytes) -> bytes | None:
        if command_id in pdus.BINDS:
            return await self.on_bind(connection, command_id, sequence, pdu)
        if command_id == pdus.ENQUIRE_LINK:
            self.enquire_links += 1
            return self.on_enquire_link(sequence)
        if command_id == pdus.UNBIND:
            connection.bound = False
            return pdus.pack(pdus.UNBIND | pdus.RESPONSE, sequence)
        if command_id == pdus.SUBMIT_SM:
            message = pdus.parse_short_message(pdu)
            status = self.submit_status(message)
            if status != pdus.ESME_ROK:
                return pdus.pack(pdus.SUBMIT_SM | pdus.RESPONSE, sequence, b"\x00", status)
            await self.submits.put(message)
            message_id = str(next(self._message_ids))
            return pdus.pack(pdus.SUBMIT_SM | pdus.RESPONSE, sequence, pdus.cstring(message_id))
        return pdus.pack(pdus.GENERIC_NACK, sequence, status=pdus.ESME_RINVCMDID)

    async def on_bind(self, connection: SmscConnection, command_id: int, sequence: int,
                      pdu: bytes) -> bytes | None:
        self.bind_attempts += 1
        system_id, password = pdus.bind_credentials(pdu)
        status = self.bind_status(system_id, password)
        response = pdus.pack(command_id | pdus.RESPONSE, sequence, pdus.cstring("smsc"), status)
        if status == pdus.ESME_ROK:
            connection.bound = True
            connection.bind_command = command_id
            self.binds += 1
            connection.send(response)
            await self._notify()
            await self.after_bind(connection)
            return None
        await self._notify()
        return response

    def bind_status(self, system_id: str, password: str) -> int:
        if system_id != self.system_id:
            return pdus.ESME_RBINDFAIL
        if password != self.password:
            return pdus.ESME_RINVPASWD
        return pdus.ESME_ROK

    async def after_bind(self, connection: SmscConnection) -> None:
        """Called right after a successful bind_resp was sent."""

    def on_enquire_link(self, sequence: int) -> bytes | None:
        return pdus.pack(pdus.ENQUIRE_LINK | pdus.RESPONSE, sequence)

    def submit_status(self, message: pdus.ShortMessage) -> int:
        return pdus.ESME_ROK

    # -- driving the ESME ----------------------------------------------------------------

    async def deliver(self, pdu_for_sequence: object, within: float = 5.0) -> bytes:
        """Send a deliver_sm built by ``pdu_for_sequence(seq)``; return the deliver_sm_resp."""
        assert callable(pdu_for_sequence)
        connection = self.bound_connection
        pdu: bytes = pdu_for_sequence(connection.next_sequence())
        return await connection.request(pdu, within)
