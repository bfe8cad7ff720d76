"""The bad-input catalogue, over the real path: each case with the answer the subscriber
(or the operator) gets. Handsets dial through the simulator or, for what the simulator
never sends (a wrong data_coding, an empty short_message, two dialogues of one number at
once), through a hand-made USSD centre sending raw deliver_sm.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from tests.gateway_stack import REPO, Stack, running_stack
from tests.robust.gateway_process import SECRET_KEY, gateway_config, to_toml
from tests.robust.raw_centre import is_final, raw_centre
from tests.smscs import pdus

LONG = os.environ.get("USSD_LONG_TESTS") == "1"
ENGLISH = "79160000002"  # demo subscriber who reads English
RUSSIAN = "79160000001"


@dataclass(frozen=True)
class Case:
    why: str
    msisdn: str
    code: str
    replies: tuple[str, ...]
    shows: str  # a message key of menus/messages.toml, or literal text to find
    ended: bool
    language: str = "en"


CATALOGUE = [
    Case("too short a number", "12345", "*100#", (), "not_subscriber", True, "ru"),
    Case("letters for a number", "abcdefghijk", "*100#", (), "not_subscriber", True, "ru"),
    Case("another country's number", "447946000000", "*111*25#", (), "not_subscriber", True,
         "ru"),
    Case("no number at all", "", "*100#", (), "not_subscriber", True, "ru"),
    Case("national form is the same subscriber", "89160000002", "*100#", (), "42.00", True),
    Case("unknown code", ENGLISH, "*999#", (), "unknown_code", True),
    Case("unknown short code", ENGLISH, "*0#", (), "unknown_code", True),
    Case("wrong direct string *111*828*9#", ENGLISH, "*111*828*9#", (), "wrong_choice", False),
    Case("wrong choice in a direct string", ENGLISH, "*111*777#", (), "wrong_choice", False),
    Case("wrong direct string, then the right key", ENGLISH, "*111*828*9#", ("1",),
         "Number management", True),
    Case("an action ends the dialogue, trailing input is ignored", ENGLISH, "*111*25*1#", (),
         "on its way by SMS", True),
    Case("over-long dial string", ENGLISH, "*111*" + "1" * 150 + "#", (), "bad_request", True),
    Case("over-long reply", ENGLISH, "*111#", ("9" * 170,), "wrong_choice", False),
    Case("not a dial string", ENGLISH, "hello", (), "bad_request", True),
    Case("hash before star", ENGLISH, "#111*", (), "bad_request", True),
    Case("only stars", ENGLISH, "**", (), "bad_request", True),
    Case("letters as a reply", ENGLISH, "*111#", ("abc",), "wrong_choice", False),
    Case("an empty reply", ENGLISH, "*111#", ("",), "wrong_choice", False),
    Case("wrong replies until the tries run out", ENGLISH, "*111#", ("x", "y", "z", "0"),
         "too_many_tries", True),
]


def expected_text(stack: Stack, case: Case) -> str:
    engine = stack.gateway.engine
    try:
        return engine.final_message(case.shows, case.language).text
    except KeyError:
        return case.shows


async def test_the_catalogue_over_the_simulator(tmp_path: Path) -> None:
    wrong: list[str] = []
    async with running_stack(tmp_path) as stack:
        for case in CATALOGUE:
            result = await stack.simulator.dial(case.msisdn, case.code, case.replies)
            screen = result.screens[-1]
            want = expected_text(stack, case).split("\n")[0]
            if want not in screen or result.session_ended != case.ended:
                wrong.append(f"{case.why}: got {screen!r} (ended={result.session_ended}), "
                             f"wanted {want!r} (ended={case.ended})")
            if "Traceback" in screen or "Error" in screen:
                wrong.append(f"{case.why}: a trace reached the handset: {screen!r}")
        # nobody outside the network got a password
        outbox = stack.running.services.outbox
        assert await outbox.messages_to("447946000000") == ()
    assert not wrong, "\n".join(wrong)


async def test_what_the_simulator_cannot_send(tmp_path: Path) -> None:
    async with raw_centre(tmp_path) as centre:
        engine = centre.gateway.engine
        bad_request = engine.final_message("bad_request", "en").text
        cases = [
            ("UCS2 with an odd number of octets", b"*100", 8, bad_request),
            ("a byte that is no GSM character", b"*100\xff#", 0, bad_request),
            ("UCS2 text declared as GSM", "*100#".encode("utf-16-be"), 0, bad_request),
            ("a NUL in UCS2", b"\x00\x00", 8, bad_request),
            ("an empty short_message", b"", 0, bad_request),
            ("UCS2 done right", "*100#".encode("utf-16-be"), 8, "42.00"),
            ("Latin-1 done right", b"*100#", 3, "42.00"),
        ]
        for session, (why, text, coding, shows) in enumerate(cases, start=1):
            screen = await centre.dial(ENGLISH, text, session, data_coding=coding)
            assert shows in screen.text and is_final(screen), (why, screen.text)


async def test_odd_service_ops_and_addresses_from_the_centre(tmp_path: Path) -> None:
    async with raw_centre(tmp_path) as centre:
        expired = centre.gateway.engine.final_message("session_expired", "en").text
        # a reply (op 18), a network notification (op 3) or an op no spec defines, with no
        # dialogue open: the handset is told to dial again
        for session, op in ((1, 18), (2, 3), (3, 200)):
            assert await centre.send(ENGLISH, b"1", op=op, session=session) == pdus.ESME_ROK
            screen = await centre.screen(ENGLISH, session)
            assert screen.text == expired and is_final(screen), op
        # op 0 (PSSD indication) starts a dialogue like op 1
        assert await centre.send(ENGLISH, b"*100#", op=0, session=4) == pdus.ESME_ROK
        assert "42.00" in (await centre.screen(ENGLISH, 4)).text
        # the international form of the number is the same subscriber
        plus = await centre.dial("+" + ENGLISH, b"*100#", 5)
        assert "42.00" in plus.text
        # an address longer than SMPP allows is refused in the resp; the link stays up
        status = await centre.send("7" * 30, b"*100#", op=1, session=6)
        assert status != pdus.ESME_ROK
        assert "42.00" in (await centre.dial(ENGLISH, b"*100#", 7)).text
        assert centre.smsc.binds == 1


async def test_two_dialogues_at_once_from_one_number_stay_apart(tmp_path: Path) -> None:
    async with raw_centre(tmp_path) as centre:
        menu, balance = await asyncio.gather(centre.dial(ENGLISH, b"*111#", 1),
                                             centre.dial(ENGLISH, b"*111*9#", 2))
        assert "Balance" in menu.text and not is_final(menu)
        assert not is_final(balance)  # the language menu, in its own session
        # each dialogue continues with its own screen
        assert await centre.send(ENGLISH, b"1", op=18, session=1, unit=1) == pdus.ESME_ROK
        assert await centre.send(ENGLISH, b"2", op=18, session=2, unit=1) == pdus.ESME_ROK
        first, second = await asyncio.gather(centre.screen(ENGLISH, 1),
                                             centre.screen(ENGLISH, 2))
        assert "42.00" in first.text and is_final(first)
        assert is_final(second) and "42.00" not in second.text


async def test_a_password_request_the_centre_resends_issues_one_password(
        tmp_path: Path) -> None:
    """The centre resends *111*25# (its answer was late): the same screen twice, one
    password and one SMS, not two."""
    async with raw_centre(tmp_path) as centre:
        first = await centre.dial(ENGLISH, b"*111*25#", 5)
        again = await centre.dial(ENGLISH, b"*111*25#", 5)
        assert is_final(first) and first.text == again.text
        assert "SMS" in first.text
        async with centre.running.db.read() as session:
            issued = (await session.execute(text(
                "SELECT count(*) FROM password_issues WHERE msisdn = :m"), {"m": ENGLISH}))
            queued = (await session.execute(text(
                "SELECT count(*) FROM sms_outbox WHERE destination = :m"), {"m": ENGLISH}))
            assert (issued.scalar_one(), queued.scalar_one()) == (1, 1)
        # a new dialogue asking again is a new request
        await centre.dial(ENGLISH, b"*111*25#", 6)
        async with centre.running.db.read() as session:
            issued = (await session.execute(text(
                "SELECT count(*) FROM password_issues WHERE msisdn = :m"), {"m": ENGLISH}))
            assert issued.scalar_one() == 2


async def test_without_dialogue_ids_two_quick_password_requests_are_two(tmp_path: Path) -> None:
    """A centre whose dialect carries no dialogue id (one dialogue per number): a second
    *111*25# cannot be told from a resend, so it is a new request."""
    def msisdn_dialect(raw: dict[str, Any]) -> None:
        raw["smpp"]["connections"][0]["dialect"] = "msisdn"

    async with raw_centre(tmp_path, msisdn_dialect) as centre:
        for _ in range(2):
            assert await centre.send(ENGLISH, b"*111*25#", op=1, session=5) == pdus.ESME_ROK
            assert "SMS" in (await centre.screen(ENGLISH, 5)).text
        async with centre.running.db.read() as session:
            issued = (await session.execute(text(
                "SELECT count(*) FROM password_issues WHERE msisdn = :m"), {"m": ENGLISH}))
            assert issued.scalar_one() == 2


