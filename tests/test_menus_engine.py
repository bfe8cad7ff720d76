"""What a subscriber sees when walking the shipped menus and the test menus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from menus import (
    ActionCall,
    MenuEngine,
    MenuError,
    Screen,
    ScreenLimits,
    SessionState,
    load_menus,
)
from menus.contracts import MenuContract
from tests.test_menus_samples import SHIPPED, dial, reply, settle, test_menus, write_menus
from ussd_gateway.actions import MENU_CONTRACT


@pytest.fixture
def engine(tmp_path: Path) -> MenuEngine:
    return MenuEngine(load_menus([SHIPPED, test_menus(tmp_path)]))


def test_balance_code_shows_the_balance_in_one_round_trip(engine: MenuEngine) -> None:
    step = engine.begin("*100#", "ru")
    assert isinstance(step, ActionCall)
    assert step.action == "balance"
    screen = engine.resolve(step.state, "ok", {"balance": "123.45 RUB"})
    assert isinstance(screen, Screen)
    assert screen.final
    assert screen.text == "Ваш баланс: 123.45 RUB"
    assert screen.encoding == "ucs2"


def test_english_balance_is_sent_in_gsm7(engine: MenuEngine) -> None:
    screen = dial(engine, "*100#", "en")
    assert screen.text == "Your balance: 123.45 RUB"
    assert screen.encoding == "gsm7"


def test_password_direct_string_asks_for_a_password_and_never_shows_one(
    engine: MenuEngine,
) -> None:
    step = engine.begin("*111*25#", "ru")
    assert isinstance(step, ActionCall)
    assert step.action == "password.issue"
    screen = settle(engine, step)
    assert screen.final
    assert "SMS" in screen.text
    assert "60 мин" in screen.text


def test_password_rate_limited_says_when_to_ask_again(engine: MenuEngine) -> None:
    step = engine.begin("*111*25#", "en")
    assert isinstance(step, ActionCall)
    screen = engine.resolve(step.state, "rate_limited", {"retry_after_minutes": "7"})
    assert isinstance(screen, Screen) and screen.final
    assert "7 min" in screen.text


@pytest.mark.parametrize(
    ("dialed", "action"),
    [("*111*828*1#", "numbers.enable"), ("*111*828*0#", "numbers.disable")],
)
def test_number_management_direct_strings_run_the_action(
    engine: MenuEngine, dialed: str, action: str
) -> None:
    step = engine.begin(dialed, "ru")
    assert isinstance(step, ActionCall)
    assert step.action == action


def test_direct_string_equals_step_by_step_walk(engine: MenuEngine) -> None:
    direct = dial(engine, "*111*828*1#")
    menu = dial(engine, "*111#")
    assert "828 Управление номерами" in menu.text
    numbers = reply(engine, menu, "828")
    assert "1 Подключить" in numbers.text and "0 Отключить" in numbers.text
    walked = reply(engine, numbers, "1")
    assert walked.text == direct.text == "Управление номерами подключено. Теперь номера можно " \
        "связать в Личном кабинете."
    assert walked.final and direct.final


def test_direct_string_that_runs_out_shows_the_screen_reached(engine: MenuEngine) -> None:
    screen = dial(engine, "*111*828#")
    assert not screen.final
    assert screen.text == reply(engine, dial(engine, "*111#"), "828").text


def test_direct_string_with_a_wrong_input_shows_that_screen_with_the_reason(
    engine: MenuEngine,
) -> None:
    screen = dial(engine, "*111*828*7*1#")
    assert not screen.final
    assert screen.text.startswith("Нет такого пункта.")
    assert "1 Подключить" in screen.text
    assert reply(engine, screen, "1").final


def test_wrong_choice_reprompts_then_ends_politely(engine: MenuEngine) -> None:
    limits = ScreenLimits()
    screen = dial(engine, "*111#", "en")
    for _ in range(limits.max_retries):
        screen = reply(engine, screen, "5")
        assert not screen.final
        assert screen.text.startswith("No such option.")
    screen = reply(engine, screen, "5")
    assert screen.final
    assert "Too many wrong answers" in screen.text


def test_a_right_answer_forgives_earlier_wrong_ones(engine: MenuEngine) -> None:
    screen = dial(engine, "*111#", "en")
    screen = reply(engine, screen, "5")
    screen = reply(engine, screen, "5")
    screen = reply(engine, screen, "828")
    for _ in range(ScreenLimits().max_retries):
        screen = reply(engine, screen, "7")
        assert not screen.final


def test_back_and_home(engine: MenuEngine) -> None:
    main = dial(engine, "*111#", "en")
    numbers = reply(engine, main, "828")
    assert reply(engine, numbers, "*").text == main.text
    language = reply(engine, main, "9")
    assert reply(engine, language, "**").text == main.text
    assert reply(engine, main, "*").text == main.text


def test_unknown_code_and_malformed_dial_are_polite_final_screens(engine: MenuEngine) -> None:
    unknown = dial(engine, "*999#", "en")
    assert unknown.final and "not in service" in unknown.text
    for garbage in ("", "hello", "*111*#", "**111#", "*111*8a#", "#100#"):
        screen = dial(engine, garbage, "ru")
        assert screen.final
        assert "Запрос не распознан" in screen.text


def test_unknown_language_falls_back_to_the_default(engine: MenuEngine) -> None:
    assert dial(engine, "*100#", "de").text == "Ваш баланс: 123.45 RUB"
    assert dial(engine, "*100#", None).text == "Ваш баланс: 123.45 RUB"


def test_any_action_error_gives_the_unavailable_screen(engine: MenuEngine) -> None:
    for dialed in ("*100#", "*111*25#", "*111*828*1#", "*111*828*0#", "*111*9*2#"):
        step = engine.begin(dialed, "en")
        assert isinstance(step, ActionCall)
        error = engine.resolve(step.state, "error", {})
        assert isinstance(error, Screen) and error.final
        assert error.text == "Service temporarily unavailable. Please try later."
        outsider = engine.resolve(step.state, "not_subscriber", {})
        assert isinstance(outsider, Screen) and outsider.final
        assert "subscribers only" in outsider.text
        odd = engine.resolve(step.state, "no_such_outcome", {})
        assert isinstance(odd, Screen) and odd.text == error.text


def test_language_choice_switches_the_session_language(engine: MenuEngine) -> None:
    step = engine.begin("*111*9*2#", "ru")
    assert isinstance(step, ActionCall)
    assert step.action == "language.set"
    assert step.inputs == {"language": "en"}
    screen = engine.resolve(step.state, "ok", {})
    assert isinstance(screen, Screen)
    assert screen.text == "Menu language: English."
    assert screen.state.language == "en"


def test_state_survives_json_and_any_engine_continues_it(tmp_path: Path) -> None:
    first = MenuEngine(load_menus([SHIPPED]))
    second = MenuEngine(load_menus([SHIPPED]))
    screen = dial(first, "*111#")
    stored = json.dumps(screen.state.to_dict())
    state = SessionState.from_dict(json.loads(stored))
    assert state == screen.state
    step = second.advance(state, "828")
    assert isinstance(step, Screen)
    assert "1 Подключить" in step.text


@pytest.mark.parametrize(
    "data",
    [{}, {"v": 99}, {"v": 1, "code": "111"}, {"v": 1, "code": 1, "screen": "x", "language": "ru"},
     {"v": 1, "code": "111", "screen": "main", "language": "ru", "page": -1}],
)
def test_garbage_state_is_refused(data: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        SessionState.from_dict(data)


def test_a_screen_gone_after_reload_ends_politely(tmp_path: Path) -> None:
    old = MenuEngine(load_menus([SHIPPED]))
    screen = dial(old, "*111#", "en")
    numbers = reply(old, screen, "828")
    trimmed = (SHIPPED / "selfcare.toml").read_text(encoding="utf-8")
    trimmed = trimmed.replace('next = "numbers"', 'next = "balance"')
    start = trimmed.index("# ---- number management")
    end = trimmed.index("# ---- language")
    directory = write_menus(tmp_path / "new", selfcare=trimmed[:start] + trimmed[end:])
    new = MenuEngine(load_menus([directory]))
    gone = new.advance(numbers.state, "1")
    assert isinstance(gone, Screen) and gone.final
    assert "menu has been updated" in gone.text
    code_gone = new.begin("*100#", "en")
    assert isinstance(code_gone, Screen) and code_gone.final
    assert new.resume(numbers.state) == gone


def test_resume_shows_the_same_screen_again(engine: MenuEngine) -> None:
    screen = reply(engine, dial(engine, "*111#"), "828")
    again = engine.resume(screen.state)
    assert isinstance(again, Screen)
    assert again.text == screen.text and not again.final


def test_inputs_are_validated_normalised_and_filled_in(engine: MenuEngine) -> None:
    screen = dial(engine, "*200#", "en")
    assert screen.text == "Recipient's number:"
    screen = reply(engine, screen, "12345")
    assert screen.text.startswith("Invalid number.")
    screen = reply(engine, screen, "89161234567")
    assert screen.text == "Amount, RUB:"
    screen = reply(engine, screen, "9000")
    assert screen.text.startswith("Invalid amount.")
    screen = reply(engine, screen, "150,5")
    assert screen.text == "Send 150.50 RUB to 79161234567?\n1 Yes\n2 No"
    step = engine.advance(screen.state, "1")
    assert isinstance(step, ActionCall)
    assert step.action == "transfer"
    assert step.inputs == {"number": "79161234567", "amount": "150.50"}
    done = engine.resolve(step.state, "ok", {"balance": "10.00 RUB"})
    assert isinstance(done, Screen) and done.final
    assert done.text == "Sent 150.50 RUB to 79161234567. Balance: 10.00 RUB"


def test_direct_string_fills_inputs_too(engine: MenuEngine) -> None:
    step = engine.begin("*200*9161234567*100*1#", "en")
    assert isinstance(step, ActionCall)
    assert step.inputs == {"number": "79161234567", "amount": "100.00"}


def test_custom_input_error_text(engine: MenuEngine) -> None:
    screen = dial(engine, "*300*1#", "en")
    screen = reply(engine, screen, "12")
    assert screen.text == "The code is 4 digits.\nEnter the code from the SMS"


def test_an_input_error_text_fills_its_placeholders(tmp_path: Path) -> None:
    menu = """
