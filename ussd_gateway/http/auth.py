"""Who is calling: a subscriber's bearer token or an operator's configured token."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from aiohttp import web

from ..config import AdminToken
from .problems import Problem
from .tokens import Claims, Scope, TokenSigner

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="ussd-gateway"'}

# The stamp of a number's current passwords (None without any): one read by primary key.
CurrentStamp = Callable[[str], Awaitable[str | None]]


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def subscriber_claims(request: web.Request, signer: TokenSigner, now: datetime,
                            current_stamp: CurrentStamp, *,
                            allow_password_change: bool) -> Claims:
    token = bearer_token(request)
    claims = signer.verify(token, now) if token is not None else None
    if claims is None:
        raise Problem("unauthorized", "log in to get a token, then send it as a bearer token",
                      headers=_CHALLENGE)
    stamp = await current_stamp(claims.msisdn)
    if stamp is None or not hmac.compare_digest(stamp.encode(),
                                                claims.credential_stamp.encode()):
        raise Problem("unauthorized", "the password was changed after this token was issued; "
                      "log in again", headers=_CHALLENGE)
    if claims.scope is Scope.PASSWORD_CHANGE and not allow_password_change:
        raise Problem("password-change-required",
                      "this token only allows changing the temporary password")
    return claims


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def operator_name(request: web.Request, tokens: Sequence[AdminToken]) -> str:
    """The name of the operator token presented; every configured token is compared in
    constant time, and all of them, so timing tells nothing about which one nearly matched."""
    # Digests have one length, so not even a token's length leaks through timing.
    presented = _digest(bearer_token(request) or "")
    found: str | None = None
    for candidate in tokens:
        if hmac.compare_digest(_digest(candidate.token), presented) and found is None:
            found = candidate.name
    if found is None:
        raise Problem("unauthorized", "an operator token from the configuration is required",
                      headers=_CHALLENGE)
    return found
