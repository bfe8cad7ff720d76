"""Turn one parsed TOML document into menu specs, collecting every problem on the way."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from menus.errors import MenuProblem
from menus.spec import (
    SCREEN_ID,
    ActionScreen,
    ChoiceScreen,
    EndScreen,
    InputScreen,
    Option,
    ScreenSpec,
    Text,
)
from menus.validators import VALIDATOR_KINDS, Validator

DEFAULT_LANGUAGES = ("ru", "en")
_CODE = re.compile(r"\*?(\d{1,6})#?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,31}")
_SCREEN_KEYS = {
    "choice": {"type", "text", "options"},
    "input": {"type", "text", "name", "validate", "min_length", "max_length", "pattern",
              "min", "max", "next", "error"},
    "action": {"type", "action", "outcomes", "params", "sets_language"},
    "end": {"type", "text"},
}


@dataclass
class ParsedFile:
    """What one file contributes: a menu (code, start, screens) and/or message overrides."""

    file: str
    code: str | None = None
    start: str = ""
    languages: tuple[str, ...] = DEFAULT_LANGUAGES
    screens: dict[str, ScreenSpec] = field(default_factory=dict)
    messages: dict[str, Text] = field(default_factory=dict)
    problems: list[MenuProblem] = field(default_factory=list)

    def problem(self, screen: str | None, reason: str) -> None:
        self.problems.append(MenuProblem(self.file, screen, reason))


def parse_document(file: str, document: Mapping[str, Any]) -> ParsedFile:
    parsed = ParsedFile(file)
    unknown = set(document) - {"menu", "screens", "messages"}
    for key in sorted(unknown):
        parsed.problem(None, f"unknown top-level table {key!r} (expected menu, screens, messages)")
    if "messages" in document:
        _parse_messages(parsed, document["messages"])
    if "menu" in document or "screens" in document:
        _parse_menu(parsed, document.get("menu"), document.get("screens"))
    elif "messages" not in document:
        parsed.problem(None, "file has neither a [menu] nor a [messages] table")
    return parsed


def _parse_messages(parsed: ParsedFile, table: Any) -> None:
    if not isinstance(table, dict):
        parsed.problem(None, "[messages] must be a table of message -> {language = text}")
        return
    for key, value in table.items():
        text = _text(parsed, f"message:{key}", "text", value)
        if text is not None:
            parsed.messages[key] = text


def _parse_menu(parsed: ParsedFile, menu: Any, screens: Any) -> None:
    if not isinstance(menu, dict):
        parsed.problem(None, "missing [menu] table with code and start")
        return
    for key in sorted(set(menu) - {"code", "start", "languages"}):
        parsed.problem(None, f"unknown key {key!r} in [menu]")
    code = menu.get("code")
    match = _CODE.fullmatch(code) if isinstance(code, str) else None
    if match is None:
        parsed.problem(None, f"menu code {code!r} is not a service code like \"111\" or \"*111#\"")
    else:
        parsed.code = match.group(1)
    start = menu.get("start")
    if not isinstance(start, str) or not start:
        parsed.problem(None, "[menu] needs start = \"<screen id>\"")
    else:
        parsed.start = start
    languages = menu.get("languages", list(DEFAULT_LANGUAGES))
    if (
        not isinstance(languages, list)
        or not languages
        or not all(isinstance(lang, str) and _NAME.fullmatch(lang) for lang in languages)
    ):
        parsed.problem(None, "languages must be a list like [\"ru\", \"en\"]")
    else:
        parsed.languages = tuple(languages)
    if not isinstance(screens, dict) or not screens:
        parsed.problem(None, "menu has no [screens.<id>] tables")
        return
    for screen_id, table in screens.items():
        if not SCREEN_ID.fullmatch(screen_id):
            parsed.problem(screen_id, "screen id may use only letters, digits, _ . -")
            continue
        screen = _parse_screen(parsed, screen_id, table)
        if screen is not None:
            parsed.screens[screen_id] = screen


def _parse_screen(parsed: ParsedFile, sid: str, table: Any) -> ScreenSpec | None:
    if not isinstance(table, dict):
        parsed.problem(sid, "a screen must be a table")
        return None
    kind = table.get("type")
    if kind not in _SCREEN_KEYS:
        parsed.problem(sid, f"type {kind!r} is not one of choice, input, action, end")
        return None
    for key in sorted(set(table) - _SCREEN_KEYS[kind]):
        parsed.problem(sid, f"unknown key {key!r} for a {kind} screen")
    if kind == "choice":
        return _parse_choice(parsed, sid, table)
    if kind == "input":
        return _parse_input(parsed, sid, table)
    if kind == "action":
        return _parse_action(parsed, sid, table)
    text = _text(parsed, sid, "text", table.get("text"))
    return EndScreen(sid, text) if text is not None else None


def _parse_choice(parsed: ParsedFile, sid: str, table: dict[str, Any]) -> ChoiceScreen | None:
    text = _text(parsed, sid, "text", table.get("text"))
    raw_options = table.get("options")
    if not isinstance(raw_options, list) or not raw_options:
        parsed.problem(sid, "a choice screen needs at least one [[screens.<id>.options]]")
        return None
    options: list[Option] = []
    for number, raw in enumerate(raw_options, start=1):
        if not isinstance(raw, dict) or set(raw) - {"key", "label", "next"}:
            parsed.problem(sid, f"option #{number} must have only key, label and next")
            continue
        key, target = raw.get("key"), raw.get("next")
        if not isinstance(key, str) or not key.isdigit() or not key.isascii():
            parsed.problem(sid, f"option #{number}: key must be digits in quotes, e.g. \"1\"")
            continue
        if not isinstance(target, str) or not target:
            parsed.problem(sid, f"option {key}: next must name a screen")
            continue
        label = _text(parsed, sid, f"label of option {key}", raw.get("label"))
        if label is not None:
            options.append(Option(key, label, target))
    if text is None or len(options) != len(raw_options):
        return None
    return ChoiceScreen(sid, text, tuple(options))


def _parse_input(parsed: ParsedFile, sid: str, table: dict[str, Any]) -> InputScreen | None:
    text = _text(parsed, sid, "text", table.get("text"))
    name, target = table.get("name"), table.get("next")
    ok = text is not None
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        parsed.problem(sid, "an input screen needs name = \"<input name>\" (letters, digits, _)")
        ok = False
    if not isinstance(target, str) or not target:
        parsed.problem(sid, "an input screen needs next = \"<screen id>\"")
        ok = False
    validator = _validator(parsed, sid, table)
    error = _text(parsed, sid, "error", table["error"]) if "error" in table else None
    if not ok or validator is None or ("error" in table and error is None):
        return None
    assert text is not None and isinstance(name, str) and isinstance(target, str)
    return InputScreen(sid, text, name, validator, target, error)


def _validator(parsed: ParsedFile, sid: str, table: dict[str, Any]) -> Validator | None:
    kind = table.get("validate", "length")
    if kind not in VALIDATOR_KINDS:
        parsed.problem(sid, f"validate {kind!r} is not one of {', '.join(sorted(VALIDATOR_KINDS))}")
        return None
    lengths: dict[str, int | None] = {}
    for key in ("min_length", "max_length"):
        value = table.get(key)
        if value is not None and (not isinstance(value, int) or value < 1):
            parsed.problem(sid, f"{key} must be a whole number of at least 1")
            return None
        lengths[key] = value
    pattern = None
    if kind == "pattern":
        try:
            pattern = re.compile(str(table.get("pattern", "")))
        except re.error as error:
            parsed.problem(sid, f"pattern does not compile: {error}")
            return None
        if not table.get("pattern"):
            parsed.problem(sid, "validate = \"pattern\" needs pattern = \"<regex>\"")
            return None
    bounds: dict[str, Decimal | None] = {}
    for key in ("min", "max"):
        value = table.get(key)
        try:
            bounds[key] = None if value is None else Decimal(str(value))
        except InvalidOperation:
            parsed.problem(sid, f"{key} must be a number")
            return None
    return Validator(
        kind, lengths["min_length"], lengths["max_length"], pattern, bounds["min"], bounds["max"]
    )


def _parse_action(parsed: ParsedFile, sid: str, table: dict[str, Any]) -> ActionScreen | None:
    action, outcomes = table.get("action"), table.get("outcomes", {})
    params, sets_language = table.get("params", {}), table.get("sets_language", False)
    ok = True
    if not isinstance(action, str) or not action:
        parsed.problem(sid, "an action screen needs action = \"<action name>\"")
        ok = False
    if not isinstance(outcomes, dict) or not all(
        isinstance(value, str) and value for value in outcomes.values()
    ):
        parsed.problem(sid, "outcomes must be a table of outcome = \"<screen id>\"")
        ok = False
    elif not outcomes:
        parsed.problem(sid, "an action screen needs at least one outcome leading to a screen")
        ok = False
    if not isinstance(params, dict) or not all(isinstance(v, str) for v in params.values()):
        parsed.problem(sid, "params must be a table of name = \"text\"")
        ok = False
    if not isinstance(sets_language, bool):
        parsed.problem(sid, "sets_language must be true or false")
        ok = False
    elif sets_language and (not isinstance(params, dict) or "language" not in params):
        parsed.problem(sid, "sets_language = true needs params.language")
        ok = False
    if not ok:
        return None
    assert isinstance(action, str)
    return ActionScreen(sid, action, dict(outcomes), dict(params), sets_language)


def _text(parsed: ParsedFile, sid: str, what: str, value: Any) -> Text | None:
    if isinstance(value, str):
        parsed.problem(sid, f"{what} must be given per language, e.g. {what}.ru = \"...\"")
        return None
    if not isinstance(value, dict) or not value:
        parsed.problem(sid, f"missing {what} (a table of language = \"text\")")
        return None
    for language, text in value.items():
        if not isinstance(text, str) or not text.strip():
            parsed.problem(sid, f"{what}.{language} must be non-empty text")
            return None
    return {language: text.strip() for language, text in value.items()}
