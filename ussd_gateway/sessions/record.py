"""What a saved USSD session holds, written by the dispatcher and read by the operator's view.

A value is ``{"s": menu state, "c": service code, "m": MSISDN, "b": began, "u": last
request}``, the two times in seconds since the epoch (wall clock: any instance may read them).
Values saved before "m", "b" and "u" existed still load; the operator's view shows what it can.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .base import SessionValue


def session_value(state: dict[str, Any], code: str, msisdn: str, began: float,
                  now: float) -> SessionValue:
    return {"s": state, "c": code, "m": msisdn, "b": began, "u": now}


def began_at(value: Mapping[str, Any], now: float) -> float:
    """When the dialogue of a saved value began (``now`` for a value without the time)."""
    began = value.get("b")
    return float(began) if isinstance(began, int | float) else now


@dataclass(frozen=True)
class LiveSession:
    """One open dialogue as an operator sees it: never what the subscriber typed."""

    msisdn: str | None
    code: str | None
    screen: str | None
    language: str | None
    began: datetime | None
    last_request: datetime | None


def live_session(value: Mapping[str, Any]) -> LiveSession:
    state = value.get("s")
    state = state if isinstance(state, Mapping) else {}
    return LiveSession(msisdn=_text(value.get("m")), code=_text(value.get("c")),
                       screen=_text(state.get("screen")), language=_text(state.get("language")),
                       began=_moment(value.get("b")), last_request=_moment(value.get("u")))


def _text(raw: object) -> str | None:
    return raw if isinstance(raw, str) and raw else None


def _moment(raw: object) -> datetime | None:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    try:
        return datetime.fromtimestamp(raw, UTC)
    except (OverflowError, OSError, ValueError):
        return None