async def test_a_reply_after_the_session_timed_out_is_told_so(tmp_path: Path) -> None:
    def short_sessions(raw: dict[str, Any]) -> None:
        raw["sessions"]["timeout_seconds"] = 1

    async with running_stack(tmp_path, short_sessions) as stack:
        menu = await stack.simulator.begin(ENGLISH, "*111#")
        assert not menu.final
        await asyncio.sleep(1.5)  # the scenario itself: the subscriber took too long
        late = await stack.simulator.reply(ENGLISH, "1")
        assert late.final
        assert late.text == stack.gateway.engine.final_message("session_expired", "en").text
        again = await stack.simulator.dial(ENGLISH, "*111#", ["1"])  # dialling again works
        assert "42.00" in again.screens[-1]


async def test_a_broken_menu_file_at_reload_keeps_the_old_menus(tmp_path: Path) -> None:
    menus = tmp_path / "menus"
    shutil.copytree(REPO / "menus", menus, ignore=shutil.ignore_patterns("*.py", "*.md"))

    def own_menus(raw: dict[str, Any]) -> None:
        raw["menus"]["paths"] = [str(menus)]

    async with running_stack(tmp_path, own_menus) as stack:
        open_dialogue = await stack.simulator.begin(ENGLISH, "*111#")
        balance = menus / "balance.toml"
        good = balance.read_text()
        balance.write_text(good.replace('action = "balance"', 'action = "no.such.action"'))
        error = stack.gateway.reload_menus()
        assert error is not None and "balance.toml" in error and "no.such.action" in error
        assert "150,75" in (await stack.simulator.dial(RUSSIAN, "*100#")).screens[0]
        (menus / "selfcare.toml").write_text("this is [not toml")
        assert stack.gateway.reload_menus() is not None
        # the dialogue opened before the failed reloads carries on with the old menus
        assert not open_dialogue.final
        assert "42.00" in (await stack.simulator.reply(ENGLISH, "1")).text
        balance.write_text(good)
        shutil.copy(REPO / "menus" / "selfcare.toml", menus / "selfcare.toml")
        assert stack.gateway.reload_menus() is None


