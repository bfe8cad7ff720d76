"""The load generator: plays the USSD centre over real loopback SMPP with virtual handsets.

Run as its own process (``python -m bench.loadgen ...``) so it has its own core. It listens as
an SMSC; the system under test binds to it as an ESME. Each virtual handset walks its scenario
one step at a time (closed loop), or dialogues are started at a fixed rate (open loop, for
latency at a given offered load). Prints one JSON object with the figures on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from dataclasses import dataclass, field

from . import pdus

SCENARIOS: dict[str, list[list[str]]] = {
    # each scenario: a list of dialogues, each dialogue a list of texts (first one dialed)
    "balance": [["*100#"]],
    "password": [["*111*25#"]],
    "walk": [["*111#", "828", "1"]],
    "toggle": [["*111*828*1#"], ["*111*828*0#"]],
    "echo": [["*100#"]],
}


@dataclass
class Figures:
    steps: int = 0
    dialogues: int = 0
    sms: int = 0
    timeouts: int = 0
    unexpected: int = 0
    latencies: list[float] = field(default_factory=list)


class SmscConnection(asyncio.Protocol):
    def __init__(self, generator: LoadGenerator) -> None:
        self.generator = generator
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.sequence = 0
        self.bound = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.generator.connections.discard(self)

    def next_sequence(self) -> int:
        self.sequence = self.sequence % 0x7FFFFFFF + 1
        return self.sequence

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        while len(buffer) >= 16:
            length, command_id, _status, sequence = pdus.HEADER.unpack_from(buffer)
            if len(buffer) < length:
                return
            body = bytes(buffer[16:length])
            del buffer[:length]
            self.handle(command_id, sequence, body)

    def handle(self, command_id: int, sequence: int, body: bytes) -> None:
        assert self.transport is not None
        write = self.transport.write
        if command_id == pdus.SUBMIT_SM:
            write(pdus.response(command_id, sequence, b"m%d\x00" % sequence))
            destination, op, message = pdus.parse_submit_sm(body)
            self.generator.on_submit(destination, op, message)
        elif command_id in (pdus.BIND_TRANSCEIVER, pdus.BIND_TRANSMITTER, pdus.BIND_RECEIVER):
            write(pdus.response(command_id, sequence, b"loadgen\x00"))
            self.generator.connections.add(self)
            self.generator.bound.set()
        elif command_id == pdus.ENQUIRE_LINK:
            write(pdus.response(command_id, sequence, b""))
        elif command_id == pdus.UNBIND:
            write(pdus.response(command_id, sequence, b""))
            self.transport.close()
        elif not command_id & pdus.RESP:
            write(pdus.pdu(pdus.GENERIC_NACK, sequence, status=3))

    def send_request(self, msisdn: str, text: str, *, begin: bool, session: int,
                     dialogue_seq: int) -> None:
        assert self.transport is not None
        op = pdus.PSSR_INDICATION if begin else pdus.USSR_CONFIRM
        body = pdus.deliver_sm_body(msisdn, text, op=op, session=session,
                                    dialogue_seq=dialogue_seq)
        self.transport.write(pdus.pdu(pdus.DELIVER_SM, self.next_sequence(), body))


class LoadGenerator:
    def __init__(self, scenario: str, handsets: int, msisdn_base: int, step_timeout: float) -> None:
        self.dialogues = SCENARIOS[scenario]
        self.handsets = handsets
        self.msisdn_base = msisdn_base
        self.step_timeout = step_timeout
        self.connections: set[SmscConnection] = set()
        self.bound = asyncio.Event()
        self.waiting: dict[str, asyncio.Future[tuple[int | None, bytes]]] = {}
        self.figures = Figures()
        self.recording = False

    def on_submit(self, destination: str, op: int | None, message: bytes) -> None:
        if op is None:
            if self.recording:
                self.figures.sms += 1
            return
        future = self.waiting.pop(destination, None)
        if future is not None and not future.done():
            future.set_result((op, message))
        elif self.recording:
            self.figures.unexpected += 1

    def connection(self, index: int) -> SmscConnection:
        connections = list(self.connections)
        return connections[index % len(connections)]

    async def dialogue(self, handset: int, dialogue: list[str]) -> bool:
        msisdn = str(self.msisdn_base + handset)
        loop = asyncio.get_running_loop()
        for step, text in enumerate(dialogue):
            future: asyncio.Future[tuple[int | None, bytes]] = loop.create_future()
            self.waiting[msisdn] = future
            started = time.perf_counter()
            self.connection(handset).send_request(msisdn, text, begin=step == 0,
                                                  session=handset, dialogue_seq=step)
            try:
                await asyncio.wait_for(future, self.step_timeout)
            except TimeoutError:
                self.waiting.pop(msisdn, None)
                if self.recording:
                    self.figures.timeouts += 1
                return False
            if self.recording:
                self.figures.steps += 1
                self.figures.latencies.append(time.perf_counter() - started)
        if self.recording:
            self.figures.dialogues += 1
        return True

    async def closed_loop(self, duration: float, warmup: float) -> None:
        deadline = time.perf_counter() + warmup + duration

        async def handset_loop(handset: int) -> None:
            turn = 0
            while time.perf_counter() < deadline:
                await self.dialogue(handset, self.dialogues[turn % len(self.dialogues)])
                turn += 1

        tasks = [asyncio.create_task(handset_loop(h)) for h in range(self.handsets)]
        await asyncio.sleep(warmup)
        print(json.dumps({"phase": "recording"}), flush=True)
        self.recording = True
        started = time.perf_counter()
        await asyncio.gather(*tasks)
        self.recording = False
        self.elapsed = time.perf_counter() - started
        print(json.dumps({"phase": "done"}), flush=True)

    async def open_loop(self, rate: float, duration: float) -> None:
        free = list(range(self.handsets))
        busy: set[asyncio.Task[bool]] = set()
        interval = 1.0 / rate
        print(json.dumps({"phase": "recording"}), flush=True)
        self.recording = True
        started = time.perf_counter()
        next_at = started
        turn = 0
        while next_at < started + duration:
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            next_at += interval
            if not free:
                self.figures.timeouts += 1  # offered but no idle handset: counted as lost
                continue
            handset = free.pop()
            dialogue = self.dialogues[turn % len(self.dialogues)]
            turn += 1
            task = asyncio.create_task(self.dialogue(handset, dialogue))
            busy.add(task)
            task.add_done_callback(lambda t, h=handset: (busy.discard(t), free.append(h)))
        if busy:
            await asyncio.wait(busy)
        self.recording = False
        self.elapsed = time.perf_counter() - started
        print(json.dumps({"phase": "done"}), flush=True)


def summary(figures: Figures, elapsed: float) -> dict[str, object]:
    latencies = sorted(figures.latencies)

    def percentile(p: float) -> float | None:
        if not latencies:
            return None
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 3)

    return {
        "steps": figures.steps,
        "dialogues": figures.dialogues,
        "sms": figures.sms,
        "timeouts": figures.timeouts,
        "unexpected": figures.unexpected,
        "elapsed_s": round(elapsed, 3),
        "steps_per_s": round(figures.steps / elapsed, 1) if elapsed else 0.0,
        "p50_ms": percentile(0.50),
        "p95_ms": percentile(0.95),
        "p99_ms": percentile(0.99),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 3) if latencies else None,
    }


async def main_async(args: argparse.Namespace) -> dict[str, object]:
    generator = LoadGenerator(args.scenario, args.handsets, args.msisdn_base, args.step_timeout)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SmscConnection(generator), args.host, args.port)
    port = server.sockets[0].getsockname()[1]
    print(json.dumps({"listening": port}), flush=True)
    try:
        await asyncio.wait_for(generator.bound.wait(), args.bind_timeout)
        if args.rate:
            await generator.open_loop(args.rate, args.duration)
        else:
            await generator.closed_loop(args.duration, args.warmup)
        return summary(generator.figures, generator.elapsed)
    finally:
        server.close()
        for connection in list(generator.connections):
            if connection.transport is not None:
                connection.transport.write(pdus.pdu(pdus.UNBIND, connection.next_sequence()))


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="balance")
    parser.add_argument("--handsets", type=int, default=200)
    parser.add_argument("--msisdn-base", type=int, default=79990000000)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--rate", type=float, default=0.0, help="dialogues/s (0 = closed loop)")
    parser.add_argument("--step-timeout", type=float, default=5.0)
    parser.add_argument("--bind-timeout", type=float, default=30.0)
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args(sys.argv[1:])
    try:
        import uvloop  # type: ignore[import-not-found]

        uvloop.install()
    except ImportError:
        pass
    result = asyncio.run(main_async(args))
    print(json.dumps({"result": result}), flush=True)


if __name__ == "__main__":
    main()
