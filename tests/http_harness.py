"""A real HTTP API over a real socket and a real SQLite store, for the tests/test_http_* files."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from ussd_gateway.config import AdminToken, IpNetwork
from ussd_gateway.http import HttpDeps, build_app
from ussd_gateway.metrics import Metrics
from ussd_gateway.services import (
    OutboxSender,
    OutboxSettings,
    PasswordSettings,
    SelfCare,
    ServiceSettings,
    SmsAccepted,
    SmsSubmitResult,
    seed_demo,
)
from ussd_gateway.sessions import MemorySessionStore
from ussd_gateway.store.database import Database

OPERATOR_TOKEN = "operator-token-for-tests-0123456789"
OPERATOR_NAME = "night-shift"
IVAN = "79160000001"  # demo: Ivan Petrov, Moscow, ru
IVAN_2 = "79160000002"  # demo: Ivan Petrov, Moscow, en
ANNA = "79160000003"  # demo: Anna Smirnova, Moscow
_PASSWORD_IN_SMS = re.compile(r"(?:password|кабинета): ([0-9A-Za-z]+)\.")


class SmsInbox:
    """The SMSC end of the outbox: accepts everything and keeps what it was given."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, str]] = []

    async def submit_sms(self, destination: str, text: str) -> SmsAccepted | SmsSubmitResult:
        self.messages.append((destination, text))
        return SmsAccepted(message_id=str(len(self.messages)))


@dataclass
class Reply:
    status: int
    headers: Mapping[str, str]
    body: Any
    text: str

    @property
    def problem_type(self) -> str:
        assert self.headers["Content-Type"].startswith("application/problem+json"), self.text
        return str(self.body["type"]).rsplit(":", 1)[-1]


@dataclass
class Api:
    base: str
    http: aiohttp.ClientSession
    deps: HttpDeps
    sender: OutboxSender
    inbox: SmsInbox
    sms_wakeups: list[int] = field(default_factory=list)

    async def call(self, method: str, path: str, *, json_body: Any = None,
                   data: bytes | str | None = None, token: str | None = None,
                   headers: Mapping[str, str] | None = None) -> Reply:
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        kwargs: dict[str, Any] = {"headers": sent}
        if json_body is not None:
            kwargs["json"] = json_body
        elif data is not None:
            kwargs["data"] = data
        async with self.http.request(method, self.base + path, **kwargs) as response:
            text = await response.text()
            body: Any = None
            if response.content_type.endswith("json") and text:
                body = json.loads(text)
            return Reply(response.status, response.headers, body, text)

    async def admin(self, method: str, path: str, **kwargs: Any) -> Reply:
        return await self.call(method, path, token=OPERATOR_TOKEN, **kwargs)

    async def sms_password(self, msisdn: str) -> str:
        """Send what is queued and read the newest password SMS to ``msisdn``."""
        await self.sender.drain_once()
        for destination, text in reversed(self.inbox.messages):
            if destination == msisdn:
                found = _PASSWORD_IN_SMS.search(text)
                assert found, text
                return found.group(1)
        raise AssertionError(f"no SMS to {msisdn}")

    async def login(self, msisdn: str, password: str) -> Reply:
        return await self.call("POST", "/api/v1/login",
                               json_body={"msisdn": msisdn, "password": password})

    async def account_token(self, msisdn: str, new_password: str = "Str0ng-Passw0rd") -> str:
        """Log ``msisdn`` in through the whole SMS-password and forced-change dance."""
        await self.call("POST", "/api/v1/password-requests", json_body={"msisdn": msisdn})
        temporary = await self.sms_password(msisdn)
        first = await self.login(msisdn, temporary)
        assert first.status == 201, first.text
        changed = await self.call("POST", "/api/v1/account/password", token=first.body["token"],
                                  json_body={"current_password": temporary,
                                             "new_password": new_password})
        assert changed.status == 204, changed.text
        second = await self.login(msisdn, new_password)
        assert second.status == 201, second.text
        return str(second.body["token"])

    async def metric(self, name: str, **labels: str) -> float:
        reply = await self.call("GET", "/metrics")
        wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        for line in reply.text.splitlines():
            metric, _, value = line.rpartition(" ")
            if metric == (f"{name}{{{wanted}}}" if labels else name):
                return float(value)
        return 0.0


def service_settings() -> ServiceSettings:
    # Cheap argon2 keeps the tests quick on a shared two-core machine; the rules are the same.
    return ServiceSettings(
        passwords=PasswordSettings(hash_key="test-hash-key-0123456789abcdef",
                                   argon2_time_cost=1, argon2_memory_kib=1024,
                                   max_failed_logins=3),
        outbox=OutboxSettings(body_key="test-body-key-0123456789abcdef"),
    )


@dataclass
class ApiOptions:
    max_body_bytes: int = 64 * 1024
    password_requests_per_client: int = 50
    smpp_status_error: Exception | None = None
    trusted_proxies: tuple[IpNetwork, ...] = ()


async def start_api(tmp_path: Path, options: ApiOptions | None = None
                    ) -> AsyncIterator[Api]:
    options = options or ApiOptions()
    db = await Database.connect(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    await db.upgrade()
    await seed_demo(db)
    wakeups: list[int] = []
    services = SelfCare.create(db, service_settings())
    inbox = SmsInbox()
    sender = OutboxSender(db, inbox, settings=service_settings().outbox)
    metrics = Metrics()

    # No SMPP and no menus here: readiness, the SMPP view and menu reloads are tested against
    # a real gateway in tests/test_e2e_operator.py.
    async def ready() -> dict[str, bool]:
        return {"store": await db.ping(), "smpp": True}

    def smpp_status() -> list[dict[str, object]]:
        if options.smpp_status_error is not None:
            raise options.smpp_status_error
        return [{"name": "smsc-1", "mode": "esme", "bound": True}]

    deps = HttpDeps(
        db=db, services=services, sessions=MemorySessionStore(60), metrics=metrics,
        secret_key=b"test-secret-key-0123456789abcdef", ready=ready,
        reload_menus=lambda: None,
        smpp_status=smpp_status,
        on_sms_queued=lambda: wakeups.append(1),
        admin_tokens=(AdminToken(name="day-shift", token="another-operator-token-xyz"),
                      AdminToken(name=OPERATOR_NAME, token=OPERATOR_TOKEN)),
        password_requests_per_client=options.password_requests_per_client,
        trusted_proxies=options.trusted_proxies,
        token_lifetime=timedelta(minutes=30),
    )
    app = build_app(deps, max_body_bytes=options.max_body_bytes)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession() as http:
            yield Api(base=f"http://127.0.0.1:{port}", http=http, deps=deps, sender=sender,
                      inbox=inbox, sms_wakeups=wakeups)
    finally:
        await runner.cleanup()
        await db.close()

