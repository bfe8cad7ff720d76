"""One USSD request in, one screen out: the heart of the request flow.

``UssdDispatcher`` is the :class:`smpp.ussd.UssdHandler` every SMPP connection calls. It
normalises the MSISDN, loads the session, walks the menu engine (running the actions the engine
asks for), saves or ends the session, and logs one line. Whatever goes wrong inside, the
subscriber gets a short polite screen, never a trace.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Protocol

from menus import ActionCall, MenuEngine, Screen, SessionState, Step
from smpp.ussd import UssdReply, UssdRequest

from .metrics import Metrics
from .msisdn import InvalidMsisdn, mask_msisdn, normalize_msisdn
from .sessions import SessionStore
from .sessions.record import began_at, session_value
from .store.database import StoreUnavailable

log = logging.getLogger("ussd_gateway.ussd")

SERVICE_CODE = re.compile(r"^\*(\d{1,6})[*#]")

class ActionRunner(Protocol):
    """Runs a menu action for a subscriber; returns the outcome and placeholder values."""

    async def run(self, action: str, msisdn: str, inputs: Mapping[str, str],
                  language: str, *, request_key: str | None = None
                  ) -> tuple[str, Mapping[str, str]]: ...

    async def language_of(self, msisdn: str) -> str | None: ...


class UssdDispatcher:
    def __init__(
        self,
        *,
        engine: Callable[[], MenuEngine],
        sessions: SessionStore,
        actions: ActionRunner,
        metrics: Metrics,
        country_code: str,
        default_language: str,
        resumable: SessionStore | None = None,
    ) -> None:
        self._engine = engine
        self._sessions = sessions
        self._actions = actions
        self._metrics = metrics
        self._country_code = country_code
        self._default_language = default_language
        # With a redial grace period: the last screen of each unfinished dialogue, by MSISDN
        # and service code, kept for the session timeout plus the grace period.
        self._resumable = resumable

    async def __call__(self, request: UssdRequest) -> UssdReply | None:
        started = time.perf_counter()
        code = "-"
        outcome = "error"
        masked = _safe_mask(request.msisdn)
        known = _Known()
        try:
            if request.is_abort:
                outcome = "aborted"
                if await self._sessions.delete(request.session_key):  # hung up mid-dialogue
                    self._metrics.sessions.labels("abandoned").inc()
                return None
            try:
                msisdn = normalize_msisdn(request.msisdn, self._country_code)
            except InvalidMsisdn:
                outcome = "bad_msisdn"
                return UssdReply(self._text("not_subscriber", None), final=True)
            masked = mask_msisdn(msisdn)
            reply, code, outcome = await self._walk(request, msisdn, known)
            return reply
        except Exception as exc:
            if isinstance(exc, StoreUnavailable):
                outcome = "store_unavailable"
                log.warning("ussd request conn=%s msisdn=%s: store unavailable: %s",
                            request.connection, masked, exc)
            else:
                log.exception("ussd request failed conn=%s msisdn=%s", request.connection,
                              masked)
            await self._forget_quietly(request.session_key)
            self._metrics.sessions.labels("failed").inc()
            return UssdReply(self._text("service_unavailable", known.language), final=True)
        finally:
            elapsed = time.perf_counter() - started
            self._metrics.ussd_step_seconds.observe(elapsed)
            self._metrics.ussd_requests.labels(code, outcome).inc()
            log.info("ussd conn=%s msisdn=%s code=%s %s outcome=%s ms=%.1f",
                     request.connection, masked, code,
                     "begin" if request.is_begin else "reply", outcome, elapsed * 1000)

    async def _walk(self, request: UssdRequest, msisdn: str,
                    known: _Known) -> tuple[UssdReply, str, str]:
        engine = self._engine()
        now = time.time()
        began = now
        if request.is_begin:
            if await self._sessions.delete(request.session_key):  # dialed over an open one
                self._metrics.sessions.labels("abandoned").inc()
            code = _service_code(request.text, engine.codes)
            left = await self._left_dialogue(msisdn, code, request.text)
            if left is not None:
                known.language = left.language
                step = engine.resume(left)
            else:
                language = await self._actions.language_of(msisdn) or self._default_language
                known.language = language
                step = engine.begin(request.text, language, {"msisdn": msisdn})
        else:
            saved = await self._sessions.load(request.session_key)
            if saved is None:
                language_read = await self._actions.language_of(msisdn)
                return (UssdReply(self._text("session_expired", language_read), final=True), "-",
                        "expired")
            code = str(saved.get("c") or "-")
            began = began_at(saved, now)
            state = SessionState.from_dict(saved["s"])
            known.language = state.language
            step = engine.advance(state, request.text)
        screen = await self._run_actions(engine, step, msisdn, _request_key(request))
        if screen.final:
            if not request.is_begin:  # a begin has just cleared its key above
                await self._sessions.delete(request.session_key)
            if self._resumable is not None:
                await self._resumable.delete(f"{msisdn}:{code}")
            self._metrics.sessions.labels("completed").inc()
            return UssdReply(screen.text, final=True), code, "final"
        value = session_value(screen.state.to_dict(), code, msisdn, began, now)
        await self._sessions.save(request.session_key, value)
        if self._resumable is not None:
            await self._resumable.save(f"{msisdn}:{code}", value)
        return UssdReply(screen.text, final=False), code, "screen"

    async def _left_dialogue(self, msisdn: str, code: str, dialed: str) -> SessionState | None:
        """The unfinished dialogue to resume when the bare code is redialed in time."""
        if self._resumable is None or dialed != f"*{code}#":
            return None
        saved = await self._resumable.load(f"{msisdn}:{code}")
        return SessionState.from_dict(saved["s"]) if saved is not None else None

    async def _run_actions(self, engine: MenuEngine, step: Step, msisdn: str,
                           request_key: str | None) -> Screen:
        # The engine the step came from, even if a reload swaps in another meanwhile.
        while isinstance(step, ActionCall):
            outcome, values = await self._actions.run(step.action, msisdn, step.inputs,
                                                      step.state.language,
                                                      request_key=request_key)
            step = engine.resolve(step.state, outcome, values)
        return step

    async def _forget_quietly(self, key: str) -> None:
        """On the error path: the session store may be what failed."""
        try:
            await self._sessions.delete(key)
        except Exception as exc:
            log.warning("could not forget a failed session: %s", type(exc).__name__)

    def _text(self, key: str, language: str | None) -> str:
        return self._engine().final_message(key, language).text


class _Known:
    """What one request has learnt so far, for its error screen: the subscriber's language
    once read (from the store or the saved session)."""

    __slots__ = ("language",)

    def __init__(self) -> None:
        self.language: str | None = None


def _request_key(request: UssdRequest) -> str | None:
    """The same for a request the centre resends (same dialogue id, same text); None when
    the dialect carries no dialogue id, as two dialogues could not be told apart then."""
    if request.session_key == request.msisdn:
        return None
    return f"{request.session_key}/{request.text}"


def _service_code(dialed: str, known: frozenset[str]) -> str:
    match = SERVICE_CODE.match(dialed)
    if match and match.group(1) in known:
        return match.group(1)
    return "unknown"


def _safe_mask(raw: str) -> str:
    digits = "".join(ch for ch in raw if ch.isdigit())
    return mask_msisdn(digits) if len(digits) >= 7 else "?"
