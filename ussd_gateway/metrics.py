"""The gateway's Prometheus metrics, on a registry of its own (one per gateway instance)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

SESSION_ENDS = ("completed", "abandoned", "timed_out", "failed")
SMS_STATES = ("queued", "sent", "throttled", "failed", "expired", "delivered")
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
        self.sessions_open = Gauge(
            "ussd_sessions_open", "Live USSD sessions (with Redis: every instance's, so each "
            "instance reports the same number)", registry=r)
        self.sessions = Counter(
            "ussd_sessions", "USSD sessions by how they ended: completed (a last screen), "
            "abandoned (hung up, or dialed again, mid-dialogue), timed_out (no answer within "
            "sessions.timeout_seconds; with Redis each is counted once, by one instance), "
            "failed (ended on the 'service unavailable' screen: the store or a bug)",
            ["end"], registry=r)
        self.sms = Counter(
            "sms", "SMS by what happened to them: queued, sent (the SMSC took it), throttled "
            "(the SMSC asked us to slow down; retried), failed (the SMSC refused it, or its "
            "receipt says undeliverable, rejected or deleted), expired (not sent within "
            "sms.max_age_hours, or its receipt says expired), delivered (its receipt says so)",
            ["state"], registry=r)
        self.smpp_bound = Gauge("smpp_bound", "SMPP binds up per connection", ["connection"],
                                registry=r)
        self.smpp_reconnects = Gauge(
            "smpp_reconnects", "Reconnect attempts after a lost link or a failed connect or "
            "bind (esme connections), since start", ["connection"], registry=r)
        self.smpp_throttled = Gauge(
            "smpp_throttled", "Our requests the peer answered ESME_RTHROTTLED or ESME_RMSGQFUL "
            "(SMS and screens), since start", ["connection"], registry=r)
        self.smpp_requests_throttled = Gauge(
            "smpp_requests_throttled", "Requests from the peer we answered ESME_RTHROTTLED "
            "because the connection's window was full, since start", ["connection"],
            registry=r)
        self.smpp_bind_refused = Gauge("smpp_bind_refused", "Refused binds (SMSC role)",
                                       ["connection"], registry=r)
        # Every series exists from the start: an alert on "failed > 0" needs a 0 to compare.
        for end in SESSION_ENDS:
            self.sessions.labels(end)
        for state in SMS_STATES:
            self.sms.labels(state)
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
