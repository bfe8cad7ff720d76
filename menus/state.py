"""A session's place in a menu: a small frozen value that survives JSON (memory or Redis)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

STATE_VERSION = 1


@dataclass(frozen=True)
class SessionState:
    """Where a subscriber is: menu code, screen, language, page, wrong answers so far,
    what they typed (``inputs``), what actions returned (``values``), the direct-string
    inputs not consumed yet (``pending``), the screens to go back to (``trail``) and the
    reason shown above the screen after a wrong answer (``notice``, a message key).
    ``given`` holds the values the dial came with (``{msisdn}``): going home keeps them."""

    code: str
    screen: str
    language: str
    inputs: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, str] = field(default_factory=dict)
    page: int = 0
    retries: int = 0
    pending: tuple[str, ...] = ()
    trail: tuple[str, ...] = ()
    notice: str = ""
    given: Mapping[str, str] = field(default_factory=dict)

    def evolve(self, **changes: Any) -> SessionState:
        """A copy with ``changes``; cheaper than dataclasses.replace on the per-step path."""
        if not _FIELDS.issuperset(changes):
            raise TypeError(f"SessionState has no field(s) {sorted(set(changes) - _FIELDS)}")
        copied = object.__new__(SessionState)
        copied.__dict__.update(self.__dict__, **changes)
        return copied

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": STATE_VERSION,
            "code": self.code,
            "screen": self.screen,
            "language": self.language,
            "inputs": dict(self.inputs),
            "values": dict(self.values),
            "page": self.page,
            "retries": self.retries,
            "pending": list(self.pending),
            "trail": list(self.trail),
            "notice": self.notice,
            "given": dict(self.given),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SessionState:
        """Raises ValueError when ``data`` is not a state this version wrote."""
        if not isinstance(data, Mapping) or data.get("v") != STATE_VERSION:
            raise ValueError("not a menu session state of a known version")
        try:
            state = cls(
                code=_text(data["code"]),
                screen=_text(data["screen"]),
                language=_text(data["language"]),
                inputs=_strings(data.get("inputs", {})),
                values=_strings(data.get("values", {})),
                page=_count(data.get("page", 0)),
                retries=_count(data.get("retries", 0)),
                pending=tuple(_text(item) for item in data.get("pending", [])),
                trail=tuple(_text(item) for item in data.get("trail", [])),
                notice=_text(data.get("notice", "")),
                given=_strings(data.get("given", {})),
            )
        except (KeyError, TypeError) as error:
            raise ValueError(f"malformed menu session state: {error!r}") from None
        return state


_FIELDS = frozenset(f.name for f in fields(SessionState))


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {type(value).__name__}")
    return value


def _count(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise TypeError(f"expected a count, got {value!r}")
    return value


def _strings(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise TypeError("expected a table of text")
    return {_text(key): _text(item) for key, item in value.items()}
