"""The menu engine: sans-IO, it decides the next screen and never awaits anything.

The gateway runs the actions the engine asks for (``ActionCall``) and feeds the outcome
back through ``resolve``. Subscriber-visible trouble (unknown code, malformed dial string,
a screen gone after a reload, too many wrong answers) is a polite final ``Screen``, never
an exception.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from menus.gsm import Encoding, encoding_for, fits
from menus.limits import ScreenLimits
from menus.machine import VALID_INPUT, choice_trigger, destination, outcome_trigger
from menus.messages import DEFAULT_OUTCOME_MESSAGES
from menus.paging import paginate
from menus.render import fill, pick, screen_text
from menus.show import show_menu
from menus.spec import (
    DEFAULT_SCREEN_PREFIX,
    ActionScreen,
    ChoiceScreen,
    EndScreen,
    InputScreen,
    Menu,
    MenuSet,
    ScreenSpec,
)
from menus.state import SessionState
from menus.validators import validate

__all__ = [
    "ActionCall",
    "MenuEngine",
    "Screen",
    "ScreenLimits",
    "SessionState",
    "Step",
    "show_menu",
]

# *111#, *111*828*1#; the closing # is optional because some centres strip it.
_DIAL = re.compile(r"\*(\d{1,6})((?:\*\d{1,32})*)#?")
_SCREEN_ERROR = "screen_error"
_TRAIL_LIMIT = 16
_ERROR_SCREEN = f"{DEFAULT_SCREEN_PREFIX}error"


@dataclass(frozen=True)
class Screen:
    """One USSD string to send. ``final`` ends the session; ``state`` is kept otherwise."""

    text: str
    final: bool
    state: SessionState
    encoding: Encoding = "gsm7"


@dataclass(frozen=True)
class ActionCall:
    """Run ``action`` with ``inputs``, then call ``MenuEngine.resolve(state, outcome, values)``."""

    action: str
    inputs: Mapping[str, str]
    state: SessionState


Step = Screen | ActionCall


class MenuEngine:
    def __init__(
        self,
        menus: MenuSet,
        limits: ScreenLimits = ScreenLimits(),  # noqa: B008 - frozen, so sharing is safe
        default_language: str = "ru",
    ) -> None:
        self._set = menus
        self._limits = limits
        self._default_language = default_language
        self._check_footers_fit()

    @property
    def menus(self) -> MenuSet:
        return self._set

    @property
    def codes(self) -> frozenset[str]:
        """Service codes served, digits only ("111" for *111#)."""
        return self._set.codes

    @property
    def actions(self) -> frozenset[str]:
        return self._set.actions

    def begin(
        self, dialed: str, language: str | None, values: Mapping[str, str] | None = None
    ) -> Step:
        """A subscriber dialed ``dialed`` (e.g. "*111*828*1#").

        ``values`` fill placeholders from the first screen on (e.g. {"msisdn": ...}).
        """
        requested = language or self._default_language
        match = _DIAL.fullmatch(dialed.strip().replace(" ", ""))
        if match is None:
            return self.final_message("bad_request", requested)
        code = match.group(1)
        menu = self._set.menus.get(code)
        if menu is None:
            return self.final_message("unknown_code", requested, code)
        direct_inputs = tuple(part for part in match.group(2).split("*") if part)
        state = SessionState(
            code,
            menu.start,
            self._menu_language(menu, language),
            values=dict(values or {}),
            pending=direct_inputs,
            given=dict(values or {}),
        )
        return self._run(menu, state)

    def advance(self, state: SessionState, text: str) -> Step:
        """The subscriber answered ``text`` on the screen ``state`` shows."""
        menu = self._set.menus.get(state.code)
        screen = menu.screens.get(state.screen) if menu else None
        if menu is None or screen is None or isinstance(screen, ActionScreen):
            return self.final_message("menu_changed", state.language, state.code)
        if state.pending:
            state = state.evolve(pending=())
        answered = self._answer(menu, screen, state, text.strip())
        if isinstance(answered, Screen):
            return answered
        return self._run(menu, answered)

    def resolve(self, state: SessionState, outcome: str, values: Mapping[str, str]) -> Step:
        """The action of ``state``'s screen finished with ``outcome`` and ``values``."""
        menu = self._set.menus.get(state.code)
        screen = menu.screens.get(state.screen) if menu else None
        if menu is None or not isinstance(screen, ActionScreen):
            return self.final_message("menu_changed", state.language, state.code)
        target = destination(menu.machine, screen.id, outcome_trigger(outcome))
        merged = {**state.values, **{str(k): str(v) for k, v in values.items()}}
        language = state.language
        succeeded = outcome in screen.outcomes and outcome not in DEFAULT_OUTCOME_MESSAGES
        if screen.sets_language and succeeded:
            language = self._menu_language(menu, screen.params.get("language"))
        state = state.evolve(values=merged, language=language)
        return self._run(menu, self._enter(state, target or _ERROR_SCREEN, came_from=None))

    def resume(self, state: SessionState) -> Step:
        """Show again the screen a subscriber left (redial within the grace period)."""
        menu = self._set.menus.get(state.code)
        if menu is None or state.screen not in menu.screens:
            return self.final_message("menu_changed", state.language, state.code)
        return self._run(menu, state.evolve(pending=(), notice=""))

    def final_message(self, key: str, language: str | None, code: str = "") -> Screen:
        """A final screen with one of the engine's messages (e.g. "service_unavailable")."""
        text_by_language = self._set.messages[key]
        chosen = self._default_language
        if language is not None and language in text_by_language:
            chosen = language
        text = pick(text_by_language, chosen, ("en",))
        state = SessionState(code, "", chosen)
        return Screen(text, True, state, encoding_for(text))

    def _check_footers_fit(self) -> None:
        """Refuse, at start-up or reload rather than on a handset, limits too small to page."""
        messages = self._set.messages
        for language in {*messages["more"], *messages["back"]}:
            fallbacks = (self._default_language, "en")
            more_line = f"{self._limits.more_key} {pick(messages['more'], language, fallbacks)}"
            back_line = f"{self._limits.back_key} {pick(messages['back'], language, fallbacks)}"
            paginate("x " * 200 + "Ж", more_line, back_line, self._limits)

    def _menu_language(self, menu: Menu, requested: str | None) -> str:
        for language in (requested, self._default_language):
            if language in menu.languages:
                return language
        return menu.languages[0]

    def _run(self, menu: Menu, state: SessionState) -> Step:
        """Enter ``state``'s screen: ask for its action, or consume pending direct-string
        inputs, or show it."""
        while True:
            screen = menu.screens.get(state.screen)
            if screen is None:
                return self.final_message("menu_changed", state.language, state.code)
            if isinstance(screen, ActionScreen):
                inputs = {**state.inputs, **screen.params}
                return ActionCall(screen.action, inputs, state)
            if not state.pending:
                return self._show(menu, screen, state)
            if self._is_last_end_page(menu, screen, state):
                return self._show(menu, screen, state.evolve(pending=()))
            reply, rest = state.pending[0], state.pending[1:]
            answered = self._answer(menu, screen, state.evolve(pending=rest), reply)
            if isinstance(answered, Screen):
                return answered
            # A wrong input in a direct string shows that screen with the reason.
            state = answered.evolve(pending=()) if answered.notice else answered

    def _answer(
        self, menu: Menu, screen: ScreenSpec, state: SessionState, reply: str
    ) -> SessionState | Screen:
        limits = self._limits
        if isinstance(screen, ChoiceScreen) and screen.option(reply) is not None:
            target = destination(menu.machine, screen.id, choice_trigger(reply))
            return self._enter(state, target or _ERROR_SCREEN, came_from=screen.id)
        if self._is_last_end_page(menu, screen, state):
            return self._show(menu, screen, state)
        if reply == limits.more_key and state.page + 1 < len(self._pages(menu, screen, state)):
            return state.evolve(page=state.page + 1)
        if reply == limits.back_key:
            if state.page > 0:
                return state.evolve(page=state.page - 1)
            if state.trail:
                return state.evolve(
                    screen=state.trail[-1], trail=state.trail[:-1], page=0, retries=0, notice=""
                )
            return state.evolve(notice="")
        if reply == limits.home_key:
            return state.evolve(
                screen=menu.start, trail=(), page=0, retries=0, notice="", inputs={},
                values=dict(state.given),
            )
        if isinstance(screen, InputScreen):
            verdict = validate(screen.validator, reply)
            if verdict.ok:
                target = destination(menu.machine, screen.id, VALID_INPUT)
                state = state.evolve(inputs={**state.inputs, screen.name: verdict.value})
                return self._enter(state, target or _ERROR_SCREEN, came_from=screen.id)
            return self._wrong(state, _SCREEN_ERROR if screen.error else verdict.message)
        return self._wrong(state, "wrong_choice")

    def _wrong(self, state: SessionState, notice: str) -> SessionState | Screen:
        if state.retries >= self._limits.max_retries:
            return self.final_message("too_many_tries", state.language, state.code)
        return state.evolve(retries=state.retries + 1, notice=notice, page=0)

    def _enter(self, state: SessionState, target: str, came_from: str | None) -> SessionState:
        trail = state.trail
        if came_from is not None:
            trail = (*trail, came_from)[-_TRAIL_LIMIT:]
        return state.evolve(screen=target, trail=trail, page=0, retries=0, notice="")

    def _is_last_end_page(self, menu: Menu, screen: ScreenSpec, state: SessionState) -> bool:
        return isinstance(screen, EndScreen) and state.page + 1 >= len(
            self._pages(menu, screen, state)
        )

    def _show(self, menu: Menu, screen: ScreenSpec, state: SessionState) -> Screen:
        pages = self._pages(menu, screen, state)
        page = min(state.page, len(pages) - 1)
        text = pages[page]
        final = isinstance(screen, EndScreen) and page == len(pages) - 1
        if page != state.page:
            state = state.evolve(page=page)
        return Screen(text, final, state, encoding_for(text))

    def _pages(self, menu: Menu, screen: ScreenSpec, state: SessionState) -> tuple[str, ...]:
        language = state.language
        fallbacks = (self._default_language, *menu.languages)
        messages = self._set.messages
        variables = {**state.inputs, **state.values}
        notice = ""
        if state.notice == _SCREEN_ERROR and isinstance(screen, InputScreen) and screen.error:
            notice = fill(pick(screen.error, language, fallbacks), variables)
        elif state.notice in messages:
            notice = pick(messages[state.notice], language, fallbacks)
        body = screen_text(screen, language, fallbacks, variables, notice)
        more_line = f"{self._limits.more_key} {pick(messages['more'], language, fallbacks)}"
        back_line = f"{self._limits.back_key} {pick(messages['back'], language, fallbacks)}"
        if fits(body, self._limits):
            return (body,)
        return paginate(body, more_line, back_line, self._limits)
