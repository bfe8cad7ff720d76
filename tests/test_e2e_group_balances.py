# ruff: noqa: RUF001 (Russian screens)
"""The linked numbers' balances on the handset: simulator -SMPP-> gateway -> menus -> store.

Numbers linked into one personal account (an approved link application) see each other's
balances under "Balance" in *111# and at *111*1#; a number on its own sees just its own.
"""

from __future__ import annotations

from pathlib import Path

from tests.gateway_stack import Stack, running_stack
from ussd_gateway import services as svc

IVAN = "79160000001"  # demo: Ivan Petrov, Moscow, ru, 150,75 RUB
IVAN_2 = "79160000002"  # demo: Ivan Petrov, Moscow, en, 42,00 RUB
ANNA = "79160000003"  # demo: Anna Smirnova, Moscow, ru, 999,00 RUB
STRANGER = "79169999999"
UCS2_SCREEN = 80


async def _link(stack: Stack, applicant: str, numbers: list[str]) -> None:
    """Link ``numbers`` to ``applicant`` the way subscribers and operators do: number
    management dialled on each handset, an application, an operator's approval."""
    for number in [applicant, *numbers]:
        enabled = await stack.simulator.dial(number, "*111*828*1#")
        assert enabled.session_ended
    services = stack.running.services
    filed = await services.linking.apply(applicant, numbers, channel="web")
    assert isinstance(filed, svc.ApplicationAccepted), filed
    approved = await services.linking.approve(filed.application_id, channel="operator:test")
    assert isinstance(approved, svc.ApplicationApproved), approved


async def test_linked_numbers_see_each_others_balances(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        await _link(stack, IVAN, [IVAN_2])

        direct = await stack.simulator.dial(IVAN, "*111*1#")
        assert direct.session_ended
        assert direct.screens == [
            "Ваш баланс: 150,75 руб.\nСвязанные номера:\n79160000002: 42,00 руб."]

        walked = await stack.simulator.dial(IVAN_2, "*111#", ["1"])
        assert walked.session_ended
        assert walked.screens[-1] == (
            "Your balance: 42.00 RUB\nLinked numbers:\n79160000001: 150.75 RUB")

        classic = await stack.simulator.dial(IVAN, "*100#")
        assert classic.screens == ["Ваш баланс: 150,75 руб."], "*100# stays the own balance"


async def test_a_number_on_its_own_sees_only_its_balance(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        alone = await stack.simulator.dial(ANNA, "*111*1#")
        assert alone.session_ended
        assert alone.screens == ["Ваш баланс: 999,00 руб."]
        stranger = await stack.simulator.dial(STRANGER, "*111*1#")
        assert stranger.screens == [
            stack.gateway.engine.final_message("not_subscriber", None).text]


async def test_a_large_group_is_paged_and_every_number_is_shown_once(tmp_path: Path) -> None:
    extra = [f"7916000010{n}" for n in range(8)]
    async with running_stack(tmp_path) as stack:
        services = stack.running.services
        for index, number in enumerate(extra):
            await services.subscribers.upsert(number, owner="Ivan Petrov", region="Moscow",
                                              language="ru", channel="test")
            await services.balance.top_up(number, 100 * (index + 1), channel="test")
        await _link(stack, IVAN, [IVAN_2, *extra])

        pages = [await stack.simulator.begin(IVAN, "*111*1#")]
        while not pages[-1].final:
            assert "00 Ещё" in pages[-1].text.splitlines(), pages[-1].text
            pages.append(await stack.simulator.reply(IVAN, "00"))
        assert len(pages) > 1
        assert all(len(page.text) <= UCS2_SCREEN for page in pages)
        assert pages[0].text.startswith("Ваш баланс: 150,75 руб.")
        shown = [line for page in pages for line in page.text.splitlines()
                 if line[:1].isdigit() and ": " in line]
        expected = [f"{IVAN_2}: 42,00 руб."] + [
            f"{number}: {index + 1},00 руб." for index, number in enumerate(extra)]
        assert sorted(shown) == sorted(expected)

        back = await stack.simulator.begin(IVAN, "*111*1#")
        await stack.simulator.reply(IVAN, "00")
        again = await stack.simulator.reply(IVAN, "*")
        assert again.text == back.text, "* goes back a page"
        await stack.simulator.cancel(IVAN)
