"""A TCP proxy on loopback that can cut every connection through it, like an SMSC that drops
the link, and refuse new ones for a while, like an SMSC that is down."""

from __future__ import annotations

import asyncio
import contextlib
import struct


class CuttingProxy:
    """Forwards 127.0.0.1:<port> to 127.0.0.1:<target_port> until told to cut."""

    def __init__(self, target_port: int = 0) -> None:
        self.target_port = target_port
        self.port = 0
        self.accepted = 0
        self.cuts = 0
        self.refusing = False
        # command_ids of PDUs from the target that are swallowed (e.g. 0x80000004: the
        # SMSC accepted a submit_sm, but its resp never reaches the gateway)
        self.swallow: frozenset[int] = frozenset()
        self.swallowed = 0
        self.refused_at: list[float] = []  # loop time of each connection refused
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
        for source, sink, filtered in ((reader, up_writer, False), (up_reader, writer, True)):
            pump = self._pump_pdus(source, sink) if filtered else _pump(source, sink)
            task = asyncio.ensure_future(pump)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        def forget(_: object) -> None:
            with contextlib.suppress(ValueError):
                self._pairs.remove(pair)

        task.add_done_callback(forget)


    async def _pump_pdus(self, source: asyncio.StreamReader,
                         sink: asyncio.StreamWriter) -> None:
        """Forward whole SMPP PDUs, leaving out those in ``swallow``."""
        try:
            while True:
                head = await source.readexactly(16)
                length, command_id = struct.unpack_from("!II", head)
                body = await source.readexactly(max(length - 16, 0))
                if command_id in self.swallow:
                    self.swallowed += 1
                    continue
                sink.write(head + body)
                await sink.drain()
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            sink.transport.abort()


async def _pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        sink.transport.abort()
