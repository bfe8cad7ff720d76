"""Hypothesis walks random paths through every shipped menu and every test menu."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from menus import (
    ActionCall,
    MenuEngine,
    MenuSet,
    Screen,
    ScreenLimits,
    SessionState,
    Step,
    load_menus,
)
from menus.gsm import encoding_for, gsm7_length, is_gsm7, ucs2_length
from menus.spec import ActionScreen, ChoiceScreen, EndScreen, InputScreen, Menu, targets
from tests.test_menus_samples import SHIPPED, fixed_outcomes, test_menus

LIMITS = ScreenLimits()
HYPOTHESIS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def menu_set(tmp_path_factory: pytest.TempPathFactory) -> MenuSet:
    return load_menus([SHIPPED, test_menus(tmp_path_factory.mktemp("menus"))])


def assert_fits(screen: Screen) -> None:
    assert screen.text, "an empty screen"
    assert screen.encoding == encoding_for(screen.text)
    if is_gsm7(screen.text):
        assert gsm7_length(screen.text) <= LIMITS.gsm7_chars, screen.text
    else:
        assert ucs2_length(screen.text) <= LIMITS.ucs2_chars, screen.text


def assert_not_a_dead_end(menus: MenuSet, screen: Screen) -> None:
    """A screen left open must offer a way on: options, an input, or another page."""
    if screen.final:
        return
    spec = menus.menus[screen.state.code].screens[screen.state.screen]
    if isinstance(spec, EndScreen):
        footer = screen.text.splitlines()[-2:]
        assert any(line.startswith(f"{LIMITS.more_key} ") for line in footer), screen.text
    else:
        assert isinstance(spec, ChoiceScreen | InputScreen)


def replies_for(menu: Menu) -> st.SearchStrategy[str]:
    keys = {o.key for s in menu.screens.values() if isinstance(s, ChoiceScreen) for o in s.options}
    typed = ["9161234567", "89161234567", "100", "99,50", "1234", "0", "123456789012"]
    return st.one_of(
        st.sampled_from(sorted(keys) + typed + [LIMITS.more_key, LIMITS.back_key,
                                               LIMITS.home_key]),
        st.text(alphabet="0123456789*#", max_size=6),
        st.text(max_size=20),
    )


@st.composite
def action_results(draw: st.DrawFn, call: ActionCall, menus: MenuSet) -> tuple[str, dict[str, str]]:
    spec = menus.menus[call.state.code].screens[call.state.screen]
    assert isinstance(spec, ActionScreen)
    outcome = draw(st.sampled_from([*spec.outcomes, "no_such_outcome"]))
    filler = st.text(alphabet="0123456789.ЖЩЮRUB{} ", min_size=1, max_size=40)
    names = ["balance", "expires_minutes", "retry_after_minutes"]
    # A linked-numbers list: as many lines as an account group has numbers.
    numbers = "\n".join(draw(st.lists(filler, max_size=30)))
    return outcome, {**{name: draw(filler) for name in names}, "numbers": numbers}


def walk_randomly(data: st.DataObject, menus: MenuSet, engine: MenuEngine, step: Step) -> Screen:
    for _ in range(30):
        while isinstance(step, ActionCall):
            assert step.action in engine.actions
            outcome, values = data.draw(action_results(step, menus))
            step = engine.resolve(step.state, outcome, values)
        assert_fits(step)
        assert_not_a_dead_end(menus, step)
        if step.final:
            return step
        menu = menus.menus[step.state.code]
        step = engine.advance(step.state, data.draw(replies_for(menu)))
    assert isinstance(step, Screen)
    return step


@HYPOTHESIS
@given(data=st.data())
def test_random_walks_never_overflow_or_strand(menu_set: MenuSet, data: st.DataObject) -> None:
    engine = MenuEngine(menu_set)
    code = data.draw(st.sampled_from(sorted(menu_set.codes)))
    language = data.draw(st.sampled_from(["ru", "en", None, "de"]))
    direct = data.draw(st.lists(st.sampled_from(["1", "25", "828", "0", "9", "2", "00", "7"]),
                                max_size=3))
    dialed = "*" + "*".join([code, *direct]) + "#"
    walk_randomly(data, menu_set, engine, engine.begin(dialed, language))


def settle(engine: MenuEngine, step: Step) -> Screen:
    while isinstance(step, ActionCall):
        outcome, values = fixed_outcomes(step)
        step = engine.resolve(step.state, outcome, values)
    return step


def digit_keys(menu: Menu) -> st.SearchStrategy[str]:
    keys = {o.key for s in menu.screens.values() if isinstance(s, ChoiceScreen) for o in s.options}
    typed = ["9161234567", "100", "1234", "12", "00"]
    any_digits = st.from_regex(r"\d{1,4}", fullmatch=True)
    return st.one_of(st.sampled_from(sorted(keys) + typed), any_digits)


@HYPOTHESIS
@given(data=st.data())
def test_direct_strings_equal_step_by_step_walks(menu_set: MenuSet, data: st.DataObject) -> None:
    engine = MenuEngine(menu_set)
    code = data.draw(st.sampled_from(sorted(menu_set.codes)))
    language = data.draw(st.sampled_from(["ru", "en"]))
    keys = data.draw(st.lists(digit_keys(menu_set.menus[code]), min_size=1, max_size=5))

    walked = settle(engine, engine.begin(f"*{code}#", language))
    for key in keys:
        if walked.final or walked.state.notice:
            break
        walked = settle(engine, engine.advance(walked.state, key))
    direct = settle(engine, engine.begin("*" + "*".join([code, *keys]) + "#", language))

    assert direct.text == walked.text
    assert direct.final == walked.final
    assert direct.state.screen == walked.state.screen
    assert direct.state.inputs == walked.state.inputs


def test_every_screen_can_reach_an_end(menu_set: MenuSet) -> None:
    for menu in menu_set.menus.values():
        ends = {sid for sid, s in menu.screens.items() if isinstance(s, EndScreen)}
        for sid in menu.screens:
            seen, queue = {sid}, [sid]
            while queue:
                for _, target in targets(menu.screens[queue.pop()]):
                    if target not in seen:
                        seen.add(target)
                        queue.append(target)
            assert seen & ends, f"{menu.file}: {sid} never ends"


def test_sessions_get_no_machine_of_their_own(menu_set: MenuSet) -> None:
    engine = MenuEngine(menu_set)
    for _ in range(50):
        settle(engine, engine.begin("*111*828*1#", "ru"))
    for menu in menu_set.menus.values():
        assert menu.machine.models == []


def test_json_round_trip_of_states_met_on_walks(menu_set: MenuSet) -> None:
    engine = MenuEngine(menu_set)
    for dialed in ("*111#", "*111*828#", "*200*9161234567#", "*300*00*00#", "*300*1*1234#"):
        step = engine.begin(dialed, "ru")
        state = step.state
        assert SessionState.from_dict(json.loads(json.dumps(state.to_dict()))) == state
