"""`menus check`: each class of mistake in a menu file is caught, named by file and screen."""

from __future__ import annotations

from pathlib import Path

import pytest

from menus import MenuEngine, MenuError, MenuProblem, Screen, check_menus, load_menus
from tests.test_menus_samples import SHIPPED, dial, write_menus

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
    tmp_path: Path, text: str, known_actions: frozenset[str] | None = None
) -> list[MenuProblem]:
    directory = write_menus(tmp_path / "menus", broken=text)
    return check_menus([directory], known_actions)


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
    problems = problems_for(tmp_path, GOOD, known_actions=frozenset({"password.issue"}))
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
