"""Typed, key-naming access to a parsed TOML table.

Every error names the full dotted key and what was wrong with its value, so an operator can
fix ``config.toml`` from the message alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration value is missing, of the wrong type or out of range."""


class Table:
    """One TOML table with the dotted path that leads to it."""

    def __init__(self, data: Mapping[str, Any], path: str = "") -> None:
        self._data = data
        self._path = path
        self._read: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self._path}.{name}" if self._path else name

    def has(self, name: str) -> bool:
        return name in self._data

    def _get(self, name: str, default: Any, kind: type | tuple[type, ...], label: str) -> Any:
        self._read.add(name)
        if name not in self._data:
            if default is _REQUIRED:
                raise ConfigError(f"{self.key(name)}: missing (expected {label})")
            return default
        value = self._data[name]
        # bool is an int subclass: never accept true/false where a number is meant.
        if isinstance(value, bool) and bool not in _as_tuple(kind):
            raise ConfigError(f"{self.key(name)}: expected {label}, got {value!r}")
        if not isinstance(value, kind):
            raise ConfigError(f"{self.key(name)}: expected {label}, got {value!r}")
        return value

    def text(self, name: str, default: Any = None, *, choices: Sequence[str] | None = None,
            allow_empty: bool = True) -> Any:
        if default is None:
            default = _REQUIRED
        value = self._get(name, default, str, "a string")
        if value is None:
            return None
        if choices is not None and value not in choices:
            raise ConfigError(
                f"{self.key(name)}: {value!r} is not one of {', '.join(map(repr, choices))}"
            )
        if not allow_empty and not value:
            raise ConfigError(f"{self.key(name)}: must not be empty")
        return value

    def integer(self, name: str, default: Any = None, *, minimum: int | None = None,
            maximum: int | None = None) -> int:
        value: int = self._get(name, _REQUIRED if default is None else default, int, "an integer")
        _check_range(self.key(name), value, minimum, maximum)
        return value

    def number(self, name: str, default: Any = None, *, minimum: float | None = None,
              maximum: float | None = None) -> float:
        value = self._get(name, _REQUIRED if default is None else default, (int, float), "a number")
        _check_range(self.key(name), value, minimum, maximum)
        return float(value)

    def flag(self, name: str, default: Any = None) -> bool:
        value: bool = self._get(name, _REQUIRED if default is None else default, bool,
                                "true or false")
        return value

    def texts(self, name: str, default: Sequence[str] | None = None) -> tuple[str, ...]:
        value = self._get(name, _REQUIRED if default is None else list(default), list,
                          "a list of strings")
        for index, item in enumerate(value):
            if not isinstance(item, str):
                raise ConfigError(f"{self.key(name)}[{index}]: expected a string, got {item!r}")
        return tuple(value)

    def integers(self, name: str, default: Sequence[int], *, minimum: int,
                 maximum: int) -> tuple[int, ...]:
        value = self._get(name, list(default), list, "a list of integers")
        for index, item in enumerate(value):
            if isinstance(item, bool) or not isinstance(item, int):
                raise ConfigError(f"{self.key(name)}[{index}]: expected an integer, got {item!r}")
            _check_range(f"{self.key(name)}[{index}]", item, minimum, maximum)
        return tuple(value)

    def table(self, name: str) -> Table:
        value = self._get(name, {}, dict, "a table")
        return Table(value, self.key(name))

    def tables(self, name: str) -> list[Table]:
        value = self._get(name, [], list, "an array of tables")
        result = []
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                raise ConfigError(f"{self.key(name)}[{index}]: expected a table, got {item!r}")
            result.append(Table(item, f"{self.key(name)}[{index}]"))
        return result

    def secret(self, name: str, environ: Mapping[str, str]) -> str:
        """A secret given inline as ``name``, or by the environment variable named in
        ``<name>_env`` (which wins when set); "" when neither is given. A variable that is
        named but not set, with nothing inline to fall back on, is refused: starting with
        an empty secret would, say, let any USSD centre bind."""
        env_name = self.text(f"{name}_env", "")
        value: str = self.text(name, "")  # read either way: it is a known key
        if env_name and environ.get(env_name):
            return environ[env_name]
        if env_name and not value:
            raise ConfigError(
                f"{self.key(name + '_env')}: the environment variable {env_name} is not set "
                "(or empty)")
        return value

    def reject_unknown(self) -> None:
        unknown = sorted(set(self._data) - self._read)
        if unknown:
            raise ConfigError(f"{self.key(unknown[0])}: unknown key")


_REQUIRED: Any = object()


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _check_range(key: str, value: float, minimum: float | None, maximum: float | None) -> None:
    if minimum is not None and value < minimum:
        raise ConfigError(f"{key}: must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{key}: must be at most {maximum}, got {value}")
