"""The rule for a NEW wallet passphrase, shared by the GUI and the CLI so both accept the same.

At least `MIN_LENGTH` characters and a `passphrase_strength` score of `MIN_STRENGTH` or more.
Existing passphrases (unlock) are never checked against it: only new ones are.
"""

from __future__ import annotations

import math

MIN_LENGTH = 8
MIN_STRENGTH = 2
GOOD_PASSPHRASE_HINT = (
    f"Use at least {MIN_LENGTH} characters: four or more unrelated words "
    "(e.g. 'maple orbit quiet lantern') or 12+ characters mixing letters, digits and symbols."
)
_COMMON = frozenset(
    (
        "password",
        "passw0rd",
        "qwerty",
        "qwertyuiop",
        "letmein",
        "iloveyou",
        "welcome",
        "admin",
        "abc",
        "abcdef",
        "monkey",
        "dragon",
        "sunshine",
        "football",
        "ethereum",
        "bitcoin",
        "",
        "1234",
        "12345678",
        "123456789",
    )
)


def passphrase_strength(text: str) -> int:
    """A 0..4 score from a rough entropy estimate (length, character classes, repeats, words)."""
    if not text:
        return 0
    if text.lower().rstrip("0123456789!") in _COMMON:
        return 0
    pool = 0
    if any(c.islower() for c in text):
        pool += 26
    if any(c.isupper() for c in text):
        pool += 26
    if any(c.isdigit() for c in text):
        pool += 10
    if any(not c.isalnum() for c in text):
        pool += 33
    unique = len(set(text))
    effective = min(len(text), unique * 2)
    bits = effective * math.log2(max(pool, 2))
    if text.isalpha() and len(text) < 12:  # one dictionary-like word
        bits *= 0.6
    words = [w for w in text.split() if len(w) >= 3]
    if len(words) >= 4:  # a diceware-style phrase: about 11 bits per word at least
        bits = max(bits, 11.0 * len(words))
    if bits < 28:
        return 0
    if bits < 36:
        return 1
    if bits < 60:
        return 2
    if bits < 80:
        return 3
    return 4


def passphrase_problem(text: str) -> str:
    """Why `text` cannot be a new wallet passphrase, or '' when it satisfies the rule."""
    if len(text) < MIN_LENGTH:
        return f"The passphrase needs at least {MIN_LENGTH} characters."
    if passphrase_strength(text) < MIN_STRENGTH:
        return "The passphrase is too easy to guess: make it longer or add words."
    return ""
