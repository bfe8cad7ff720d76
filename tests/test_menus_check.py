"""`menus check`: each class of mistake in a menu file is caught, named by file and screen."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from menus import MenuEngine, MenuError, MenuProblem, Screen, check_menus, load_menus
from menus.contracts import MenuContract, actions_table
from tests.gateway_stack import running_stack
from tests.test_menus_samples import SHIPPED, dial, write_menus
from ussd_gateway.actions import MENU_CONTRACT

ENGLISH = "79160000002"  # a demo subscriber who reads English

GOOD = """
[menu]
code = "*123#"
start = "main"

[screens.main]
type = "choice"
text.ru = "Меню"
text.en = "Menu"

[[screens.main.options]]
key = "1"
label.ru = "Баланс"
label.en = "Balance"
next = "fetch"

[screens.fetch]
type = "action"
action = "balance"
outcomes.ok = "shown"

[screens.shown]
type = "end"
text.ru = "Баланс: {balance}"
text.en = "Balance: {balance}"
"""


def problems_for(
    tmp_path: Path, text: str, contract: MenuContract | None = None
) -> list[MenuProblem]:
    directory = write_menus(tmp_path / "menus", broken=text)
    return check_menus([directory], contract)


def only_problem(problems: list[MenuProblem]) -> MenuProblem:
    assert len(problems) == 1, problems
    assert problems[0].file.endswith("broken.toml")
    return problems[0]


def test_the_good_file_has_no_problems(tmp_path: Path) -> None:
    assert problems_for(tmp_path, GOOD) == []


def test_shipped_menus_have_no_problems() -> None:
    assert check_menus([SHIPPED]) == []


def test_unknown_target(tmp_path: Path) -> None:
    problems = problems_for(tmp_path, GOOD.replace('"shown"', '"shwon"'))
    assert problems[0].screen == "fetch"
    assert problems[0].reason == "outcome ok leads to unknown screen 'shwon'"
    # ...which also leaves the real screen stranded.
    assert problems[1].screen == "shown" and "unreachable" in problems[1].reason


def test_unreachable_screen(tmp_path: Path) -> None:
    text = GOOD + '\n[screens.orphan]\ntype = "end"\ntext.ru = "Я"\ntext.en = "Me"\n'
    problem = only_problem(problems_for(tmp_path, text))
    assert problem.screen == "orphan"
    assert "unreachable" in problem.reason


def test_missing_action(tmp_path: Path) -> None:
    only_password = MenuContract({"password.issue": MENU_CONTRACT.actions["password.issue"]})
    problems = problems_for(tmp_path, GOOD, contract=only_password)
    problem = only_problem(problems)
    assert problem.screen == "fetch"
    assert "action 'balance' does not exist" in problem.reason


def test_missing_translation(tmp_path: Path) -> None:
    text = GOOD.replace('text.en = "Balance: {balance}"', "")
    problem = only_problem(problems_for(tmp_path, text))
    assert problem.screen == "shown"
    assert "missing translation 'en'" in problem.reason


def test_screen_that_cannot_fit_even_after_paging(tmp_path: Path) -> None:
    endless = "Д" * 90
    problem = only_problem(problems_for(tmp_path, GOOD.replace("Баланс: {balance}", endless)))
    assert problem.screen == "shown"
    assert "cannot fit on a screen even after paging" in problem.reason


def test_duplicate_codes(tmp_path: Path) -> None:
    directory = write_menus(tmp_path / "menus", a=GOOD, b=GOOD.replace("*123#", "123"))
    problems = check_menus([directory])
    assert len(problems) == 1
    assert problems[0].file.endswith("b.toml")
    assert "duplicate code *123#" in problems[0].reason
    assert "a.toml" in problems[0].reason


def test_unreadable_toml(tmp_path: Path) -> None:
    problem = only_problem(problems_for(tmp_path, GOOD + "\n[screens.main\n"))
    assert problem.reason.startswith("cannot read:")


def test_unknown_screen_type_and_typo_keys(tmp_path: Path) -> None:
    text = GOOD.replace('type = "end"', 'type = "finish"').replace("outcomes.ok", "outcome.ok")
    problems = problems_for(tmp_path, text)
    reasons = {(p.screen, p.reason) for p in problems}
    assert ("shown", "type 'finish' is not one of choice, input, action, end") in reasons
    assert any(s == "fetch" and "unknown key 'outcome'" in r for s, r in reasons)


def test_choice_key_that_clashes_with_navigation(tmp_path: Path) -> None:
    problem = only_problem(problems_for(tmp_path, GOOD.replace('key = "1"', 'key = "00"')))
    assert problem.screen == "main"
    assert "navigation key" in problem.reason


def test_duplicate_option_key(tmp_path: Path) -> None:
    extra = '\n[[screens.main.options]]\nkey = "1"\nlabel.ru = "Ещё"\nlabel.en = "More"\n' \
        'next = "shown"\n'
    text = GOOD.replace("\n[screens.fetch]", extra + "\n[screens.fetch]")
    problem = only_problem(problems_for(tmp_path, text))
    assert "option key '1' is used twice" in problem.reason


def test_actions_looping_without_a_screen(tmp_path: Path) -> None:
    text = GOOD.replace('outcomes.ok = "shown"', 'outcomes.ok = "fetch"')
    problems = problems_for(tmp_path, text)
    assert any(p.screen == "fetch" and "loop" in p.reason for p in problems)


def test_unknown_message_override(tmp_path: Path) -> None:
    directory = write_menus(
        tmp_path / "menus", a=GOOD, messages='[messages.helo]\nru = "Привет"\nen = "Hi"\n'
    )
    problems = check_menus([directory])
    assert [(p.screen, "unknown message" in p.reason) for p in problems] == [("message:helo", True)]


def test_missing_path(tmp_path: Path) -> None:
    problems = check_menus([tmp_path / "nope"])
    assert problems == [MenuProblem(str(tmp_path / "nope"), None, "no such file or directory")]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = GOOD.replace('"shown"', '"shwon"').replace('text.en = "Menu"', "")
    with pytest.raises(MenuError) as caught:
        load_menus([write_menus(tmp_path / "menus", broken=text)])
    assert len(caught.value.problems) >= 2
    message = str(caught.value)
    assert "broken.toml: screen 'fetch'" in message
    assert "broken.toml: screen 'main'" in message


def test_a_broken_reload_changes_nothing(tmp_path: Path) -> None:
    directory = write_menus(tmp_path / "menus", good=GOOD)
    engine = MenuEngine(load_menus([directory]))
    before = dial(engine, "*123#", "en")
    write_menus(directory, good=GOOD.replace('"shown"', '"shwon"'))
    with pytest.raises(MenuError):
        engine = MenuEngine(load_menus([directory]))
    after = engine.advance(before.state, "1")
    assert not isinstance(after, Screen)
    assert after.action == "balance"


def test_message_overrides_are_used(tmp_path: Path) -> None:
    directory = write_menus(
        tmp_path / "menus",
        good=GOOD,
        messages='[messages.wrong_choice]\nru = "Ошибка."\nen = "Oops."\n',
    )
    engine = MenuEngine(load_menus([directory]))
    screen = engine.advance(dial(engine, "*123#", "en").state, "7")
    assert isinstance(screen, Screen)
    assert screen.text.startswith("Oops.\nMenu")


def test_an_engine_refuses_limits_too_small_for_its_footer(tmp_path: Path) -> None:
    from menus import ScreenLimits

    directory = write_menus(
        tmp_path / "menus",
        good=GOOD,
        messages='[messages.more]\nru = "Дальше по списку"\nen = "Further down"\n',
    )
    menus = load_menus([directory])
    with pytest.raises(ValueError, match="no room"):
        MenuEngine(menus, ScreenLimits(gsm7_chars=20, ucs2_chars=20))


# ---- what the actions declare (ussd_gateway/actions.py MENU_CONTRACT) -----------------------

SELFCARE = (SHIPPED / "selfcare.toml").read_text(encoding="utf-8")


def selfcare_problems(tmp_path: Path, old: str, new: str) -> list[MenuProblem]:
    """The problems `menus check` finds after an operator's edit of the shipped *111#."""
    assert old in SELFCARE
    directory = write_menus(tmp_path / "menus", selfcare=SELFCARE.replace(old, new))
    problems = check_menus([directory], MENU_CONTRACT)
    assert all(problem.file.endswith("selfcare.toml") for problem in problems), problems
    return problems


