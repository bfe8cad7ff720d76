"""Load-time checks on one menu: every way out leads somewhere, every screen is reachable,
translated, fits (after paging), and names only known actions; with the actions' declarations,
also their outcomes and the placeholders they fill (menus/contract_checks.py). Pure: no I/O."""

from __future__ import annotations

from collections.abc import Mapping

from menus.contract_checks import ProblemSink, check_against_contract
from menus.contracts import MenuContract
from menus.errors import MenuProblem
from menus.gsm import capacity, encoding_for, fits, length_in
from menus.limits import ScreenLimits
from menus.paging import paginate
from menus.render import pick, screen_text
from menus.spec import (
    DEFAULT_SCREEN_PREFIX,
    ActionScreen,
    ChoiceScreen,
    Menu,
    ScreenSpec,
    Text,
    targets,
    texts,
)

# How wide a {placeholder} is assumed to be when checking that a screen fits.
PLACEHOLDER_WIDTH = 16


class _SampleValues(dict[str, str]):
    def get(self, key: str, default: str | None = None) -> str:  # type: ignore[override]
        return "X" * PLACEHOLDER_WIDTH


def check_menu(
    menu: Menu,
    messages: Mapping[str, Text],
    limits: ScreenLimits,
    contract: MenuContract | None,
) -> list[MenuProblem]:
    """``contract``: the actions' declarations, to check action names, outcomes and
    placeholders; None checks no action."""
    problems: list[MenuProblem] = []
    action_names = frozenset(contract.actions) if contract is not None else None

    def problem(screen: str | None, reason: str) -> None:
        problems.append(MenuProblem(menu.file, screen, reason))

    if menu.start not in menu.screens:
        problem(None, f"start screen {menu.start!r} does not exist")
    for screen in menu.screens.values():
        for what, target in targets(screen):
            if target not in menu.screens:
                problem(screen.id, f"{what} leads to unknown screen {target!r}")
        _check_screen(menu, screen, messages, limits, action_names, problem)
    if menu.start in menu.screens:
        reached = _reachable(menu)
        for screen_id in menu.screens:
            if screen_id not in reached and not screen_id.startswith(DEFAULT_SCREEN_PREFIX):
                problem(screen_id, f"unreachable: no way leads here from {menu.start!r}")
    for screen_id in _action_loops(menu):
        problem(screen_id, "actions lead to each other in a loop without a screen in between")
    if contract is not None:
        check_against_contract(menu, contract, problem)
    return problems


def check_messages(
    file: str, messages: Mapping[str, Text], languages: set[str], limits: ScreenLimits
) -> list[MenuProblem]:
    """Every message translated, short enough to end a session on one screen."""
    problems = []
    for key, text in messages.items():
        for language in sorted(languages - set(text)):
            reason = f"missing translation {language!r}"
            problems.append(MenuProblem(file, f"message:{key}", reason))
        for language, wording in text.items():
            if not fits(wording, limits):
                reason = f"({language}) does not fit one screen, and it may end a session"
                problems.append(MenuProblem(file, f"message:{key}", reason))
    for language in sorted(languages):
        more = messages["more"].get(language, "")
        back = messages["back"].get(language, "")
        if len(more) + len(back) > limits.ucs2_chars // 3:
            reason = f"more/back labels ({language}) leave too little room on a page"
            problems.append(MenuProblem(file, "message:more", reason))
    return problems


def _check_screen(
    menu: Menu,
    screen: ScreenSpec,
    messages: Mapping[str, Text],
    limits: ScreenLimits,
    action_names: frozenset[str] | None,
    problem: ProblemSink,
) -> None:
    shared = screen.id.startswith(DEFAULT_SCREEN_PREFIX)  # its texts are checked as messages
    for what, text in [] if shared else texts(screen):
        for language in menu.languages:
            if language not in text:
                problem(screen.id, f"missing translation {language!r} of {what}")
    if isinstance(screen, ChoiceScreen):
        keys = [option.key for option in screen.options]
        for key in sorted({key for key in keys if keys.count(key) > 1}):
            problem(screen.id, f"option key {key!r} is used twice")
        for key in sorted(set(keys) & limits.navigation_keys):
            problem(screen.id, f"option key {key!r} is a navigation key (more/back/home)")
    if isinstance(screen, ActionScreen):
        if action_names is not None and screen.action not in action_names:
            problem(screen.id, f"action {screen.action!r} does not exist")
        switch_to = screen.params.get("language")
        if screen.sets_language and switch_to not in menu.languages:
            problem(screen.id, f"params.language {switch_to!r} is not a language of this menu")
        return
    for language in menu.languages:
        more_line = f"{limits.more_key} {pick(messages['more'], language, menu.languages)}"
        back_line = f"{limits.back_key} {pick(messages['back'], language, menu.languages)}"
        _check_fits(menu, screen, language, (more_line, back_line), limits, problem)


def _check_fits(
    menu: Menu,
    screen: ScreenSpec,
    language: str,
    footer: tuple[str, str],
    limits: ScreenLimits,
    problem: ProblemSink,
) -> None:
    text = screen_text(screen, language, menu.languages, _SampleValues())
    more_line, back_line = footer
    encoding = encoding_for(text + more_line + back_line)
    room = capacity(encoding, limits) - length_in(more_line + back_line, encoding) - 2
    for word in text.split():
        if length_in(word, encoding) > room:
            problem(
                screen.id,
                f"the word {word[:20]!r}... ({language}) cannot fit on a screen even after paging",
            )
            return
    try:
        paginate(text, more_line, back_line, limits)
    except ValueError as error:
        problem(screen.id, f"cannot fit even after paging ({language}): {error}")


def _reachable(menu: Menu) -> set[str]:
    seen = {menu.start}
    queue = [menu.start]
    while queue:
        screen = menu.screens.get(queue.pop())
        if screen is None:
            continue
        for _, target in targets(screen):
            if target not in seen:
                seen.add(target)
                queue.append(target)
    return seen


def _action_loops(menu: Menu) -> list[str]:
    """Action screens from which outcomes alone (no subscriber answer) lead back to them."""
    looping = []
    for screen in menu.screens.values():
        if not isinstance(screen, ActionScreen):
            continue
        seen: set[str] = set()
        queue = [target for _, target in targets(screen)]
        while queue:
            current = queue.pop()
            if current == screen.id:
                looping.append(screen.id)
                break
            following = menu.screens.get(current)
            if current in seen or not isinstance(following, ActionScreen):
                continue
            seen.add(current)
            queue.extend(target for _, target in targets(following))
    return looping
