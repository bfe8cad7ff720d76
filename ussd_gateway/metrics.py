"""The gateway's Prometheus metrics, on a registry of its own (one per gateway instance)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

STEP_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.ussd_requests = Counter(
            "ussd_requests", "USSD requests by service code and outcome", ["code", "outcome"],
            registry=r)
        self.ussd_step_seconds = Histogram(
            "ussd_step_seconds", "Time from a USSD request to its screen", buckets=STEP_BUCKETS,
            registry=r)
        self.sessions_open = Gauge("ussd_sessions_open", "Live USSD sessions", registry=r)
        self.sessions_timed_out = Gauge(
            "ussd_sessions_timed_out", "Sessions forgotten after the session timeout, seen by "
            "this instance since start", registry=r)
        self.sessions = Counter(
            "ussd_sessions", "USSD sessions by how they ended",
            ["end"], registry=r)  # completed | aborted | timed_out | abandoned
        self.sms = Counter("sms", "SMS by state reached", ["state"], registry=r)
        self.smpp_bound = Gauge("smpp_bound", "SMPP connections bound", ["connection"],
                                registry=r)
        self.smpp_reconnects = Gauge("smpp_reconnects", "SMPP reconnects since start",
                                     ["connection"], registry=r)
        self.smpp_throttled = Gauge("smpp_throttled", "Throttling responses seen since start",
                                    ["connection"], registry=r)
        self.smpp_bind_refused = Gauge("smpp_bind_refused", "Refused binds (SMSC role)",
                                       ["connection"], registry=r)
        self.http_problems = Counter("http_problems", "HTTP error answers by type", ["type"],
                                     registry=r)
        self.web_logins = Counter("web_logins", "Personal account logins by outcome",
                                  ["outcome"], registry=r)  # ok | must_change | invalid | locked

        self._refreshers: list[Callable[[], Awaitable[None]]] = []

    def on_refresh(self, refresher: Callable[[], Awaitable[None]]) -> None:
        """Gauges read from live state (binds, open sessions) are set just before a scrape."""
        self._refreshers.append(refresher)

    async def refresh(self) -> None:
        for refresher in self._refreshers:
            await refresher()

    def render(self) -> bytes:
        return generate_latest(self.registry)