def run_cli(config: dict[str, dict[str, Any]], directory: Path) -> subprocess.CompletedProcess[str]:
    path = directory / "bad.toml"
    path.write_text(to_toml(config))
    return subprocess.run(
        [sys.executable, "-m", "ussd_gateway.cli", "run", "--config", str(path)],
        capture_output=True, text=True, timeout=60, cwd=REPO,
        env={"USSD_GATEWAY_SECRET_KEY": SECRET_KEY, "PATH": "/usr/bin:/bin"})


def test_a_config_the_gateway_cannot_start_with_is_one_line_and_no_trace(
        tmp_path: Path) -> None:
    broken_menus = tmp_path / "menus"
    broken_menus.mkdir()
    (broken_menus / "balance.toml").write_text(
        (REPO / "menus" / "balance.toml").read_text().replace('action = "balance"',
                                                               'action = "nope"'))
    cases: dict[str, tuple[dict[str, dict[str, Any]], str]] = {
        "a menu file with an error": ({"menus": {"paths": [str(broken_menus)]}}, "nope"),
        "a value of the wrong type": ({"sessions": {"timeout_seconds": "soon"}},
                                      "sessions.timeout_seconds"),
        "an SMS lease shorter than the send timeout": (
            {"sms": {"lease_seconds": 1, "send_timeout_seconds": 2}}, "sms.lease_seconds"),
    }
    for why, (override, named) in cases.items():
        result = run_cli(gateway_config(tmp_path, 9, **override), tmp_path)
        assert result.returncode != 0, why
        lines = result.stderr.strip().splitlines()
        # one line, or for menus one line and then each problem naming file and screen
        assert lines[0].startswith("ussd-gateway"), (why, result.stderr)
        assert named in result.stderr and (len(lines) == 1 or "menus" in lines[0]), why
        assert "Traceback" not in result.stderr + result.stdout, why


