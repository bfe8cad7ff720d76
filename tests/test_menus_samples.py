# ruff: noqa: RUF001  (Russian menu texts mix Cyrillic with {placeholders})
"""Test menus (written to tmp_path by the tests) and a small driver that plays the gateway.

The driver runs ActionCalls the way the gateway will: a fixed outcome table per action.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from menus import ActionCall, MenuEngine, Screen, Step

SHIPPED = Path(__file__).resolve().parent.parent / "menus"

TRANSFER_MENU = """
[menu]
code = "200"
start = "number"

[screens.number]
type = "input"
name = "number"
validate = "msisdn"
text.ru = "Номер получателя:"
text.en = "Recipient's number:"
next = "amount"

[screens.amount]
type = "input"
name = "amount"
validate = "amount"
min = 1
max = 5000
text.ru = "Сумма, руб.:"
text.en = "Amount, RUB:"
next = "confirm"

[screens.confirm]
type = "choice"
text.ru = "Перевести {amount} руб. на {number}?"
text.en = "Send {amount} RUB to {number}?"

[[screens.confirm.options]]
key = "1"
label.ru = "Да"
label.en = "Yes"
next = "send"

[[screens.confirm.options]]
key = "2"
label.ru = "Нет"
label.en = "No"
next = "cancelled"

[screens.send]
type = "action"
action = "transfer"
outcomes.ok = "sent"
outcomes.too_poor = "too_poor"

[screens.sent]
type = "end"
text.ru = "Отправлено {amount} руб. на {number}. Остаток: {balance}"
text.en = "Sent {amount} RUB to {number}. Balance: {balance}"

[screens.too_poor]
type = "end"
text.ru = "Недостаточно средств."
text.en = "Not enough money."

[screens.cancelled]
type = "end"
text.ru = "Перевод отменён."
text.en = "Transfer cancelled."
"""

TARIFFS = [
    ("Всё за 300", "All for 300"),
    ("Безлимит на мессенджеры", "Unlimited messengers"),
    ("Ночной интернет", "Night internet"),
    ("Минуты по стране", "Minutes nationwide"),
    ("Семейный пакет", "Family bundle"),
    ("Роуминг без границ", "Roaming without borders"),
    ("Для планшета", "For tablets"),
    ("Умный дом", "Smart home"),
    ("Детский", "Kids"),
    ("Пенсионный", "Senior"),
    ("Студенческий", "Student"),
    ("Корпоративный", "Business"),
]


def tariff_menu() -> str:
    options = "".join(
        f'\n[[screens.list.options]]\nkey = "{n}"\nlabel.ru = "{ru}"\nlabel.en = "{en}"\n'
        f'next = "pick"\n'
        for n, (ru, en) in enumerate(TARIFFS, start=1)
    )
    long_ru = " ".join(["Тариф подключён со следующего дня, абонентская плата списывается"] * 4)
    long_en = " ".join(["The tariff starts tomorrow, the monthly fee is charged daily"] * 6)
    return f"""
[menu]
code = "*300#"
start = "list"

[screens.list]
type = "choice"
text.ru = "Выберите тариф (цены на сайте)"
text.en = "Choose a tariff (prices on the site)"
{options}
[screens.pick]
type = "input"
name = "code"
validate = "pattern"
pattern = "[0-9]{{4}}"
error.ru = "Код: 4 цифры."
error.en = "The code is 4 digits."
text.ru = "Введите код из SMS"
text.en = "Enter the code from the SMS"
next = "change"

[screens.change]
type = "action"
action = "tariff.change"
outcomes.ok = "done"

[screens.done]
type = "end"
text.ru = "{long_ru} Ваш код: {{code}}."
text.en = "{long_en} Code: {{code}}."
"""


def write_menus(directory: Path, **files: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / f"{name}.toml").write_text(text, encoding="utf-8")
    return directory


def test_menus(directory: Path) -> Path:
    return write_menus(directory, transfer=TRANSFER_MENU, tariffs=tariff_menu())


# So pytest does not take the helper above for a test.
test_menus.__test__ = False  # type: ignore[attr-defined]

OUTCOMES: Mapping[str, tuple[str, dict[str, str]]] = {
    "balance": ("ok", {"balance": "123.45 RUB"}),
    "balance.group": ("ok", {"balance": "123.45 RUB"}),
    "password.issue": ("ok", {"expires_minutes": "60"}),
    "numbers.enable": ("enabled", {}),
    "numbers.disable": ("disabled", {}),
    "language.set": ("ok", {}),
    "transfer": ("ok", {"balance": "10.00 RUB"}),
    "tariff.change": ("ok", {}),
}

Runner = Callable[[ActionCall], tuple[str, Mapping[str, str]]]


def fixed_outcomes(call: ActionCall) -> tuple[str, Mapping[str, str]]:
    return OUTCOMES[call.action]


def settle(engine: MenuEngine, step: Step, run: Runner = fixed_outcomes) -> Screen:
    """Run actions until the engine has a screen to show, as the gateway loop does."""
    calls = 0
    while isinstance(step, ActionCall):
        calls += 1
        assert calls < 20, "actions keep leading to actions"
        outcome, values = run(step)
        step = engine.resolve(step.state, outcome, values)
    return step


def dial(engine: MenuEngine, dialed: str, language: str | None = "ru") -> Screen:
    return settle(engine, engine.begin(dialed, language))


def reply(engine: MenuEngine, screen: Screen, text: str) -> Screen:
    assert not screen.final, "the session ended; nothing to reply to"
    return settle(engine, engine.advance(screen.state, text))
