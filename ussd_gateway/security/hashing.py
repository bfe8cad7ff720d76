"""Password hashes: a keyed HMAC for short-lived SMS passwords, argon2id for chosen ones.

The temporary password is random from a large alphabet and expires soon, so a keyed hash is
as strong as a slow one against a stolen table without the key, and keeps ``*111*25#`` cheap.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ussd_gateway.security.keys import derive_key

_TEMP_PREFIX = "hmac-sha256$"


class TemporaryHasher:
    def __init__(self, secret: str | bytes) -> None:
        self._key = derive_key(secret, "ussd-gateway temporary password v1")

    def hash(self, msisdn: str, password: str) -> str:
        mac = hmac.new(self._key, f"{msisdn}:{password}".encode(), hashlib.sha256)
        return _TEMP_PREFIX + mac.hexdigest()

    def verify(self, msisdn: str, password: str, stored: str) -> bool:
        return hmac.compare_digest(self.hash(msisdn, password), stored)


class PermanentHasher:
    """argon2id; every call runs in a worker thread so the event loop never waits on it."""

    def __init__(self, time_cost: int = 2, memory_cost_kib: int = 19456, parallelism: int = 1):
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_cost_kib, parallelism=parallelism
        )

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored: str, password: str) -> bool:
        return await asyncio.to_thread(self._verify_blocking, stored, password)

    def _verify_blocking(self, stored: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False
