"""Bearer tokens for the personal account: signed and expiring (pure, no I/O).

Signed with a key derived from the gateway's secret rather than stored: any gateway instance
behind the same store accepts them without a token table, and a short lifetime bounds what a
leaked token is worth. Each carries the stamp of the passwords it was issued under
(``credential_stamp``), which the caller compares with the current one on every request, so a
new password ends every earlier token. A token issued after a temporary password only opens
"change password" (scope ``password-change``).

Format: ``v2.<base64url(json claims)>.<base64url(HMAC-SHA256)>``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum

from ussd_gateway.security.keys import derive_key

_VERSION = "v2"  # v1 tokens carried no credential stamp: refused


class Scope(Enum):
    ACCOUNT = "account"
    PASSWORD_CHANGE = "password-change"


@dataclass(frozen=True)
class Claims:
    msisdn: str
    scope: Scope
    expires_at: datetime
    credential_stamp: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    def __init__(self, secret: str | bytes, lifetime: timedelta) -> None:
        self._key = derive_key(secret, "ussd-gateway web token v1")
        self.lifetime = lifetime

    def issue(self, msisdn: str, scope: Scope, now: datetime, *,
              credential_stamp: str) -> tuple[str, datetime]:
        expires_at = (now + self.lifetime).replace(microsecond=0)
        claims = {"sub": msisdn, "scope": scope.value, "exp": int(expires_at.timestamp()),
                  "cred": credential_stamp, "nonce": secrets.token_urlsafe(9)}
        payload = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
        return f"{_VERSION}.{payload}.{self._mac(payload)}", expires_at

    def verify(self, token: str, now: datetime) -> Claims | None:
        """The claims of a genuine, unexpired token; None for anything else."""
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != _VERSION:
            return None
        _, payload, mac = parts
        if not hmac.compare_digest(self._mac(payload), mac):
            return None
        try:
            claims = json.loads(_unb64(payload))
            msisdn, scope = str(claims["sub"]), Scope(claims["scope"])
            expires_at = datetime.fromtimestamp(int(claims["exp"]), UTC)
            credential_stamp = str(claims["cred"])
        except (ValueError, KeyError, TypeError, binascii.Error):
            return None
        if expires_at <= now:
            return None
        return Claims(msisdn=msisdn, scope=scope, expires_at=expires_at,
                      credential_stamp=credential_stamp)

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._key, f"{_VERSION}.{payload}".encode(), hashlib.sha256).digest())
