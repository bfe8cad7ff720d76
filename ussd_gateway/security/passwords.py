"""Generating temporary passwords and judging chosen ones (pure functions, no I/O)."""

from __future__ import annotations

import secrets

# Characters that pass for one another on a small screen or in a phone's font: a password
# read off the SMS must survive being typed in, so an alphabet holds at most one of each.
LOOK_ALIKES: tuple[str, ...] = (
    "0OoDQ", "1lIi|!", "5Ss", "2Zz", "8B", "6bG", "9gq", "cC", "kK", "pP", "uU", "vV", "wW",
    "xX", "yY", "nh", "rn", "`'",
)
# No 0/O/o, 1/l/I/i, 5/S/s, 2/Z/z, 8/B, 6/b/G, 9/g/q, and each letter whose capital has the
# same shape (c/C, k/K ...) in one case only.
LOOK_ALIKE_FREE_ALPHABET = "347adefhjmrtACDEFHJKLMNPRTUVWXY"


def look_alikes_in(alphabet: str) -> tuple[str, str] | None:
    """Two characters of ``alphabet`` that look alike, or None."""
    for group in LOOK_ALIKES:
        present = [ch for ch in group if ch in alphabet]
        if len(present) > 1:
            return present[0], present[1]
    return None


def alphabet_problem(alphabet: str) -> str | None:
    """Why ``alphabet`` cannot make passwords, or None."""
    if len(set(alphabet)) < 10:
        return "needs at least 10 distinct characters"
    if len(set(alphabet)) != len(alphabet):
        return "has a character more than once (it would be likelier than the others)"
    if not all(ch.isascii() and ch.isprintable() and not ch.isspace() for ch in alphabet):
        return "may hold only printable ASCII characters without spaces (any keyboard types them)"
    pair = look_alikes_in(alphabet)
    if pair is not None:
        return f"{pair[0]!r} and {pair[1]!r} look alike on a handset's screen; keep one"
    return None

COMMON_PASSWORDS: frozenset[str] = frozenset(
    """
    123456 1234567 12345678 123456789 1234567890 password password1 qwerty qwerty123
    qwertyuiop 11111111 00000000 iloveyou abc12345 1q2w3e4r 1q2w3e4r5t qwe123 zaq12wsx
    admin123 letmein welcome1 passw0rd p@ssw0rd 123123123 987654321 asdfghjkl 12341234
    11223344 parol parol123 privet gfhjkm qwertyu1 password123 aa123456 123qwe123
    1qaz2wsx 1234qwer qwer1234 q1w2e3r4 q1w2e3r4t5 qazwsxedc zxcvbnm1 iloveyou1 football
    baseball superman sunshine princess trustno1 computer whatever starwars michael1
    jennifer passw0rd1 ghbdtn ghbdtn123 gfhjkm123 nfnmzyf vfhbyf ytrhjvfyn
    """.split()
)
# Runs a person types without thinking: keyboard rows (Latin and Russian) and, below,
# any run of consecutive characters (12345678, abcdefgh, 87654321).
_KEYBOARD_ROWS = ("1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm", "йцукенгшщзхъ",
                  "фывапролджэ", "ячсмитьбю")
_EASY_RUN = 6


def generate_password(length: int, alphabet: str = LOOK_ALIKE_FREE_ALPHABET) -> str:
    if length < 4:
        raise ValueError("a password shorter than 4 characters is not a password")
    if len(set(alphabet)) < 10:
        raise ValueError("the password alphabet needs at least 10 distinct characters")
    # One draw from the OS per password, not one per character (secrets.choice): bytes at or
    # above the largest multiple of the alphabet's size are dropped, so no character is
    # likelier than another.
    size = len(alphabet)
    if size > 256:
        return "".join(secrets.choice(alphabet) for _ in range(length))
    usable = 256 - 256 % size
    chosen: list[str] = []
    while len(chosen) < length:
        chosen.extend(alphabet[byte % size] for byte in secrets.token_bytes(length * 2)
                      if byte < usable)
    return "".join(chosen[:length])


def check_password_policy(
    password: str,
    msisdn: str,
    *,
    min_length: int,
    max_length: int = 128,
    common: frozenset[str] = COMMON_PASSWORDS,
) -> str | None:
    """Return why ``password`` is refused, or None when it is acceptable."""
    if len(password) < min_length:
        return f"too short: at least {min_length} characters"
    if len(password) > max_length:
        return f"too long: at most {max_length} characters"
    if password.strip() != password:
        return "must not start or end with a space"
    if len(set(password)) < 3:
        return "too simple: use more different characters"
    digits = "".join(ch for ch in password if ch.isdigit())
    national = msisdn[-10:]
    if national and (national in digits or msisdn in digits or digits in {msisdn, national}):
        return "must not contain your phone number"
    lowered = password.lower()
    # "Qwerty12!", "Password1": a common word dressed up with digits and signs
    core = lowered.strip("0123456789!@#$%^&*()_+-=.,?~ ")
    if lowered in common or core in common:
        return "too common: choose another"
    if max(lowered.count(ch) for ch in set(lowered)) * 2 > len(lowered):
        return "too simple: one character makes up half of it"
    run = _longest_easy_run(lowered)
    if len(run) >= _EASY_RUN and len(run) * 2 >= len(password):
        return f"too easy to guess: mostly the sequence {run!r}"
    return None


def _longest_easy_run(text: str) -> str:
    """The longest stretch of ``text`` that is a run of consecutive characters (either way)
    or a stretch of one keyboard row (either way)."""
    best = ""
    for start in range(len(text)):
        for step in (1, -1):
            end = start + 1
            while end < len(text) and ord(text[end]) - ord(text[end - 1]) == step:
                end += 1
            if end - start > len(best):
                best = text[start:end]
    for row in _KEYBOARD_ROWS:
        for line in (row, row[::-1]):
            for start in range(len(line)):
                end = start + len(best) + 1
                while end <= len(line) and line[start:end] in text:
                    best = line[start:end]
                    end += 1
    return best
