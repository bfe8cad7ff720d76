"""The issue's story end to end: dial *111*25# on the simulator -> read the SMS -> log in over
HTTP -> forced change -> log in with the new password; the metrics move as it happens."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from tests.gateway_stack import running_stack
from ussd_gateway.security.passwords import LOOK_ALIKE_FREE_ALPHABET

DEMO = "79160000001"
NOC_TOKEN = "noc-token-0123456789abcdef"


def _with_operator_token(raw: dict[str, Any]) -> None:
    raw["http"]["admin_tokens"] = [{"name": "noc", "token": NOC_TOKEN}]


def _password_in(text: str, length: int) -> str:
    found: list[str] = [w for w in re.findall(r"[0-9A-Za-z]+", text)
                        if len(w) == length and set(w) <= set(LOOK_ALIKE_FREE_ALPHABET)]
    assert len(found) == 1, text
    return found[0]


def _metric(metrics: str, line_start: str) -> float:
    for line in metrics.splitlines():
        if line.startswith(line_start + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _total(metrics: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
               if line.startswith(name + "{"))


async def test_sms_password_from_ussd_opens_the_personal_account(tmp_path: Path) -> None:
    async with running_stack(tmp_path, tweak=_with_operator_token) as stack, \
            aiohttp.ClientSession(f"http://127.0.0.1:{stack.running.http_port}") as http:
        ready = await http.get("/readyz")
        assert ready.status == 200

        dialed = await stack.simulator.dial(DEMO, "*111*25#")
        assert dialed.session_ended
        [sms] = await stack.simulator.wait_for_sms(DEMO, 1, timeout=15)
        temporary = _password_in(sms.text, stack.config.passwords.length)

        login = await http.post("/api/v1/login",
                                json={"msisdn": "+7 916 000 00 01", "password": temporary})
        assert login.status == 201
        first = await login.json()
        assert first["must_change_password"] is True
        headers = {"Authorization": f"Bearer {first['token']}"}
        blocked = await http.get("/api/v1/account", headers=headers)
        assert blocked.status == 403
        changed = await http.post("/api/v1/account/password", headers=headers, json={
            "current_password": temporary, "new_password": "Kv4rtira-na-Arbate"})
        assert changed.status == 204

        again = await http.post("/api/v1/login",
                                json={"msisdn": "89160000001", "password": "Kv4rtira-na-Arbate"})
        assert again.status == 201
        second = await again.json()
        assert second["must_change_password"] is False
        account = await http.get("/api/v1/account",
                                 headers={"Authorization": f"Bearer {second['token']}"})
        assert account.status == 200
        balance = await stack.running.services.balance.get(DEMO)
        assert balance is not None
        assert (await account.json())["balance"]["amount_minor"] == balance.amount_minor

        metrics = await (await http.get("/metrics")).text()
        assert _total(metrics, "ussd_requests_total") >= 1
        assert _metric(metrics, 'sms_total{state="sent"}') >= 1
        assert _metric(metrics, 'web_logins_total{outcome="must_change"}') == 1
        assert _metric(metrics, 'web_logins_total{outcome="ok"}') == 1

        unauthorised = await http.get("/admin/v1/smpp")
        assert unauthorised.status == 401
        smpp = await http.get("/admin/v1/smpp",
                              headers={"Authorization": f"Bearer {NOC_TOKEN}"})
        assert smpp.status == 200
        [connection] = (await smpp.json())["connections"]
        assert connection["bound"] is True
        trail = await http.get(f"/admin/v1/subscribers/{DEMO}/audit",
                               headers={"Authorization": f"Bearer {NOC_TOKEN}"})
        channels = [(e["action"], e["channel"]) for e in (await trail.json())["entries"]]
        assert ("password.issued", "ussd") in channels
        assert ("password.changed", "web") in channels


async def test_login_tokens_last_the_configured_time(tmp_path: Path) -> None:
    def short_tokens(raw: dict[str, Any]) -> None:
        raw["http"]["token_ttl_seconds"] = 300

    async with running_stack(tmp_path, tweak=short_tokens) as stack, \
            aiohttp.ClientSession(f"http://127.0.0.1:{stack.running.http_port}") as http:
        dialed = await stack.simulator.dial(DEMO, "*111*25#")
        assert dialed.session_ended
        [sms] = await stack.simulator.wait_for_sms(DEMO, 1, timeout=15)
        before = datetime.now(UTC).replace(microsecond=0)
        login = await http.post("/api/v1/login", json={
            "msisdn": DEMO, "password": _password_in(sms.text, stack.config.passwords.length)})
        after = datetime.now(UTC)
        assert login.status == 201
        expires_at = datetime.fromisoformat((await login.json())["expires_at"])
        assert before + timedelta(seconds=300) <= expires_at <= after + timedelta(seconds=300)
