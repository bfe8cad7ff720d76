"""The load generator: plays the USSD centre over real loopback SMPP with virtual handsets.

Run as its own process (``python -m bench.loadgen ...``) so it has its own core. It listens as
an SMSC; the system under test binds to it as an ESME. Each virtual handset walks its scenario
one step at a time (closed loop: throughput at saturation); then, with ``--open-fraction``,
dialogues are started at that fraction of the measured saturation rate (open loop: latency at
a fixed offered load). Every answer is checked (op 2/17 and the expected screen); a wrong one
is counted, never timed. Prints JSON lines on stdout: {"listening": port}, {"phase":
"recording", "mode": ...}, {"phase": "done", "mode": ...} and finally {"result": {...}}.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import cast

from . import pdus
from .scenarios import SCENARIOS, Dialogue, marker_bytes

RETRY_DELAY = 0.005  # seconds before a request refused with ESME_RTHROTTLED is sent again


@dataclass
class Figures:
    steps: int = 0
    dialogues: int = 0
    sms: int = 0
    timeouts: int = 0
    wrong: int = 0
    unexpected: int = 0
    throttled: int = 0
    latencies: list[float] = field(default_factory=list)


class SmscConnection(asyncio.Protocol):
    def __init__(self, generator: LoadGenerator) -> None:
        self.generator = generator
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.sequence = 0
        self.in_flight: dict[int, bytes] = {}  # deliver_sm sent, no deliver_sm_resp yet

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not derive from asyncio.Transport, but behave as one.
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.generator.connections.discard(self)

    def next_sequence(self) -> int:
        self.sequence = self.sequence % 0x7FFFFFFF + 1
        return self.sequence

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        while len(buffer) >= 16:
            length, command_id, status, sequence = pdus.HEADER.unpack_from(buffer)
            if len(buffer) < length:
                return
            body = bytes(buffer[16:length])
            del buffer[:length]
            self.handle(command_id, status, sequence, body)

    def handle(self, command_id: int, status: int, sequence: int, body: bytes) -> None:
        assert self.transport is not None
        write = self.transport.write
        if command_id == pdus.DELIVER_SM_RESP:
            request = self.in_flight.pop(sequence, None)
            if request is not None and status in pdus.RETRY_LATER:
                # The gateway's window is full: resend a little later, as a USSD centre would.
                self.generator.on_throttled()
                asyncio.get_running_loop().call_later(RETRY_DELAY, self.send_request, request)
        elif command_id == pdus.SUBMIT_SM:
            write(pdus.response(command_id, sequence, b"m%d\x00" % sequence))
            self.generator.on_submit(pdus.parse_submit_sm(body))
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

    def send_request(self, body: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        sequence = self.next_sequence()
        self.in_flight[sequence] = body
        self.transport.write(pdus.pdu(pdus.DELIVER_SM, sequence, body))


class LoadGenerator:
    def __init__(self, scenario: str, handsets: int, subscribers: int, msisdn_base: int,
                 step_timeout: float) -> None:
        self.dialogues = SCENARIOS[scenario]
        self.markers = {step.marker: marker_bytes(step.marker)
                        for dialogue in self.dialogues for step in dialogue}
        self.handsets = handsets
        # Each handset dials as a rotating set of subscribers (never one another's), so no
        # subscriber dials many times a second and per-subscriber rate limits stay realistic.
        self.rounds = max(1, subscribers // handsets)
        self.turns = [0] * handsets
        self.msisdn_base = msisdn_base
        self.step_timeout = step_timeout
        self.connections: set[SmscConnection] = set()
        self.bound = asyncio.Event()
        self.waiting: dict[str, asyncio.Future[pdus.Answer]] = {}
        self.bodies: dict[tuple[str, int, int, int], bytes] = {}
        self.dialogue_ids: dict[str, int] = {}
        self.figures = Figures()
        self.recording = False
        self.elapsed = 0.0
        # Across all phases, warm-up included: what the store must hold afterwards.
        self.total_dialogues = 0
        self.total_sms = 0

    def on_submit(self, answer: pdus.Answer) -> None:
        if answer.op is None:
            self.total_sms += 1
            if self.recording:
                self.figures.sms += 1
            return
        future = self.waiting.pop(answer.destination, None)
        if future is not None and not future.done():
            future.set_result(answer)
        elif self.recording:
            self.figures.unexpected += 1

    def on_throttled(self) -> None:
        if self.recording:
            self.figures.throttled += 1

    def connection(self, index: int) -> SmscConnection:
        connections = list(self.connections)
        return connections[index % len(connections)]

    def request_body(self, msisdn: str, dialogue: Dialogue, step: int, session: int) -> bytes:
        # Pre-encoded once per (subscriber, dialogue step): the generator must stay cheap.
        key = (msisdn, id(dialogue), step, session)
        body = self.bodies.get(key)
        if body is None:
            op = pdus.PSSR_INDICATION if step == 0 else pdus.USSR_CONFIRM
            body = pdus.deliver_sm_body(msisdn, dialogue[step].text, op=op, session=session,
                                        dialogue_seq=step)
            self.bodies[key] = body
        return body

    def is_expected(self, dialogue: Dialogue, step: int, session: int,
                    answer: pdus.Answer) -> bool:
        """The generic dialect's answer: op 2 or 17 as the step expects, its_session_info
        echoed with the end bit on the final screen only, and the expected screen text."""
        expected = dialogue[step]
        if answer.op != (pdus.PSSR_RESPONSE if expected.final else pdus.USSR_REQUEST):
            return False
        info = answer.session_info
        if info is None or info[0] != session or bool(info[1] & 1) != expected.final:
            return False
        return any(form in answer.message for form in self.markers[expected.marker])

    def closed_loop_msisdn(self, handset: int) -> str:
        turn = self.turns[handset]
        self.turns[handset] = turn + 1
        return str(self.msisdn_base + handset + (turn % self.rounds) * self.handsets)

    def next_dialogue_id(self, msisdn: str) -> int:
        """A new its_session_info number for each dialogue of a number, as a USSD centre
        gives (the gateway takes the same id and text again soon after as a resend)."""
        number = (self.dialogue_ids.get(msisdn, -1) + 1) & 0xFF
        self.dialogue_ids[msisdn] = number
        return number

    async def dialogue(self, handset: int, dialogue: Dialogue, msisdn: str) -> bool:
        loop = asyncio.get_running_loop()
        session = self.next_dialogue_id(msisdn)
        for step in range(len(dialogue)):
            future: asyncio.Future[pdus.Answer] = loop.create_future()
            self.waiting[msisdn] = future
            started = time.perf_counter()
            body = self.request_body(msisdn, dialogue, step, session)
            self.connection(handset).send_request(body)
            try:
                answer = await asyncio.wait_for(future, self.step_timeout)
            except TimeoutError:
                self.waiting.pop(msisdn, None)
                if self.recording:
                    self.figures.timeouts += 1
                return False
            if not self.is_expected(dialogue, step, session, answer):
                if self.recording:
                    self.figures.wrong += 1
                    if self.figures.wrong <= 3:
                        print(json.dumps({"wrong": {
                            "step": dialogue[step].text, "op": answer.op,
                            "session_info": (answer.session_info or b"").hex(),
                            "message": answer.message.hex()}}), flush=True)
                return False
            if self.recording:
                self.figures.steps += 1
                self.figures.latencies.append(time.perf_counter() - started)
        self.total_dialogues += 1
        if self.recording:
            self.figures.dialogues += 1
        return True

    def start_recording(self, mode: str, **extra: object) -> float:
        self.figures = Figures()
        print(json.dumps({"phase": "recording", "mode": mode, **extra}), flush=True)
        self.recording = True
        return time.perf_counter()

    def stop_recording(self, mode: str, started: float) -> dict[str, object]:
        self.recording = False
        self.elapsed = time.perf_counter() - started
        print(json.dumps({"phase": "done", "mode": mode}), flush=True)
        return summary(self.figures, self.elapsed)

    async def closed_loop(self, duration: float, warmup: float) -> dict[str, object]:
        deadline = time.perf_counter() + warmup + duration

        async def handset_loop(handset: int) -> None:
            while time.perf_counter() < deadline:
                turn = self.turns[handset]
                await self.dialogue(handset, self.dialogues[turn % len(self.dialogues)],
                                    self.closed_loop_msisdn(handset))

        tasks = [asyncio.create_task(handset_loop(h)) for h in range(self.handsets)]
        await asyncio.sleep(warmup)
        started = self.start_recording("closed")
        await asyncio.gather(*tasks)
        return self.stop_recording("closed", started)

    async def open_loop(self, rate: float, duration: float) -> dict[str, object]:
        """Start ``rate`` dialogues a second, each by an idle subscriber, for ``duration``."""
        # Every subscriber is a handset here, so a burst finds idle ones (and the gateway's
        # window, not ours, decides what waits).
        free = list(range(self.handsets * self.rounds))
        busy: set[asyncio.Task[bool]] = set()
        started = self.start_recording("open", rate=round(rate, 1))
        launched = 0
        turn = 0
        while (now := time.perf_counter()) < started + duration:
            due = int((now - started) * rate) - launched
            for _ in range(due):
                launched += 1
                if not free:
                    self.figures.timeouts += 1  # offered but no idle handset: counted as lost
                    continue
                handset = free.pop()
                dialogue = self.dialogues[turn % len(self.dialogues)]
                turn += 1
                task = asyncio.create_task(
                    self.dialogue(handset, dialogue, str(self.msisdn_base + handset)))
                busy.add(task)
                task.add_done_callback(busy.discard)
                task.add_done_callback(functools.partial(_release, free, handset))
            # Sleep to the next due start, but wake at least every millisecond.
            await asyncio.sleep(min(0.001, max(0.0, (launched + 1) / rate - (now - started))))
        if busy:
            await asyncio.wait(busy)
        return self.stop_recording("open", started)


def _release(free: list[int], handset: int, _task: object) -> None:
    free.append(handset)


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
        "wrong": figures.wrong,
        "unexpected": figures.unexpected,
        "throttled": figures.throttled,
        "elapsed_s": round(elapsed, 3),
        "steps_per_s": round(figures.steps / elapsed, 1) if elapsed else 0.0,
        "p50_ms": percentile(0.50),
        "p95_ms": percentile(0.95),
        "p99_ms": percentile(0.99),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 3) if latencies else None,
    }


async def main_async(args: argparse.Namespace) -> dict[str, object]:
    generator = LoadGenerator(args.scenario, args.handsets, args.subscribers or args.handsets,
                              args.msisdn_base, args.step_timeout)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SmscConnection(generator), args.host, args.port)
    port = server.sockets[0].getsockname()[1]
    print(json.dumps({"listening": port}), flush=True)
    result: dict[str, object] = {}
    try:
        await asyncio.wait_for(generator.bound.wait(), args.bind_timeout)
        if args.rate:
            await asyncio.sleep(args.warmup)
            result["open"] = await generator.open_loop(args.rate, args.duration)
            result["total_dialogues"] = generator.total_dialogues
            result["total_sms"] = generator.total_sms
            return result
        closed = await generator.closed_loop(args.duration, args.warmup)
        result["closed"] = closed
        saturation = float(closed["steps_per_s"])  # type: ignore[arg-type]
        if args.open_fraction and saturation > 0:
            steps = sum(len(d) for d in generator.dialogues) / len(generator.dialogues)
            rate = args.open_fraction * saturation / steps
            result["open"] = await generator.open_loop(rate, args.open_duration or args.duration)
        result["total_dialogues"] = generator.total_dialogues
        result["total_sms"] = generator.total_sms
        return result
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
    parser.add_argument("--handsets", type=int, default=40,
                        help="dialogues in progress at once (closed loop)")
    parser.add_argument("--subscribers", type=int, default=0,
                        help="distinct MSISDNs dialing (default: one per handset)")
    parser.add_argument("--msisdn-base", type=int, default=79990000000)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--rate", type=float, default=0.0,
                        help="open loop only, at this many dialogues/s (0 = closed loop first)")
    parser.add_argument("--open-fraction", type=float, default=0.0,
                        help="after the closed loop, an open loop at this fraction of it")
    parser.add_argument("--open-duration", type=float, default=0.0)
    parser.add_argument("--step-timeout", type=float, default=5.0)
    parser.add_argument("--bind-timeout", type=float, default=30.0)
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args(sys.argv[1:])
    try:
        import uvloop  # type: ignore[import-not-found, unused-ignore]

        uvloop.install()
    except ImportError:
        pass
    result = asyncio.run(main_async(args))
    print(json.dumps({"result": result}), flush=True)


if __name__ == "__main__":
    main()
