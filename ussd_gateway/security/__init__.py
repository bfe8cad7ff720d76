"""Secrets handling: password generation and policy, hashing, encryption at rest."""

from ussd_gateway.security.encryption import BodyCipher, DecryptionError
from ussd_gateway.security.hashing import PermanentHasher, TemporaryHasher
from ussd_gateway.security.keys import derive_key
from ussd_gateway.security.passwords import (
    LOOK_ALIKE_FREE_ALPHABET,
    check_password_policy,
    generate_password,
)

__all__ = [
    "LOOK_ALIKE_FREE_ALPHABET",
    "BodyCipher",
    "DecryptionError",
    "PermanentHasher",
    "TemporaryHasher",
    "check_password_policy",
    "derive_key",
    "generate_password",
]
