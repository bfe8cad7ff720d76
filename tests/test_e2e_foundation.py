"""The whole path: handset -> simulator (USSD centre) -SMPP-> gateway -> menus -> store -> back.

Every test here runs the real simulator and the real gateway over a loopback SMPP connection,
on a real SQLite file, and asserts what the subscriber sees and what the store holds.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path
from typing import Any

from sqlalchemy import select

from tests.gateway_stack import REPO, running_stack
from ussd_gateway import services as svc
from ussd_gateway.security.passwords import LOOK_ALIKE_FREE_ALPHABET
from ussd_gateway.store.models import EnabledServiceRow

DEMO = "79160000001"
ENGLISH = "79160000002"
OTHER = "79160000003"
STRANGER = "79169999999"


def words(text: str) -> list[str]:
    return re.findall(r"[^\s.,:;!?()«»\"']+", text)


async def test_balance_is_shown_on_screen(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        balance = await stack.running.services.balance.get(DEMO)
        assert balance is not None
        shown = svc.format_money(balance.amount_minor, balance.currency, "ru")
        result = await stack.simulator.dial(DEMO, "*100#")
        assert result.session_ended
        assert len(result.screens) == 1
        assert shown in result.screens[0]


async def test_password_arrives_by_sms_and_only_there(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        result = await stack.simulator.dial(DEMO, "*111*25#")
        assert result.session_ended
        sms = await stack.simulator.wait_for_sms(DEMO, 1, timeout=15)
        assert len(sms) == 1
        length = stack.config.passwords.length
        candidates = [w for w in words(sms[0].text)
                      if len(w) == length and set(w) <= set(LOOK_ALIKE_FREE_ALPHABET)]
        assert len(candidates) == 1, f"no password in the SMS: {sms[0].text!r}"
        password = candidates[0]
        passwords = stack.running.services.passwords
        login = await passwords.verify_login(DEMO, password, channel="web")
        assert isinstance(login, svc.LoginOk) and login.must_change
        assert password not in result.screens[0]
        wrong = await passwords.verify_login(DEMO, password + "x", channel="web")
        assert isinstance(wrong, svc.InvalidCredentials)


async def test_menu_walk_gives_the_same_screen_as_the_direct_string(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        direct = await stack.simulator.dial(DEMO, "*111*828*1#")
        walked = await stack.simulator.dial(OTHER, "*111#", ["828", "1"])
        assert direct.session_ended and walked.session_ended
        assert len(walked.screens) == 3
        assert walked.screens[-1] == direct.screens[-1]
        menu = walked.screens[0]
        assert "25" in menu and "828" in menu


async def test_number_management_is_enabled_once_then_already_enabled(tmp_path: Path) -> None:
    async def enabled_rows(stack: Any) -> list[str]:
        async with stack.running.db.read() as session:
            rows = await session.scalars(select(EnabledServiceRow.service_code)
                                         .where(EnabledServiceRow.msisdn == ENGLISH))
            return list(rows)

    async with running_stack(tmp_path) as stack:
        first = await stack.simulator.dial(ENGLISH, "*111*828*1#")
        assert first.screens == ["Number management is on. You can now link numbers in your "
                                 "personal account."]
        assert await enabled_rows(stack) == ["number_management"]
        second = await stack.simulator.dial(ENGLISH, "*111*828*1#")
        assert second.screens == ["Number management is already on."]
        assert await enabled_rows(stack) == ["number_management"]  # once, not twice
        off = await stack.simulator.dial(ENGLISH, "*111*828*0#")
        assert off.session_ended and off.screens == ["Number management is off."]
        assert await enabled_rows(stack) == []


async def test_menu_then_25_issues_a_password_like_the_direct_string(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        walked = await stack.simulator.dial(OTHER, "*111#", ["25"])
        direct = await stack.simulator.dial(DEMO, "*111*25#")
        assert walked.screens[-1] == direct.screens[-1]
        assert len(await stack.simulator.wait_for_sms(OTHER, 1, timeout=15)) == 1


async def test_a_stranger_gets_a_polite_refusal_and_no_sms(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        for code in ("*100#", "*111*25#", "*111*828*1#"):
            result = await stack.simulator.dial(STRANGER, code)
            assert result.session_ended
            # an unknown number has no language yet: the default (Russian) refusal
            assert result.screens == [
                stack.gateway.engine.final_message("not_subscriber", None).text], code
        assert await stack.running.services.outbox.messages_to(STRANGER) == ()
        assert stack.simulator.inbox(STRANGER) == []


async def test_an_english_subscriber_reads_english(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        result = await stack.simulator.dial(ENGLISH, "*100#")
        assert result.screens[0].isascii()
        russian = await stack.simulator.dial(DEMO, "*100#")
        assert not russian.screens[0].isascii()


async def test_unknown_code_says_so(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        result = await stack.simulator.dial(ENGLISH, "*999#")
        assert result.session_ended
        assert result.screens == ["This code is not in service. Check it and dial again."]


async def test_a_reply_after_the_session_timed_out_is_told_to_redial(tmp_path: Path) -> None:
    def short_sessions(raw: dict[str, Any]) -> None:
        raw["sessions"]["timeout_seconds"] = 1

    async with running_stack(tmp_path, short_sessions) as stack:
        menu = await stack.simulator.begin(DEMO, "*111#")
        assert not menu.final
        await asyncio.sleep(1.2)  # the session timeout itself is what is under test
        late = await stack.simulator.reply(DEMO, "25")
        assert late.final
        assert late.text == "Сеанс завершён. Наберите команду снова."
        assert stack.simulator.inbox(DEMO) == []


async def test_redialing_within_the_grace_period_resumes_the_dialogue(tmp_path: Path) -> None:
    def grace(raw: dict[str, Any]) -> None:
        raw["sessions"]["resume_grace_seconds"] = 60

    async with running_stack(tmp_path, grace) as stack:
        await stack.simulator.begin(OTHER, "*111#")
        numbers = await stack.simulator.reply(OTHER, "828")
        await stack.simulator.cancel(OTHER)  # the subscriber lost the dialogue
        again = await stack.simulator.begin(OTHER, "*111#")
        assert again.text == numbers.text
        done = await stack.simulator.reply(OTHER, "1")
        assert done.final
        fresh = await stack.simulator.begin(OTHER, "*111#")
        assert fresh.text != numbers.text, "a finished dialogue is not resumed"


async def test_without_a_grace_period_a_redial_starts_over(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        menu = await stack.simulator.begin(OTHER, "*111#")
        await stack.simulator.reply(OTHER, "828")
        await stack.simulator.cancel(OTHER)
        assert (await stack.simulator.begin(OTHER, "*111#")).text == menu.text


async def test_the_balance_shown_follows_a_top_up_at_once(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        first = await stack.simulator.dial(DEMO, "*100#")
        await stack.running.services.balance.top_up(DEMO, 10_000, channel="test")
        second = await stack.simulator.dial(DEMO, "*100#")
        assert "150,75" in first.screens[0]
        assert "250,75" in second.screens[0]


async def test_a_menu_can_show_the_callers_own_number(tmp_path: Path) -> None:
    menus = tmp_path / "menus"
    shutil.copytree(REPO / "menus", menus)
    (menus / "whoami.toml").write_text(
        '[menu]\ncode = "*101#"\nstart = "me"\n\n[screens.me]\ntype = "end"\n'
        'text.ru = "Ваш номер: {msisdn}"\ntext.en = "Your number: {msisdn}"\n',
        encoding="utf-8")

    def with_whoami(raw: dict[str, Any]) -> None:
        raw["menus"]["paths"] = [str(menus)]

    async with running_stack(tmp_path, with_whoami) as stack:
        result = await stack.simulator.dial(ENGLISH, "*101#")
        assert result.screens == [f"Your number: {ENGLISH}"]
