"""Encryption at rest for SMS bodies that carry a secret (AES-256-GCM)."""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ussd_gateway.security.keys import derive_key

_NONCE_BYTES = 12
_VERSION = b"\x01"


class DecryptionError(Exception):
    """The stored body cannot be decrypted with the configured key."""


class BodyCipher:
    def __init__(self, secret: str | bytes) -> None:
        self._aead = AESGCM(derive_key(secret, "ussd-gateway sms body v1"))

    def encrypt(self, text: str, *, associated: bytes = b"") -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return _VERSION + nonce + self._aead.encrypt(nonce, text.encode(), associated)

    def decrypt(self, blob: bytes, *, associated: bytes = b"") -> str:
        if blob[:1] != _VERSION or len(blob) < 1 + _NONCE_BYTES:
            raise DecryptionError("unknown body format")
        nonce = blob[1 : 1 + _NONCE_BYTES]
        try:
            return self._aead.decrypt(nonce, blob[1 + _NONCE_BYTES :], associated).decode()
        except InvalidTag as exc:
            raise DecryptionError("body does not decrypt with the configured key") from exc