def test_the_shipped_menus_keep_what_the_actions_declare() -> None:
    assert check_menus([SHIPPED], MENU_CONTRACT) == []


def test_a_misspelled_outcome_is_named_with_the_known_ones_and_a_suggestion(
    tmp_path: Path,
) -> None:
    problems = selfcare_problems(tmp_path, "outcomes.rate_limited", "outcomes.rate_limted")
    assert [(p.screen, p.reason) for p in problems] == [(
        "password",
        "outcome 'rate_limted': action 'password.issue' never returns it (it returns error, "
        "not_subscriber, ok, rate_limited); did you mean 'rate_limited'?",
    )]


ALREADY_ENABLED = SELFCARE[
    SELFCARE.index("[screens.numbers_already_enabled]"):SELFCARE.index("[screens.numbers_disabled]")
]
WITHOUT_ALREADY_ENABLED = SELFCARE.replace(ALREADY_ENABLED, "").replace(
    'outcomes.already_enabled = "numbers_already_enabled"\n', "")


def test_an_outcome_left_out_is_named(tmp_path: Path) -> None:
    problems = selfcare_problems(tmp_path, SELFCARE, WITHOUT_ALREADY_ENABLED)
    assert [(p.screen, p.reason) for p in problems] == [(
        "numbers_enable",
        "outcome 'already_enabled' of action 'numbers.enable' (it was on already) is not "
        'handled: the subscriber would get the "service unavailable" screen instead; add '
        'outcomes.already_enabled = "<screen>"',
    )]


