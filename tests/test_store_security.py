"""Secrets: generated passwords, the password policy, hashes, encryption at rest."""

from __future__ import annotations

import string
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ussd_gateway.security import (
    LOOK_ALIKE_FREE_ALPHABET,
    BodyCipher,
    DecryptionError,
    PermanentHasher,
    TemporaryHasher,
    check_password_policy,
    derive_key,
    generate_password,
)
from ussd_gateway.security.passwords import look_alikes_in


def test_generated_passwords_use_the_alphabet_and_differ() -> None:
    passwords = {generate_password(10) for _ in range(200)}
    assert len(passwords) == 200
    assert all(len(p) == 10 and set(p) <= set(LOOK_ALIKE_FREE_ALPHABET) for p in passwords)
    for look_alike in "0Oo1lIi5Ss2Zz8B6bG9gq":
        assert look_alike not in LOOK_ALIKE_FREE_ALPHABET
    assert look_alikes_in(LOOK_ALIKE_FREE_ALPHABET) is None  # nor c/C, k/K, rn/m ...
    assert look_alikes_in("347acdefhjkmnprtuvwxyACDEFHJKLMNPRTUVWXY") == ("c", "C")


@pytest.mark.parametrize("alphabet", [LOOK_ALIKE_FREE_ALPHABET, string.printable])
def test_every_character_of_the_alphabet_is_equally_likely(alphabet: str) -> None:
    """A biased generator makes passwords easier to guess. With a million characters drawn,
    each count stays within 5% of the mean (5 to 8 standard deviations). A plain
    ``byte % size`` would give some characters 9% (40 symbols) or 17% (100) more."""
    drawn = "".join(generate_password(20, alphabet) for _ in range(50_000))
    counts = [drawn.count(ch) for ch in alphabet]
    mean = len(drawn) / len(alphabet)
    assert all(abs(count - mean) < 0.05 * mean for count in counts), counts


def test_a_too_short_password_or_a_poor_alphabet_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="shorter than 4"):
        generate_password(3)
    with pytest.raises(ValueError, match="10 distinct"):
        generate_password(8, "abc")


@pytest.mark.parametrize(
    ("password", "verdict"),
    [
        ("Kalinka-Malinka-42", None),
        ("short1", "too short"),
        ("x" * 129, "too long"),
        (" padded-password", "space"),
        ("abababababab", "too simple"),
        ("pw-9161234567", "phone number"),
        ("79161234567!x", "phone number"),
        ("Password1", "too common"),
        ("Qwerty12!", "too common"),
        ("12345678a", "the sequence '12345678'"),
        ("abcdefgh", "the sequence 'abcdefgh'"),
        ("87654321x", "the sequence '87654321'"),
        ("asdfghjk1", "the sequence 'asdfghjk'"),
        ("йцукенгш", "the sequence 'йцукенгш'"),
        ("aaaaaa12", "half of it"),
        ("My-asdfgh-horse-battery", None),  # a run, but not most of it
        ("Tyulpan-7-Romashka", None),
    ],
)
def test_password_policy(password: str, verdict: str | None) -> None:
    result = check_password_policy(password, "79161234567", min_length=8)
    if verdict is None:
        assert result is None
    else:
        assert result is not None and verdict in result


def test_the_temporary_hash_is_keyed_and_bound_to_the_number() -> None:
    hasher = TemporaryHasher("key one")
    stored = hasher.hash("79161234567", "AbCd3477")
    assert "AbCd3477" not in stored
    assert hasher.verify("79161234567", "AbCd3477", stored)
    assert not hasher.verify("79161234567", "AbCd3478", stored)
    assert not hasher.verify("79161234568", "AbCd3477", stored)
    assert not TemporaryHasher("key two").verify("79161234567", "AbCd3477", stored)


async def test_argon2id_runs_in_a_worker_thread() -> None:
    loop_thread = threading.get_ident()
    seen: list[int] = []

    class Spy(PermanentHasher):
        def _verify_blocking(self, stored: str, password: str) -> bool:
            seen.append(threading.get_ident())
            return super()._verify_blocking(stored, password)

    hasher = Spy(time_cost=1, memory_cost_kib=1024)
    stored = await hasher.hash("Kalinka-Malinka-42")
    assert stored.startswith("$argon2id$")
    assert await hasher.verify(stored, "Kalinka-Malinka-42")
    assert not await hasher.verify(stored, "Kalinka-Malinka-43")
    assert not await hasher.verify("not a hash", "x")
    assert seen and loop_thread not in seen


@given(st.text(max_size=300))
def test_a_body_round_trips_and_the_ciphertext_hides_it(body: str) -> None:
    cipher = BodyCipher("body key")
    blob = cipher.encrypt(body, associated=b"79161234567")
    assert cipher.decrypt(blob, associated=b"79161234567") == body
    if len(body) >= 4:
        assert body.encode() not in blob


def test_a_wrong_key_a_tampered_body_or_another_destination_do_not_decrypt() -> None:
    blob = BodyCipher("body key").encrypt("secret", associated=b"79161234567")
    with pytest.raises(DecryptionError):
        BodyCipher("another key").decrypt(blob, associated=b"79161234567")
    with pytest.raises(DecryptionError):
        BodyCipher("body key").decrypt(blob, associated=b"79160000000")
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(DecryptionError):
        BodyCipher("body key").decrypt(tampered, associated=b"79161234567")
    with pytest.raises(DecryptionError):
        BodyCipher("body key").decrypt(b"\x02garbage", associated=b"")


def test_keys_are_separate_per_purpose_and_an_empty_secret_is_refused() -> None:
    assert derive_key("s", "one") != derive_key("s", "two")
    assert derive_key("s", "one") == derive_key(b"s", "one")
    with pytest.raises(ValueError, match="empty"):
        derive_key("", "one")