async def test_http_bodies_that_are_not_json_or_too_large(tmp_path: Path) -> None:
    def http_on(raw: dict[str, Any]) -> None:
        raw["http"].update(enabled=True, port=0, max_body_bytes=2048)

    async with running_stack(tmp_path, http_on) as stack, aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{stack.running.http_port}/api/v1/login"
        json_type = {"Content-Type": "application/json"}
        bodies = {
            "not JSON": (b"msisdn=79160000001", 400),
            "cut short": (b'{"msisdn": "7916', 400),
            "not UTF-8": (b"\xff\xfe\x00{", 400),
            "too large": (b'{"msisdn": "' + b"7" * 100_000 + b'"}', 413),
            "a JSON array": (b"[1, 2]", 422),
            "nested deeply": (b"[" * 5000 + b"]" * 5000, 413),
        }
        for why, (body, status) in bodies.items():
            async with http.post(url, data=body, headers=json_type) as reply:
                text = await reply.text()
                assert reply.status == status, (why, reply.status, text)
                assert reply.content_type == "application/problem+json", why
                assert "Traceback" not in text and "File \"" not in text, why
                json.loads(text)
        # and the gateway still answers
        assert "42.00" in (await stack.simulator.dial(ENGLISH, "*100#")).screens[0]


async def test_a_failing_store_gives_a_polite_screen_and_no_trace(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with running_stack(tmp_path) as stack:
        async with stack.running.db.write() as session:
            await session.execute(text("DROP TABLE balances"))
        result = await stack.simulator.dial(ENGLISH, "*100#")
        assert result.session_ended
        # the subscriber's language was read before the balance failed: the apology is in it
        unavailable = stack.gateway.engine.final_message("service_unavailable", "en").text
        assert result.screens == [unavailable]
        # the operator's log has one line saying why, the handset only the polite screen
        assert "store unavailable" in caplog.text
        menu = await stack.simulator.dial(ENGLISH, "*111#")  # other services still answer
        assert "Balance" in menu.screens[0]


async def test_a_store_failing_mid_dialogue_apologises_in_the_subscribers_language(
        tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        async with stack.running.db.write() as session:
            await session.execute(text("DROP TABLE sms_outbox"))  # *111*25# cannot commit
        result = await stack.simulator.dial(ENGLISH, "*111#", replies=["25"])
        assert "Balance" in result.screens[0]  # the menu, read while the store still answered
        engine = stack.gateway.engine
        assert result.screens[1:] == [engine.final_message("service_unavailable", "en").text]
        assert result.session_ended
        assert engine.final_message("service_unavailable", "en").text != \
            engine.final_message("service_unavailable", None).text  # the default is Russian


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=6)
FIELD_VALUES = st.one_of(
    JSON_VALUES,
    st.sampled_from(["79160000001", "+7 916 000-00-01", "89160000001", "7" * 40, "\x00", "٧٩١٦"]),
)


def test_no_json_body_gets_a_server_error(tmp_path: Path) -> None:
    """Whatever JSON arrives at the subscriber endpoints, the answer is a problem document
    or a success, never a 500."""
    def http_on(raw: dict[str, Any]) -> None:
        raw["http"].update(enabled=True, port=0)

    with asyncio.Runner() as runner:
        stack_cm = running_stack(tmp_path, http_on)
        stack = runner.run(stack_cm.__aenter__())
        http = runner.run(_client())
        base = f"http://127.0.0.1:{stack.running.http_port}"

        @settings(max_examples=150 if LONG else 40, deadline=None,
                  suppress_health_check=[HealthCheck.too_slow])
        @given(path=st.sampled_from(["/api/v1/login", "/api/v1/password-requests"]),
               body=st.one_of(JSON_VALUES, st.fixed_dictionaries(
                   {}, optional={"msisdn": FIELD_VALUES, "password": FIELD_VALUES,
                                 "captcha": FIELD_VALUES})))
        def post(path: str, body: Any) -> None:
            async def call() -> tuple[int, str, str]:
                async with http.post(base + path, json=body) as reply:
                    return reply.status, reply.content_type, await reply.text()

            status, content_type, answer = runner.run(call())
            assert status < 500, (status, answer)
            assert status in (200, 201, 202) or content_type == "application/problem+json"
            assert "Traceback" not in answer

        try:
            post()
        finally:
            runner.run(http.close())
            runner.run(stack_cm.__aexit__(None, None, None))


async def _client() -> aiohttp.ClientSession:
    return aiohttp.ClientSession()
