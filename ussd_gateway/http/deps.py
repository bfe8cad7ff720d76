"""Everything the HTTP API needs from the rest of the gateway, passed in as one frozen value."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ..config import AdminToken, IpNetwork
from ..metrics import Metrics
from ..services import SelfCare
from ..sessions.base import SessionStore
from ..store.database import Database

ReadyCheck = Callable[[], Awaitable[dict[str, bool]]]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class HttpDeps:
    db: Database
    services: SelfCare
    sessions: SessionStore
    metrics: Metrics
    # Signs the personal account's bearer tokens (a key derived from it, never the secret).
    secret_key: bytes
    # Per check ("store", "smpp"...): True when fine. /readyz is 200 only when all are.
    ready: ReadyCheck
    # None when the new menus are serving, else why they were refused.
    reload_menus: Callable[[], str | None]
    # One dict per SMPP connection: at least "name", "mode" and "bound".
    smpp_status: Callable[[], list[dict[str, object]]]
    # Wakes the SMS sender after something was queued.
    on_sms_queued: Callable[[], None]
    admin_tokens: tuple[AdminToken, ...] = ()
    country_code: str = "7"
    token_lifetime: timedelta = timedelta(minutes=30)
    # In place of the site's robot check on "get password by SMS".
    password_requests_per_client: int = 5
    password_request_window: timedelta = timedelta(minutes=15)
    # Reverse proxies whose X-Forwarded-For names the client; empty: the socket peer is.
    trusted_proxies: tuple[IpNetwork, ...] = ()
    clock: Callable[[], datetime] = _utc_now
