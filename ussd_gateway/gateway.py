"""The one place that builds every part, wires them together and shuts them down in reverse.

Start order: store -> services -> menus -> sessions -> simulator (if embedded) -> SMPP
connections -> SMS outbox sender -> HTTP. Stop order is the reverse, so the SMPP links unbind
before the store closes and no request is left half-answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aiohttp import web
from sqlalchemy.engine import make_url

from menus import MenuEngine, MenuError, ScreenLimits, load_menus
from smpp.client import EsmeClient, EsmeSettings
from smpp.server import SmscServer, SmscSettings
from smpp.simulator import Simulator, SimulatorSettings

from . import services as svc
from .actions import MENU_CONTRACT, ServiceActions
from .config import GatewayConfig, SmppConnectionConfig
from .dispatch import UssdDispatcher
from .http import HttpDeps, build_app
from .metrics import Metrics
from .services.outbox import receipt_state
from .sessions import MemorySessionStore, SessionStore
from .sessions.base import OnTimedOut
from .sms_transport import SmppSmsTransport
from .store.database import Database

log = logging.getLogger("ussd_gateway")


@dataclass
class Running:
    """What a started gateway exposes (to the CLI, the HTTP API and tests)."""

    db: Database
    services: svc.SelfCare
    sessions: SessionStore
    dispatcher: UssdDispatcher
    simulator: Simulator | None
    clients: dict[str, EsmeClient]
    servers: dict[str, SmscServer]
    outbox: svc.OutboxSender | None
    http_port: int | None


class Gateway:
    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.metrics = Metrics()
        self._engine: MenuEngine | None = None
        self._stack = AsyncExitStack()
        self.running: Running | None = None

    @property
    def engine(self) -> MenuEngine:
        assert self._engine is not None, "gateway not started"
        return self._engine

    def load_engine(self) -> MenuEngine:
        cfg = self.config.menus
        limits = screen_limits(self.config)
        menus = load_menus(list(cfg.paths), MENU_CONTRACT, limits)
        return MenuEngine(menus, limits, default_language=cfg.default_language)

    def reload_menus(self) -> str | None:
        """Swap in freshly loaded menus; on any error keep the old ones and say why."""
        try:
            engine = self.load_engine()
        except (MenuError, ValueError) as exc:
            log.error("menu reload refused, old menus keep serving: %s", exc)
            return str(exc)
        self._engine = engine
        log.info("menus reloaded: codes %s", ", ".join(sorted(engine.codes)))
        return None

    async def start(self) -> Running:
        try:
            return await self._start()
        except BaseException:
            await self._stack.aclose()
            raise

    async def _start(self) -> Running:
        cfg = self.config
        stack = self._stack
        db = await Database.connect(cfg.store.url)
        stack.push_async_callback(db.close)
        if cfg.store.auto_upgrade:
            await db.upgrade()
        if cfg.store.demo_data:
            await svc.seed_demo(db)
        bundle = svc.SelfCare.create(db, service_settings(cfg), on_sms_queued=self._wake_outbox)
        self._engine = self.load_engine()
        sessions = await self._sessions(cfg.sessions.timeout_seconds,
                                        on_timed_out=self.metrics.sessions.labels("timed_out").inc)
        stack.push_async_callback(sessions.close)
        resumable = None
        if cfg.sessions.resume_grace_seconds > 0:
            resumable = await self._sessions(
                cfg.sessions.timeout_seconds + cfg.sessions.resume_grace_seconds, "resume:")
            stack.push_async_callback(resumable.close)

        actions = ServiceActions(
            bundle, on_password_issued=self.metrics.sms.labels("queued").inc)
        dispatcher = UssdDispatcher(
            engine=lambda: self.engine, sessions=sessions, actions=actions, metrics=self.metrics,
            country_code=cfg.country_code, default_language=cfg.menus.default_language,
            resumable=resumable)

        simulator = None
        if cfg.simulator.enabled:
            simulator = Simulator(SimulatorSettings(
                host=cfg.simulator.host, port=cfg.simulator.port,
                system_id=cfg.simulator.system_id, password=cfg.simulator.password,
                dialect=cfg.simulator.dialect,
                control_host=cfg.simulator.control_host, control_port=cfg.simulator.control_port))
            await simulator.start()
            stack.push_async_callback(simulator.stop)

        clients: dict[str, EsmeClient] = {}
        servers: dict[str, SmscServer] = {}
        for conn in cfg.connections:
            if conn.mode == "esme":
                client = EsmeClient(_esme_settings(conn, cfg.sms.source), dispatcher,
                                    on_receipt=_receipt_recorder(bundle.outbox, self.metrics))
                await client.start()
                stack.push_async_callback(client.stop)
                clients[conn.name] = client
            else:
                server = SmscServer(_smsc_settings(conn), dispatcher)
                await server.start()
                stack.push_async_callback(server.stop)
                servers[conn.name] = server

        outbox = None
        sms_name = cfg.sms.connection or next(iter(clients), None)
        if sms_name is not None and sms_name in clients:
            outbox = svc.OutboxSender(db, SmppSmsTransport(clients[sms_name]),
                                      settings=service_settings(cfg).outbox,
                                      on_outcome=self._count_sms)
            task = asyncio.create_task(outbox.run(), name="sms-outbox")
            stack.push_async_callback(_stop_outbox, outbox, task)
            # runs before the outbox stops: an SMS in hand on a lost link ends at once
            stack.callback(_begin_stop, list(clients.values()))
        else:
            # Only smsc connections here: another instance on the same store may send them.
            log.warning("no esme connection to send SMS from on this instance: passwords and "
                        "other SMS stay queued in the store until an instance with one (see "
                        "sms.connection) sends them")

        approvals = asyncio.create_task(bundle.linking.run_auto_approval(
            every=timedelta(minutes=cfg.linking.auto_approval_minutes)), name="link-approvals")
        stack.push_async_callback(_cancel, approvals)

        self.metrics.on_refresh(self._refresh_metrics)
        self.running = Running(db=db, services=bundle, sessions=sessions, dispatcher=dispatcher,
                               simulator=simulator, clients=clients, servers=servers,
                               outbox=outbox, http_port=None)
        if cfg.http.enabled:
            self.running.http_port = await self._start_http()
        return self.running

    async def stop(self) -> None:
        await self._stack.aclose()
        self.running = None

    def _count_sms(self, state: str, count: int) -> None:
        self.metrics.sms.labels(state).inc(count)

    def _wake_outbox(self) -> None:
        if self.running is not None and self.running.outbox is not None:
            self.running.outbox.wake()

    async def _refresh_metrics(self) -> None:
        running, m = self.running, self.metrics
        if running is None:
            return
        for name, client in running.clients.items():
            m.smpp_bound.labels(name).set(1 if client.is_bound else 0)
            m.smpp_reconnects.labels(name).set(client.reconnects)
            m.smpp_throttled.labels(name).set(client.throttled)
            m.smpp_requests_throttled.labels(name).set(client.refused)
        for name, server in running.servers.items():
            m.smpp_bound.labels(name).set(server.bound_sessions)
            m.smpp_bind_refused.labels(name).set(server.binds_refused)
            m.smpp_throttled.labels(name).set(server.screens_throttled)
            m.smpp_requests_throttled.labels(name).set(server.requests_throttled)
        m.sessions_open.set(await running.sessions.count())  # counts timeouts too

    def smpp_status(self) -> list[dict[str, object]]:
        running = self.running
        if running is None:
            return []
        status: list[dict[str, object]] = []
        for name, client in running.clients.items():
            status.append({"name": name, "mode": "esme", "bound": client.is_bound,
                           "reconnects": client.reconnects, "throttled": client.throttled,
                           "requests_throttled": client.refused})
        for name, server in running.servers.items():
            status.append({"name": name, "mode": "smsc", "bound": server.bound_sessions > 0,
                           "sessions": server.bound_sessions,
                           "binds_refused": server.binds_refused,
                           "throttled": server.screens_throttled,
                           "requests_throttled": server.requests_throttled})
        return status

    async def _sessions(self, lifetime: float, scope: str = "",
                        on_timed_out: OnTimedOut | None = None) -> SessionStore:
        cfg = self.config.sessions
        if cfg.backend == "redis":
            from .sessions.redis import RedisSessionStore

            store = RedisSessionStore.from_url(cfg.redis_url, cfg.key_prefix + scope, lifetime,
                                               on_timed_out)
            if not await store.ping():
                await store.close()
                shown = make_url(cfg.redis_url).render_as_string(hide_password=True)
                raise StartFailed(f"sessions.redis_url: cannot reach Redis at {shown}")
            return store
        return MemorySessionStore(lifetime, on_timed_out=on_timed_out)

    async def _ready(self) -> dict[str, bool]:
        running = self.running
        if running is None:
            return {"store": False, "sessions": False, "smpp": False}
        bound = any(link["bound"] for link in self.smpp_status())
        # Without the session store (Redis) no dialogue gets past its first screen.
        return {"store": await running.db.ping(), "sessions": await running.sessions.ping(),
                "smpp": bound}

    async def _start_http(self) -> int:
        cfg = self.config.http
        running = self.running
        assert running is not None
        deps = HttpDeps(
            db=running.db, services=running.services, sessions=running.sessions,
            metrics=self.metrics, secret_key=self.config.secret_key, ready=self._ready,
            reload_menus=self.reload_menus, smpp_status=self.smpp_status,
            on_sms_queued=self._wake_outbox, admin_tokens=cfg.admin_tokens,
            country_code=self.config.country_code, trusted_proxies=cfg.trusted_proxies,
            token_lifetime=timedelta(seconds=cfg.token_ttl_seconds))
        app = build_app(deps, max_body_bytes=cfg.max_body_bytes)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        self._stack.push_async_callback(runner.cleanup)
        site = web.TCPSite(runner, cfg.host, cfg.port)
        await site.start()
        return int(runner.addresses[0][1])  # the bound port, also when port = 0


def _begin_stop(clients: list[EsmeClient]) -> None:
    for client in clients:
        client.begin_stop()


def service_settings(config: GatewayConfig) -> svc.ServiceSettings:
    p, sms, link = config.passwords, config.sms, config.linking
    return svc.ServiceSettings(
        passwords=svc.PasswordSettings(
            hash_key=config.secret_key, length=p.length, alphabet=p.alphabet,
            validity=timedelta(minutes=p.validity_minutes),
            rate_limit_count=p.rate_limit_count,
            rate_limit_window=timedelta(minutes=p.rate_limit_window_minutes),
            max_failed_logins=p.login_max_failures, lockout=timedelta(minutes=p.lockout_minutes)),
        outbox=svc.OutboxSettings(
            body_key=config.secret_key, batch_size=sms.batch_size,
            send_timeout=timedelta(seconds=sms.send_timeout_seconds),
            lease=timedelta(seconds=sms.lease_seconds),
            retry_initial=timedelta(seconds=sms.retry_initial_seconds),
            retry_max=timedelta(seconds=sms.retry_max_seconds),
            poll_interval=timedelta(seconds=sms.poll_interval_seconds),
            max_age=timedelta(hours=sms.max_age_hours)),
        linking=svc.LinkingSettings(
            review_working_days=link.review_working_days, holidays=link.holidays,
            weekend=link.weekend, working_weekends=link.working_weekends,
            utc_offset=timedelta(hours=link.utc_offset_hours)),
        default_language=config.menus.default_language,
    )


def screen_limits(config: GatewayConfig) -> ScreenLimits:
    cfg = config.menus
    return ScreenLimits(gsm7_chars=cfg.gsm7_chars, ucs2_chars=cfg.ucs2_chars,
                        more_key=cfg.more_key, back_key=cfg.back_key, home_key=cfg.home_key,
                        max_retries=cfg.max_retries)


def _esme_settings(conn: SmppConnectionConfig, sms_source: str) -> EsmeSettings:
    return EsmeSettings(
        name=conn.name, host=conn.host, port=conn.port, system_id=conn.system_id,
        password=conn.password, system_type=conn.system_type, address_range=conn.address_range,
        bind_mode=conn.bind_mode, dialect=conn.dialect,
        enquire_link_interval=conn.enquire_link_interval, response_timeout=conn.response_timeout,
        window=conn.window, reconnect_min=conn.reconnect_min, reconnect_max=conn.reconnect_max,
        sms_source=sms_source, max_pdu=conn.max_pdu)


def _smsc_settings(conn: SmppConnectionConfig) -> SmscSettings:
    return SmscSettings(
        name=conn.name, host=conn.host, port=conn.port, system_id=conn.system_id,
        password=conn.password, allow=conn.allow, dialect=conn.dialect,
        max_pdu=conn.max_pdu, window=conn.window,
        enquire_link_interval=conn.enquire_link_interval,
        response_timeout=conn.response_timeout)


# What a final receipt state makes of an SMS in the metrics; the others (ENROUTE, ACCEPTD,
# UNKNOWN) say nothing final yet.
_RECEIPT_METRIC = {"DELIVRD": "delivered", "EXPIRED": "expired", "UNDELIV": "failed",
                   "REJECTD": "failed", "DELETED": "failed"}


def _receipt_recorder(outbox: Any, metrics: Metrics) -> Callable[[str, str], Awaitable[None]]:
    async def record(message_id: str, state: str) -> None:
        # Counted once stored, whether applied now or kept until the send that it overtook
        # is recorded.
        await outbox.record_receipt(message_id, state)
        counted = _RECEIPT_METRIC.get(receipt_state(state))
        if counted is not None:
            metrics.sms.labels(counted).inc()

    return record


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _stop_outbox(outbox: svc.OutboxSender, task: asyncio.Task[None]) -> None:
    await outbox.stop()
    try:
        await asyncio.wait_for(task, 5)
    except (TimeoutError, asyncio.CancelledError):
        task.cancel()


class StartFailed(RuntimeError):
    """The gateway cannot start for a reason the operator fixes (said in one line)."""
