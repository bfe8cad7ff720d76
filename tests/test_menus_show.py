"""`menus show CODE`: the tree an operator reads, and reloads that keep sessions going."""

from __future__ import annotations

from pathlib import Path

import pytest

from menus import MenuEngine, Screen, SessionState, load_menus, show_menu
from tests.test_menus_samples import SHIPPED, dial, reply, write_menus


def test_show_prints_every_screen_once_with_keys_and_outcomes() -> None:
    tree = show_menu(load_menus([SHIPPED]), "*111#", "en")
    lines = tree.splitlines()
    assert lines[0].startswith("*111#  (") and "selfcare.toml" in lines[0]
    assert 'main: choice "Self-care"' in lines[1]
    assert any("828 Number management -> numbers: choice" in line for line in lines)
    assert any("0 Disable -> numbers_disable: action numbers.disable" in line for line in lines)
    assert any('[rate_limited] -> password_wait: end "A password was sent' in line
               for line in lines)
    assert any("[error] -> @error (see above)" in line for line in lines)
    assert sum(": action password.issue" in line for line in lines) == 1


def test_show_accepts_the_code_with_or_without_star_and_hash() -> None:
    menus = load_menus([SHIPPED])
    assert show_menu(menus, "100", "ru") == show_menu(menus, "*100#", "ru")
    assert "Ваш баланс: {balance}" in show_menu(menus, "100", "ru")
    with pytest.raises(KeyError):
        show_menu(menus, "*999#", "ru")


def test_a_reload_with_new_wording_continues_live_sessions(tmp_path: Path) -> None:
    old = MenuEngine(load_menus([SHIPPED]))
    screen = reply(old, dial(old, "*111#", "en"), "828")
    edited = (SHIPPED / "selfcare.toml").read_text(encoding="utf-8")
    edited = edited.replace('label.en = "Enable"', 'label.en = "Switch on"')
    new = MenuEngine(load_menus([write_menus(tmp_path / "menus", selfcare=edited)]))
    again = new.advance(screen.state, "*")
    assert isinstance(again, Screen)
    resumed = new.resume(screen.state)
    assert isinstance(resumed, Screen)
    assert "1 Switch on" in resumed.text


def test_begin_values_fill_the_first_screen(tmp_path: Path) -> None:
    menu = """
[menu]
code = "*101#"
start = "me"
[screens.me]
type = "end"
text.ru = "Ваш номер: {msisdn}"
text.en = "Your number: {msisdn}"
"""
    engine = MenuEngine(load_menus([write_menus(tmp_path / "menus", me=menu)]))
    screen = engine.begin("*101#", "en", {"msisdn": "79161234567"})
    assert isinstance(screen, Screen)
    assert screen.text == "Your number: 79161234567"


def test_going_home_keeps_the_values_the_dial_came_with(tmp_path: Path) -> None:
    menu = """
[menu]
code = "*101#"
start = "me"
[screens.me]
type = "choice"
text.ru = "Номер {msisdn}"
text.en = "Number {msisdn}"
[[screens.me.options]]
key = "1"
label.ru = "Дальше"
label.en = "Next"
next = "next"
[screens.next]
type = "choice"
text.ru = "Ещё"
text.en = "More"
[[screens.next.options]]
key = "1"
label.ru = "Конец"
label.en = "End"
next = "bye"
[screens.bye]
type = "end"
text.ru = "Пока"
text.en = "Bye"
"""
    engine = MenuEngine(load_menus([write_menus(tmp_path / "menus", me=menu)]))
    first = engine.begin("*101#", "en", {"msisdn": "79161234567"})
    assert isinstance(first, Screen) and first.text.startswith("Number 79161234567")
    deeper = engine.advance(first.state, "1")
    assert isinstance(deeper, Screen)
    home = engine.advance(SessionState.from_dict(deeper.state.to_dict()), "**")
    assert isinstance(home, Screen) and home.text.startswith("Number 79161234567")
