"""Credentials: random passwords/ids and the strict validators that guard nginx config."""

from __future__ import annotations

import math

import pytest
from erigolem_runtime.credentials import (
    INSTANCE_ID_RE,
    PASSWORD_ALPHABET,
    new_instance_id,
    new_password,
    new_user,
    validate_instance_id,
    validate_password,
    validate_user,
)
from hypothesis import given
from hypothesis import strategies as st

HOSTILE_IDS = [
    "../x",
    "a;b",
    "a b",
    "abc\n",
    "ab\ncd",
    "$host",
    "a" * 64,
    "x" * 10_000,
    "",
    "ab",
    "-abc",
    "ABC",
    "abc/def",
    "abc}",
    "abc\x00",
    "é-node",
    None,
    123,
]


def test_password_has_at_least_128_bits_and_a_safe_alphabet() -> None:
    pw = new_password()
    assert len(pw) * math.log2(len(PASSWORD_ALPHABET)) >= 128
    assert set(pw) <= set(PASSWORD_ALPHABET)
    assert validate_password(pw) == pw
    assert len({new_password() for _ in range(200)}) == 200


def test_instance_ids_are_valid_and_distinct() -> None:
    ids = {new_instance_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(validate_instance_id(i) == i for i in ids)
    assert validate_user(new_user()) == new_user()


@pytest.mark.parametrize("bad", HOSTILE_IDS)
def test_hostile_instance_ids_are_rejected_with_a_message(bad: object) -> None:
    with pytest.raises(ValueError, match="invalid instance id"):
        validate_instance_id(bad)


@given(st.text(max_size=80))
def test_anything_accepted_is_plain(s: str) -> None:
    try:
        validate_instance_id(s)
    except ValueError:
        assert INSTANCE_ID_RE.fullmatch(s) is None
    else:
        assert set(s) <= set("abcdefghijklmnopqrstuvwxyz0123456789-")
        assert 3 <= len(s) <= 63


@pytest.mark.parametrize("bad", ["", "a:b", "a b", "a\nb", "../x", "x" * 65, "-x"])
def test_bad_users_rejected(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid user name"):
        validate_user(bad)


@pytest.mark.parametrize(
    "bad", ["short", "has space inside ok?", "x" * 300, "newline\nnewline12345"]
)
def test_bad_passwords_rejected(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid password"):
        validate_password(bad)
