"""Read menu files into one immutable MenuSet, or refuse them all with every problem found.

Loading is atomic: either every file is valid and a new MenuSet comes back, or MenuError is
raised and nothing the caller holds has changed (reload keeps the old set serving).
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

from menus.checks import check_menu, check_messages
from menus.contracts import MenuContract
from menus.errors import MenuError, MenuProblem
from menus.limits import ScreenLimits
from menus.machine import build_machine
from menus.messages import BUILTIN_MESSAGES, DEFAULT_OUTCOME_MESSAGES
from menus.parse import ParsedFile, parse_document
from menus.spec import (
    DEFAULT_SCREEN_PREFIX,
    ActionScreen,
    EndScreen,
    Menu,
    MenuSet,
    ScreenSpec,
    Text,
)


def load_menus(
    paths: Sequence[Path],
    contract: MenuContract | None = None,
    limits: ScreenLimits | None = None,
) -> MenuSet:
    """Paths are files or directories (a directory means its ``*.toml``). ``contract``: the
    actions' declarations, to check the actions menus name, their outcomes and placeholders.

    Raises MenuError listing every problem (file, screen, reason) if anything is wrong.
    """
    menus, problems = _load(paths, contract, limits or ScreenLimits())
    if problems or menus is None:
        raise MenuError(problems)
    return menus


def check_menus(
    paths: Sequence[Path],
    contract: MenuContract | None = None,
    limits: ScreenLimits | None = None,
) -> list[MenuProblem]:
    """Every problem in the files; an empty list means ``load_menus`` would succeed."""
    return _load(paths, contract, limits or ScreenLimits())[1]


def menu_files(paths: Sequence[Path]) -> tuple[list[Path], list[MenuProblem]]:
    files: list[Path] = []
    problems: list[MenuProblem] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(path.glob("*.toml")))
        elif path.is_file():
            files.append(path)
        else:
            problems.append(MenuProblem(str(path), None, "no such file or directory"))
    if not files and not problems:
        problems.append(MenuProblem(", ".join(map(str, paths)), None, "no menu files found"))
    return files, problems


def _load(
    paths: Sequence[Path],
    contract: MenuContract | None,
    limits: ScreenLimits,
) -> tuple[MenuSet | None, list[MenuProblem]]:
    files, problems = menu_files(paths)
    parsed_files: list[ParsedFile] = []
    for file in files:
        try:
            document = tomllib.loads(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
            problems.append(MenuProblem(str(file), None, f"cannot read: {error}"))
            continue
        parsed = parse_document(str(file), document)
        problems.extend(parsed.problems)
        parsed_files.append(parsed)

    messages, message_problems = _merge_messages(parsed_files)
    problems.extend(message_problems)
    menus: dict[str, Menu] = {}
    languages: set[str] = set()
    for parsed in parsed_files:
        if parsed.code is None or parsed.problems:
            continue
        if parsed.code in menus:
            first = menus[parsed.code].file
            problems.append(
                MenuProblem(parsed.file, None, f"duplicate code *{parsed.code}# (also in {first})")
            )
            continue
        menu = _with_default_outcomes(parsed, messages)
        problems.extend(check_menu(menu, messages, limits, contract))
        languages.update(menu.languages)
        menus[parsed.code] = menu
    message_file = next((p.file for p in parsed_files if p.messages), "[messages] (built-in)")
    problems.extend(check_messages(message_file, messages, languages, limits))
    if problems:
        return None, problems
    compiled = {
        code: replace(menu, machine=build_machine(menu.start, menu.screens))
        for code, menu in menus.items()
    }
    menu_set = MenuSet(
        menus=MappingProxyType(compiled),
        messages=MappingProxyType(messages),
        files=tuple(str(file) for file in files),
    )
    return menu_set, []


def _merge_messages(
    parsed_files: list[ParsedFile],
) -> tuple[dict[str, Text], list[MenuProblem]]:
    messages: dict[str, Text] = dict(BUILTIN_MESSAGES)
    overridden: dict[str, str] = {}
    problems: list[MenuProblem] = []
    for parsed in parsed_files:
        for key, text in parsed.messages.items():
            if key not in BUILTIN_MESSAGES:
                known = ", ".join(sorted(BUILTIN_MESSAGES))
                problems.append(
                    MenuProblem(parsed.file, f"message:{key}", f"unknown message (known: {known})")
                )
            elif key in overridden:
                problems.append(
                    MenuProblem(
                        parsed.file, f"message:{key}", f"already set in {overridden[key]}"
                    )
                )
            else:
                overridden[key] = parsed.file
                messages[key] = text
    return messages, problems


def _with_default_outcomes(parsed: ParsedFile, messages: dict[str, Text]) -> Menu:
    """Give every action the outcomes all actions may return (error, not_subscriber),
    leading to shared end screens unless the menu maps them itself."""
    defaults = {name: f"{DEFAULT_SCREEN_PREFIX}{name}" for name in DEFAULT_OUTCOME_MESSAGES}
    screens: dict[str, ScreenSpec] = {}
    for sid, screen in parsed.screens.items():
        if isinstance(screen, ActionScreen):
            unmapped = {k: v for k, v in defaults.items() if k not in screen.outcomes}
            screen = replace(screen, outcomes={**screen.outcomes, **unmapped})
        screens[sid] = screen
    for name, message in DEFAULT_OUTCOME_MESSAGES.items():
        screens[defaults[name]] = EndScreen(defaults[name], messages[message])
    return Menu(
        code=parsed.code or "",
        file=parsed.file,
        start=parsed.start,
        languages=parsed.languages,
        screens=MappingProxyType(screens),
    )
