"""A short fingerprint of a subscriber's passwords, to tie a login token to them.

Any new password (chosen, or by SMS) gives a new stamp, so a token carrying the old one is
refused. Keyed, so the stamp says nothing about the hashes even to someone holding the token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from ussd_gateway.security.keys import derive_key

_STAMP_BYTES = 12


class CredentialStamper:
    def __init__(self, secret: str | bytes) -> None:
        self._key = derive_key(secret, "ussd-gateway credential stamp v1")

    def stamp(self, permanent_hash: str | None, temporary_hash: str | None) -> str:
        # Argon2 salts every hash and SMS passwords are random, so a new password is a new stamp.
        material = f"{permanent_hash or ''}\0{temporary_hash or ''}".encode()
        digest = hmac.new(self._key, material, hashlib.sha256).digest()[:_STAMP_BYTES]
        return base64.urlsafe_b64encode(digest).decode("ascii")