[menu]
code = "*201#"
start = "amount"

[screens.amount]
type = "input"
name = "amount"
validate = "amount"
min = 1
max = 100
text.ru = "Пополнить {msisdn}, сумма:"
text.en = "Top up {msisdn}, amount:"
error.ru = "{msisdn}: от 1 до 100."
error.en = "{msisdn}: 1 to 100."
next = "done"

[screens.done]
type = "end"
text.ru = "Готово"
text.en = "Done"
"""
    engine = MenuEngine(load_menus([write_menus(tmp_path / "menus", topup=menu)]))
    first = settle(engine, engine.begin("*201#", "en", {"msisdn": "79160000002"}))
    screen = reply(engine, first, "500")
    assert screen.text == "79160000002: 1 to 100.\nTop up 79160000002, amount:"


def test_long_choice_list_pages_with_more_and_back(engine: MenuEngine) -> None:
    first = dial(engine, "*300#", "ru")
    assert first.text.endswith("\n00 Ещё")
    assert "* Назад" not in first.text
    second = reply(engine, first, "00")
    assert second.text.endswith("00 Ещё\n* Назад")
    assert reply(engine, second, "*").text == first.text
    # A key from a later page works on any page: the subscriber may know it by heart.
    assert reply(engine, first, "12").text == "Введите код из SMS"


def test_a_long_final_screen_is_paged_and_only_its_last_page_ends(engine: MenuEngine) -> None:
    screen = dial(engine, "*300*1*1234#", "en")
    pages = [screen]
    while not screen.final:
        screen = reply(engine, screen, "00")
        pages.append(screen)
    assert len(pages) > 1
    assert pages[-1].text.endswith("Code: 1234.\n* Back")
    words = " ".join(page.text.replace("\n00 More", "").replace("\n* Back", "") for page in pages)
    assert words.split() == (
        " ".join(["The tariff starts tomorrow, the monthly fee is charged daily"] * 6)
        + " Code: 1234."
    ).split()


def test_engine_reports_its_codes_and_actions(engine: MenuEngine) -> None:
    assert {"100", "111", "200", "300"} <= engine.codes
    assert engine.actions == {
        "balance", "balance.group", "password.issue", "numbers.enable", "numbers.disable",
        "language.set", "transfer", "tariff.change",
    }


def test_shipped_menus_load_with_the_gateway_actions() -> None:
    assert set(MENU_CONTRACT.actions) == {"balance", "balance.group", "password.issue",
                                          "numbers.enable", "numbers.disable", "language.set"}
    assert load_menus([SHIPPED], MENU_CONTRACT).codes == {"100", "111"}
    without_balance = MenuContract(
        {name: action for name, action in MENU_CONTRACT.actions.items() if name != "balance"},
        MENU_CONTRACT.dial_values)
    with pytest.raises(MenuError):
        load_menus([SHIPPED], without_balance)


def test_a_failed_language_change_keeps_the_language(engine: MenuEngine) -> None:
    step = engine.begin("*111*9*2#", "ru")
    assert isinstance(step, ActionCall)
    for outcome in ("error", "whatever"):
        screen = engine.resolve(step.state, outcome, {})
        assert isinstance(screen, Screen)
        assert screen.state.language == "ru"
        assert screen.text == "Сервис временно недоступен. Попробуйте позже."
