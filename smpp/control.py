"""The simulator's control interface: JSON lines over TCP on loopback, and its clients.

One request per line, one answer per line, in order, on a connection that may carry many::

    {"op": "dial", "msisdn": "79161234567", "code": "*111#", "replies": ["1"],
     "timeout": 5, "sms_wait": 2}
      -> {"ok": true, "screens": ["..."], "session_ended": true,
          "sms": [{"from": "Operator", "text": "..."}]}
    {"op": "inbox", "msisdn": "79161234567"}            -> {"ok": true, "sms": [...]}
    {"op": "begin", "msisdn": "...", "code": "*111#", "timeout": 5}
      -> {"ok": true, "screen": "...", "session_ended": false}
    {"op": "reply", "msisdn": "...", "text": "1", "timeout": 5}   -> same as begin
    {"op": "cancel", "msisdn": "..."}                    -> {"ok": true}
    {"op": "status"}                                     -> {"ok": true, "bound": true}

A failure is ``{"ok": false, "error": "<one line>"}``; the clients raise it as
:class:`SimulatorError`. ``dial`` is the whole dialogue in one call (``ussd-gateway dial``
uses it); ``begin``/``reply``/``cancel`` drive one dialogue a screen at a time (the
terminal handset uses them).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger(__name__)

_LINE_LIMIT = 1 << 20
_CLIENT_MARGIN = 5.0  # on top of the simulator's own timeouts, for the answer to travel


class SimulatorError(Exception):
    """A dialogue or control request failed; ``str()`` is one line for a human."""


class ControlUnavailable(SimulatorError):
    """The control connection itself failed: nothing more can be asked on it."""


@dataclass(frozen=True)
class InboxSms:
    """One SMS a virtual handset received. JSON: ``{"from": ..., "text": ...}``."""

    sender: str
    text: str

    def to_json(self) -> dict[str, str]:
        return {"from": self.sender, "text": self.text}

    @classmethod
    def from_json(cls, value: Any) -> InboxSms:
        return cls(sender=str(value["from"]), text=str(value["text"]))


@dataclass(frozen=True)
class Screen:
    """What the handset shows after one request; ``final`` when the dialogue ended."""

    text: str
    final: bool


@dataclass(frozen=True)
class DialResult:
    screens: list[str]
    session_ended: bool
    sms: list[InboxSms]

    def to_json(self) -> dict[str, Any]:
        return {
            "screens": list(self.screens),
            "session_ended": self.session_ended,
            "sms": [sms.to_json() for sms in self.sms],
        }

    @classmethod
    def from_json(cls, value: Any) -> DialResult:
        return cls(
            screens=[str(screen) for screen in value["screens"]],
            session_ended=bool(value["session_ended"]),
            sms=[InboxSms.from_json(sms) for sms in value["sms"]],
        )


class Handsets(Protocol):
    """What the control server drives (the simulator implements it)."""

    @property
    def is_bound(self) -> bool: ...

    async def dial(
        self,
        msisdn: str,
        code: str,
        replies: Sequence[str] = (),
        timeout: float = 5.0,  # noqa: ASYNC109 (per screen)
        *,
        sms_wait: float = 0.0,
    ) -> DialResult: ...

    def inbox(self, msisdn: str) -> list[InboxSms]: ...

    async def begin(self, msisdn: str, code: str, timeout: float = 5.0) -> Screen: ...  # noqa: ASYNC109

    async def reply(self, msisdn: str, text: str, timeout: float = 5.0) -> Screen: ...  # noqa: ASYNC109

    async def cancel(self, msisdn: str) -> None: ...


# --- server -----------------------------------------------------------------------------


class ControlServer:
    """Serves the JSON-lines protocol for one simulator."""

    def __init__(self, handsets: Handsets) -> None:
        self._handsets = handsets
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self.port = 0

    async def start(self, host: str, port: int) -> int:
        self._server = await asyncio.start_server(self._serve, host, port, limit=_LINE_LIMIT)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        for task in list(self._connections):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            while line := await reader.readline():
                answer = await self._answer(line)
                writer.write(json.dumps(answer, ensure_ascii=False).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, ValueError):  # ValueError: a line over the limit
            pass
        finally:
            if task is not None:
                self._connections.discard(task)
            writer.close()

    async def _answer(self, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line)
            if not isinstance(request, dict):
                raise SimulatorError("bad request: expected a JSON object")
            result = await self._dispatch(request)
        except SimulatorError as error:
            return {"ok": False, "error": str(error)}
        except (json.JSONDecodeError, UnicodeDecodeError):
            return {"ok": False, "error": "bad request: not JSON"}
        except (KeyError, TypeError, ValueError) as error:
            return {"ok": False, "error": f"bad request: {error!r}"}
        except Exception:
            log.exception("control request failed")
            return {"ok": False, "error": "internal error in the simulator"}
        return {"ok": True, **result}

    async def _dispatch(self, request: dict[str, Any]) -> dict[str, Any]:
        handsets = self._handsets
        op = request.get("op")
        if op == "status":
            return {"bound": handsets.is_bound}
        if op == "inbox":
            return {"sms": [sms.to_json() for sms in handsets.inbox(_text(request, "msisdn"))]}
        if op == "dial":
            replies = request.get("replies", [])
            if not isinstance(replies, list):
                raise SimulatorError("bad request: replies must be a list")
            result = await handsets.dial(
                _text(request, "msisdn"),
                _text(request, "code"),
                [str(reply) for reply in replies],
                _number(request, "timeout", 5.0),
                sms_wait=_number(request, "sms_wait", 0.0),
            )
            return result.to_json()
        if op in ("begin", "reply"):
            timeout = _number(request, "timeout", 5.0)
            msisdn = _text(request, "msisdn")
            if op == "begin":
                screen = await handsets.begin(msisdn, _text(request, "code"), timeout)
            else:
                screen = await handsets.reply(msisdn, _text(request, "text"), timeout)
            return {"screen": screen.text, "session_ended": screen.final}
        if op == "cancel":
            await handsets.cancel(_text(request, "msisdn"))
            return {}
        raise SimulatorError(f"bad request: unknown op {op!r}")


def _text(request: dict[str, Any], key: str) -> str:
    value = request.get(key)
    if not isinstance(value, str) or not value:
        raise SimulatorError(f"bad request: {key} must be a non-empty string")
    return value


def _number(request: dict[str, Any], key: str, default: float) -> float:
    value = request.get(key, default)
    if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
        raise SimulatorError(f"bad request: {key} must be a non-negative number")
    return float(value)


# --- clients ----------------------------------------------------------------------------


class ControlClient:
    """One connection to a simulator's control port; requests go one at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._lock = asyncio.Lock()

    @classmethod
    async def connect(cls, host: str, port: int) -> ControlClient:
        try:
            reader, writer = await asyncio.open_connection(host, port, limit=_LINE_LIMIT)
        except OSError as error:
            raise ControlUnavailable(
                f"cannot reach the simulator's control port {host}:{port}: {error.strerror}"
            ) from None
        return cls(reader, writer)

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()

    async def call(self, request: dict[str, Any], wait: float) -> dict[str, Any]:
        """Send one request; return the answer, or raise SimulatorError with its error."""
        async with self._lock:
            try:
                self._writer.write(json.dumps(request, ensure_ascii=False).encode() + b"\n")
                await self._writer.drain()
                line = await asyncio.wait_for(self._reader.readline(), wait + _CLIENT_MARGIN)
            except TimeoutError:
                raise SimulatorError("the simulator did not answer in time") from None
            except (ConnectionError, ValueError) as error:
                raise ControlUnavailable(f"lost the simulator's control connection: {error}"
                                         ) from None
        if not line:
            raise ControlUnavailable("the simulator closed the control connection")
        try:
            answer = json.loads(line)
        except json.JSONDecodeError:
            raise SimulatorError("the simulator sent something that is not JSON") from None
        if not isinstance(answer, dict) or not answer.get("ok"):
            reason = answer.get("error") if isinstance(answer, dict) else None
            raise SimulatorError(str(reason or "the simulator refused the request"))
        return answer

    async def begin(self, msisdn: str, code: str, timeout: float = 5.0) -> Screen:  # noqa: ASYNC109
        request = {"op": "begin", "msisdn": msisdn, "code": code, "timeout": timeout}
        answer = await self.call(request, timeout)
        return Screen(str(answer["screen"]), bool(answer["session_ended"]))

    async def reply(self, msisdn: str, text: str, timeout: float = 5.0) -> Screen:  # noqa: ASYNC109
        request = {"op": "reply", "msisdn": msisdn, "text": text, "timeout": timeout}
        answer = await self.call(request, timeout)
        return Screen(str(answer["screen"]), bool(answer["session_ended"]))

    async def cancel(self, msisdn: str) -> None:
        await self.call({"op": "cancel", "msisdn": msisdn}, 0.0)

    async def inbox(self, msisdn: str) -> list[InboxSms]:
        answer = await self.call({"op": "inbox", "msisdn": msisdn}, 0.0)
        return [InboxSms.from_json(sms) for sms in answer["sms"]]


async def control_dial(
    host: str,
    port: int,
    msisdn: str,
    code: str,
    replies: Sequence[str] = (),
    timeout: float = 5.0,  # noqa: ASYNC109 (per screen, passed on to the simulator)
    sms_wait: float = 0.0,
) -> DialResult:
    """Dial ``code`` from ``msisdn``, answer each screen with the next of ``replies``.

    The result holds every screen, whether the gateway ended the dialogue, and the SMS
    that reached the handset during the dialogue or up to ``sms_wait`` seconds after it.
    Raises SimulatorError (one line) when the gateway does not answer in time.
    """
    request = {
        "op": "dial",
        "msisdn": msisdn,
        "code": code,
        "replies": list(replies),
        "timeout": timeout,
        "sms_wait": sms_wait,
    }
    client = await ControlClient.connect(host, port)
    try:
        answer = await client.call(request, timeout * (len(replies) + 1) + sms_wait)
    finally:
        await client.close()
    return DialResult.from_json(answer)


async def control_inbox(host: str, port: int, msisdn: str) -> list[InboxSms]:
    """Every SMS the handset ``msisdn`` has received, oldest first."""
    client = await ControlClient.connect(host, port)
    try:
        return await client.inbox(msisdn)
    finally:
        await client.close()
