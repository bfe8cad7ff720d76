"""A TCP proxy on loopback that can cut every connection through it, like an SMSC that drops
the link, refuse new ones for a while, like an SMSC that is down, and lose or delay chosen
SMPP PDUs, like a congested or lossy path."""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Callable

PduFilter = Callable[[bytes], bool]


class CuttingProxy:
    """Forwards 127.0.0.1:<port> (the gateway's side) to 127.0.0.1:<target_port>."""

    def __init__(self, target_port: int = 0) -> None:
        self.target_port = target_port
        self.port = 0
        self.accepted = 0
        self.cuts = 0
        self.refusing = False
        self.refused_at: list[float] = []  # loop time of each connection refused
        # command_ids of PDUs from the target that are lost (e.g. 0x80000004: the SMSC
        # accepted a submit_sm, but its resp never reaches the gateway)
        self.swallow: frozenset[int] = frozenset()
        self.swallowed = 0
        # command_ids of PDUs towards the target that wait in ``held`` until release()
        self.hold: frozenset[int] = frozenset()
        # or the PDUs towards the target this says yes to (e.g. SMS but not USSD screens)
        self.hold_if: PduFilter | None = None
        self.held: list[tuple[asyncio.StreamWriter, bytes]] = []
        # PDUs towards the target this says yes to wait ``delay`` seconds each, in line on
        # their connection (an SMSC that takes its time over every SMS)
        self.delay_if: PduFilter | None = None
        self.delay = 0.0
        self._server: asyncio.Server | None = None
        self._pairs: list[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self.cut()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def cut(self) -> int:
        """Abort every live connection on both sides (an RST, no unbind); how many."""
        pairs, self._pairs = self._pairs, []
        for client, upstream in pairs:
            client.transport.abort()
            upstream.transport.abort()
        self.cuts += len(pairs)
        return len(pairs)

    def release(self, count: int | None = None) -> int:
        """Deliver the first ``count`` held PDUs (all of them, and stop holding, when
        ``count`` is None), in order; returns how many reached a live connection."""
        if count is None:
            self.hold, self.hold_if = frozenset(), None
            count = len(self.held)
        released, self.held = self.held[:count], self.held[count:]
        delivered = 0
        for sink, pdu in released:
            if not sink.is_closing():
                sink.write(pdu)
                delivered += 1
        return delivered

    @property
    def live(self) -> int:
        return len(self._pairs)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            self.refused_at.append(asyncio.get_running_loop().time())
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self.accepted += 1
        pair = (writer, up_writer)
        self._pairs.append(pair)
        for source, sink, upwards in ((reader, up_writer, True), (up_reader, writer, False)):
            task = asyncio.ensure_future(self._pump(source, sink, upwards))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        def forget(_: object) -> None:
            with contextlib.suppress(ValueError):
                self._pairs.remove(pair)

        task.add_done_callback(forget)

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter,
                    upwards: bool) -> None:
        """Forward whole SMPP PDUs, losing or holding the chosen ones."""
        try:
            while True:
                head = await source.readexactly(16)
                length, command_id = struct.unpack_from("!II", head)
                pdu = head + await source.readexactly(max(length - 16, 0))
                if not upwards and command_id in self.swallow:
                    self.swallowed += 1
                    continue
                if upwards and (command_id in self.hold
                                or (self.hold_if is not None and self.hold_if(pdu))):
                    self.held.append((sink, pdu))
                    continue
                if upwards and self.delay_if is not None and self.delay_if(pdu):
                    await asyncio.sleep(self.delay)
                sink.write(pdu)
                await sink.drain()
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            sink.transport.abort()