def test_error_and_not_subscriber_may_be_left_to_the_shared_screens_or_mapped(
    tmp_path: Path,
) -> None:
    mapped = 'outcomes.rate_limited = "password_wait"\noutcomes.error = "password_wait"\n'
    assert selfcare_problems(tmp_path, 'outcomes.rate_limited = "password_wait"\n', mapped) == []


def test_a_misspelled_placeholder_is_named_with_a_suggestion(tmp_path: Path) -> None:
    problems = selfcare_problems(
        tmp_path, 'text.en = "Your balance: {balance}"', 'text.en = "Your balance: {balanse}"')
    assert [(p.screen, p.reason) for p in problems] == [(
        "balance_shown",
        "{balanse} in text (en) is filled by nothing on the way here and would show as "
        "nothing (filled here: {balance}, {msisdn}); did you mean {balance}?",
    )]


def test_a_placeholder_of_another_outcome_is_not_filled(tmp_path: Path) -> None:
    # password_sent follows the ok outcome; only rate_limited fills {retry_after_minutes}.
    problems = selfcare_problems(tmp_path, "Действует {expires_minutes} мин.",
                                 "Повтор через {retry_after_minutes} мин.")
    assert [(p.screen, p.reason.split(" is filled")[0]) for p in problems] == [
        ("password_sent", "{retry_after_minutes} in text (ru)")
    ]


def test_a_missing_action_param_is_named(tmp_path: Path) -> None:
    problems = selfcare_problems(
        tmp_path, 'params.language = "en"\nsets_language = true\n', "")
    assert [(p.screen, p.reason) for p in problems] == [
        ("language_en", "action 'language.set' needs params.language (ru or en)")
    ]


PATHS = """
[menu]
code = "*124#"
start = "main"

[screens.main]
type = "choice"
text.ru = "Номер {msisdn}"
text.en = "Number {msisdn}"

[[screens.main.options]]
key = "1"
label.ru = "Пометка"
label.en = "With a note"
next = "note"

[[screens.main.options]]
key = "2"
label.ru = "Баланс"
label.en = "Balance"
next = "fetch"

[screens.note]
type = "input"
name = "note"
text.ru = "Комментарий:"
text.en = "Note:"
error.ru = "Для {msisdn}: неверный ввод"
error.en = "For {msisdn}: invalid"
next = "fetch"

[screens.fetch]
type = "action"
action = "balance"
outcomes.ok = "shown"

[screens.shown]
type = "end"
text.ru = "{note} Баланс {msisdn}: {balance}"
text.en = "{note} Balance of {msisdn}: {balance}"
"""


def test_a_value_some_path_fills_is_accepted(tmp_path: Path) -> None:
    # {note} is typed on one of the two ways to "shown" only: no false alarm.
    directory = write_menus(tmp_path / "menus", paths=PATHS)
    assert check_menus([directory], MENU_CONTRACT) == []


def test_a_placeholder_before_the_action_that_fills_it_is_named(tmp_path: Path) -> None:
    text = PATHS.replace('text.en = "Note:"', 'text.en = "Note ({balance}):"')
    directory = write_menus(tmp_path / "menus", paths=text)
    problems = check_menus([directory], MENU_CONTRACT)
    assert [(p.screen, p.reason.split(" is filled")[0]) for p in problems] == [
        ("note", "{balance} in text (en)")
    ]


def test_the_readme_table_is_what_the_actions_declare() -> None:
    readme = (SHIPPED / "README.md").read_text(encoding="utf-8")
    table = actions_table(MENU_CONTRACT)
    assert table in readme, f"menus/README.md should show this table:\n{table}"
    for value in MENU_CONTRACT.dial_values:
        assert f"`{{{value}}}`" in readme


async def test_a_reload_refuses_a_menu_that_leaves_an_outcome_out(tmp_path: Path) -> None:
    menus = tmp_path / "menus"
    shutil.copytree(SHIPPED, menus, ignore=shutil.ignore_patterns("*.py", "*.md"))

    def own_menus(raw: dict[str, Any]) -> None:
        raw["menus"]["paths"] = [str(menus)]

    async with running_stack(tmp_path, own_menus) as stack:
        write_menus(menus, selfcare=WITHOUT_ALREADY_ENABLED)
        error = stack.gateway.reload_menus()
        assert error is not None
        assert "selfcare.toml: screen 'numbers_enable': outcome 'already_enabled'" in error
        # The old menus keep serving: a second enable still says "already on".
        await stack.simulator.dial(ENGLISH, "*111*828*1#")
        again = await stack.simulator.dial(ENGLISH, "*111*828*1#")
        assert again.screens[-1] == "Number management is already on."
