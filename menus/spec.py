"""The frozen shape of a loaded menu: screens of four kinds, a menu per service code."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from menus.validators import Validator

Text = Mapping[str, str]
"""One text in several languages: language code -> template with {placeholders}."""

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
SCREEN_ID = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
# Ids of the screens every menu gets for the outcomes all actions may return.
DEFAULT_SCREEN_PREFIX = "@"


@dataclass(frozen=True)
class Option:
    key: str
    label: Text
    next: str


@dataclass(frozen=True)
class ChoiceScreen:
    kind: ClassVar[str] = "choice"
    id: str
    text: Text
    options: tuple[Option, ...]

    def option(self, key: str) -> Option | None:
        for option in self.options:
            if option.key == key:
                return option
        return None


@dataclass(frozen=True)
class InputScreen:
    kind: ClassVar[str] = "input"
    id: str
    text: Text
    name: str
    validator: Validator
    next: str
    error: Text | None = None


@dataclass(frozen=True)
class ActionScreen:
    kind: ClassVar[str] = "action"
    id: str
    action: str
    outcomes: Mapping[str, str]
    params: Mapping[str, str] = field(default_factory=dict)
    # After a successful outcome the session continues in the language given in params.
    sets_language: bool = False


@dataclass(frozen=True)
class EndScreen:
    kind: ClassVar[str] = "end"
    id: str
    text: Text


ScreenSpec = ChoiceScreen | InputScreen | ActionScreen | EndScreen


def targets(screen: ScreenSpec) -> list[tuple[str, str]]:
    """(what leads there, target screen id) for every way out of ``screen``."""
    if isinstance(screen, ChoiceScreen):
        return [(f"option {option.key}", option.next) for option in screen.options]
    if isinstance(screen, InputScreen):
        return [("next", screen.next)]
    if isinstance(screen, ActionScreen):
        return [(f"outcome {name}", target) for name, target in screen.outcomes.items()]
    return []


def texts(screen: ScreenSpec) -> list[tuple[str, Text]]:
    """(what it is, text) for every text the screen shows."""
    found: list[tuple[str, Text]] = []
    if isinstance(screen, ChoiceScreen | InputScreen | EndScreen):
        found.append(("text", screen.text))
    if isinstance(screen, ChoiceScreen):
        found.extend((f"label of option {o.key}", o.label) for o in screen.options)
    if isinstance(screen, InputScreen) and screen.error is not None:
        found.append(("error", screen.error))
    return found


@dataclass(frozen=True)
class Menu:
    """The menu of one service code, with its transitions machine compiled at load."""

    code: str
    file: str
    start: str
    languages: tuple[str, ...]
    screens: Mapping[str, ScreenSpec]
    machine: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class MenuSet:
    """Every loaded menu by service code (digits only: "111" for *111#), and the messages."""

    menus: Mapping[str, Menu]
    messages: Mapping[str, Text]
    files: tuple[str, ...] = ()

    @property
    def codes(self) -> frozenset[str]:
        return frozenset(self.menus)

    @property
    def actions(self) -> frozenset[str]:
        return frozenset(
            screen.action
            for menu in self.menus.values()
            for screen in menu.screens.values()
            if isinstance(screen, ActionScreen)
        )
