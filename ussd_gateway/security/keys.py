"""Separate keys for separate jobs, all derived from the one configured secret."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def derive_key(secret: str | bytes, purpose: str, length: int = 32) -> bytes:
    """HKDF-SHA256 of the configured secret, labelled by ``purpose``."""
    material = secret.encode() if isinstance(secret, str) else secret
    if not material:
        raise ValueError("the secret key is empty; set it in config or the environment")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=purpose.encode())
    return hkdf.derive(material)
