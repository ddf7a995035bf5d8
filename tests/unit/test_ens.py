"""ENS namehash against published vectors; the ASCII normalisation rule and its refusals."""

from __future__ import annotations

import pytest

from erigolem_desktop.core.ens import EnsError, looks_like_name, namehash, normalize

# EIP-137, "Namehash algorithm": the published example values
VECTORS = {
    "": "0x0000000000000000000000000000000000000000000000000000000000000000",
    "eth": "0x93cdeb708b7545dc668eb9280176169d1c33cfd8ed6f04690a0bcc88a93fc4ae",
    "foo.eth": "0xde9b09fd7c5f901e23a3f19fecc54828e9c848539801e86591bd9801b019f84f",
    # ENS documentation ("Name Processing") and the well-known node of vitalik.eth
    "alice.eth": "0x787192fc5378cc32aa956ddfdedbf26b24e8d78e40109add0eea2c1a012c3dec",
    "vitalik.eth": "0xee6c4522aab0003e8d14cd40a6af439055fd2577951148c14b6cea9a53475835",
}


@pytest.mark.parametrize(("name", "expected"), VECTORS.items())
def test_namehash_matches_eip137(name: str, expected: str) -> None:
    assert "0x" + namehash(name).hex() == expected


@pytest.mark.parametrize(
    ("typed", "normal"),
    [
        ("Vitalik.ETH", "vitalik.eth"),
        (" vitalik.eth. ", "vitalik.eth"),
        ("_dmarc.Example.eth", "_dmarc.example.eth"),
        ("a-b.eth", "a-b.eth"),
    ],
)
def test_ascii_names_are_lower_cased(typed: str, normal: str) -> None:
    """(web3.py's ENSIP-15 normaliser, a dev dependency, fails on this pyunormalize version,
    so it cannot serve as the reference here.)"""
    assert normalize(typed) == normal


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("ünicode.eth", "non-ASCII"),
        ("a..eth", "empty part"),
        ("has space.eth", "not a valid ENS label"),
        ("a_b.eth", "not a valid ENS label"),
        ("xn--abc.eth", "'--' in the third and fourth place"),
    ],
)
def test_names_outside_the_ascii_rule_are_refused_with_what_to_do(name: str, said: str) -> None:
    with pytest.raises(EnsError) as caught:
        normalize(name)
    assert said in caught.value.message
    assert "0x address" in caught.value.hint


def test_only_dotted_non_addresses_look_like_names() -> None:
    assert looks_like_name(" vitalik.eth ")
    assert not looks_like_name("0x70997970C51812dc3A010C7d01b50e0d17dc79C8")
    assert not looks_like_name("vitalik")
