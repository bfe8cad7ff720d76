"""Check one menu against what its actions declare (menus/contracts.py): outcome keys an action
never returns, outcomes it returns that the screen leaves to the "service unavailable" screen,
params it needs, and placeholders no value reaching the screen fills. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Callable
from difflib import get_close_matches

from menus.contracts import SHARED_OUTCOMES, ActionContract, MenuContract
from menus.spec import (
    DEFAULT_SCREEN_PREFIX,
    PLACEHOLDER,
    ActionScreen,
    ChoiceScreen,
    InputScreen,
    Menu,
    ScreenSpec,
    texts,
)

ProblemSink = Callable[[str | None, str], None]

# Behind an outcome nobody declared (unknown action, outcome key the action never returns)
# anything may be filled: that mistake is reported once, not again on every screen after it.
_ANY_VALUE = "*"


def check_against_contract(menu: Menu, contract: MenuContract, problem: ProblemSink) -> None:
    for screen in menu.screens.values():
        if isinstance(screen, ActionScreen):
            action = contract.actions.get(screen.action)
            if action is not None:
                _check_outcomes(screen, action, problem)
                for param, meaning in action.params.items():
                    if param not in screen.params:
                        problem(screen.id, f"action {screen.action!r} needs params.{param} "
                                           f"({meaning})")
    _check_placeholders(menu, contract, problem)


def _check_outcomes(screen: ActionScreen, action: ActionContract, problem: ProblemSink) -> None:
    unhandled = [outcome for outcome in action.outcomes if outcome not in screen.outcomes]
    known = sorted({*action.outcomes, *SHARED_OUTCOMES})
    for key in screen.outcomes:
        if action.returns(key):
            continue
        close = get_close_matches(key, unhandled, n=1) or get_close_matches(key, known, n=1)
        if close and close[0] in unhandled:
            unhandled.remove(close[0])  # the typo is the one mistake: report it once
        hint = f"; did you mean {close[0]!r}?" if close else ""
        problem(screen.id, f"outcome {key!r}: action {screen.action!r} never returns it "
                           f"(it returns {', '.join(known)}){hint}")
    for outcome in unhandled:
        when = action.outcomes[outcome].when
        problem(screen.id, f"outcome {outcome!r} of action {screen.action!r} ({when}) is not "
                           "handled: the subscriber would get the \"service unavailable\" "
                           f"screen instead; add outcomes.{outcome} = \"<screen>\"")


def _check_placeholders(menu: Menu, contract: MenuContract, problem: ProblemSink) -> None:
    available = _available_values(menu, contract)
    for screen_id, screen in menu.screens.items():
        filled = available.get(screen_id)
        if filled is None or _ANY_VALUE in filled or screen_id.startswith(DEFAULT_SCREEN_PREFIX):
            continue  # unreachable (reported as such), or anything may be filled
        for what, text in texts(screen):
            languages_by_name: dict[str, list[str]] = {}
            for language, template in text.items():
                for name in PLACEHOLDER.findall(template):
                    if name not in filled and language not in languages_by_name.get(name, []):
                        languages_by_name.setdefault(name, []).append(language)
            for name, languages in languages_by_name.items():
                problem(screen_id, _unfilled(name, what, languages, filled))


def _unfilled(name: str, what: str, languages: list[str], filled: set[str]) -> str:
    listed = ", ".join(f"{{{value}}}" for value in sorted(filled)) or "none"
    close = get_close_matches(name, sorted(filled), n=1)
    hint = f"; did you mean {{{close[0]}}}?" if close else ""
    return (f"{{{name}}} in {what} ({', '.join(languages)}) is filled by nothing on the way "
            f"here and would show as nothing (filled here: {listed}){hint}")


def _available_values(menu: Menu, contract: MenuContract) -> dict[str, set[str]]:
    """Screen id -> every value some path from the start fills by the time it shows.

    A union over paths: a value one path fills is accepted, so the check raises no false
    alarm where paths differ. Values accumulate along a path (what was typed, what actions
    returned) and the dial values are there from the first screen on.
    """
    available: dict[str, set[str]] = {menu.start: set(contract.dial_values)}
    queue = [menu.start]
    while queue:
        current = queue.pop()
        screen = menu.screens.get(current)
        if screen is None:
            continue
        for target, gained in _ways_out(screen, contract):
            if target not in menu.screens:
                continue
            arriving = available[current] | gained
            if target not in available or not arriving <= available[target]:
                available.setdefault(target, set()).update(arriving)
                queue.append(target)
    return available


def _ways_out(screen: ScreenSpec, contract: MenuContract) -> list[tuple[str, frozenset[str]]]:
    """(target, values filled on the way there) for every way out of ``screen``."""
    if isinstance(screen, ChoiceScreen):
        return [(option.next, frozenset()) for option in screen.options]
    if isinstance(screen, InputScreen):
        return [(screen.next, frozenset({screen.name}))]
    if isinstance(screen, ActionScreen):
        action = contract.actions.get(screen.action)
        return [
            (target, action.values_of(outcome) if action is not None and action.returns(outcome)
             else frozenset({_ANY_VALUE}))
            for outcome, target in screen.outcomes.items()
        ]
    return []
