"""EIP-4361 Sign-In with Ethereum: exact text, strict parsing, verification and its rejections."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from erigolem_desktop.core import siwe
from erigolem_desktop.core.siwe import SiweMessage
from erigolem_desktop.core.wallet import Wallet, WalletError
from tests.support.memkeyring import MemoryKeyring

KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
ADDR = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

EXPECTED = (
    "service.org wants you to sign in with your Ethereum account:\n"
    f"{ADDR}\n"
    "\n"
    "I accept the ServiceOrg Terms of Service: https://service.org/tos\n"
    "\n"
    "URI: https://service.org/login\n"
    "Version: 1\n"
    "Chain ID: 1\n"
    "Nonce: 32891756\n"
    "Issued At: 2026-01-02T03:04:05.000Z\n"
    "Expiration Time: 2026-01-02T03:09:05.000Z\n"
    "Resources:\n"
    "- ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/\n"
    "- https://example.com/my-web2-claim.json"
)


def message(**overrides: object) -> SiweMessage:
    base = SiweMessage.create(
        domain="service.org",
        address=ADDR.lower(),
        uri="https://service.org/login",
        statement="I accept the ServiceOrg Terms of Service: https://service.org/tos",
        nonce="32891756",
        issued_at=T0,
        expires_in=timedelta(minutes=5),
        resources=(
            "ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/",
            "https://example.com/my-web2-claim.json",
        ),
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def sign(text: str) -> str:
    return "0x" + bytes(Account.sign_message(encode_defunct(text=text), KEY).signature).hex()


def test_exact_text_and_round_trip() -> None:
    msg = message()
    assert msg.address == ADDR  # checksummed on create
    assert msg.to_text() == EXPECTED
    assert SiweMessage.parse(EXPECTED) == msg


def test_optional_parts_round_trip() -> None:
    bare = replace(message(), statement=None, expiration_time=None, resources=())
    text = bare.to_text()
    assert f"{ADDR}\n\n\nURI: " in text  # no statement: two empty lines (EIP-4361 ABNF)
    assert SiweMessage.parse(text) == bare
    full = replace(
        message(),
        scheme="https",
        not_before="2026-01-02T03:00:00Z",
        request_id="req-42",
        chain_id=11155111,
    )
    text = full.to_text()
    assert text.startswith("https://service.org wants you")
    assert "Not Before: 2026-01-02T03:00:00Z\nRequest ID: req-42\nResources:" in text
    assert SiweMessage.parse(text) == full


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda t: t.replace(" wants you to sign in", " wants you to log in"), "line 1"),
        (lambda t: t.replace(ADDR, ADDR.lower()), "EIP-55"),
        (lambda t: t.replace("Version: 1", "Version: 2"), "version"),
        (lambda t: t.replace("Chain ID: 1", "Chain ID: one"), "chain ID"),
        (lambda t: t.replace("Nonce: 32891756", "Nonce: 123"), "nonce"),
        (
            lambda t: t.replace("Issued At: 2026-01-02T03:04:05.000Z", "Issued At: yesterday"),
            "RFC 3339",
        ),
        (lambda t: t.replace("URI: https://service.org/login\n", ""), "URI"),
        (lambda t: t + "\n", "unexpected text"),
        (lambda t: t + "\nExtra: field", "unexpected text"),
        (lambda t: t.replace("tos\n\nURI", "tos\nURI"), "empty line"),
        (lambda t: t.replace("Resources:\n- ipfs", "Resources:\nipfs"), "must be followed"),
        (lambda t: t.replace("service.org wants", "service org wants"), "authority"),
        (lambda t: "short", "too short"),
    ],
)
def test_parse_is_strict(mutate: object, reason: str) -> None:
    with pytest.raises(siwe.SiweParseError, match=reason):
        SiweMessage.parse(mutate(EXPECTED))  # type: ignore[operator]


def test_create_rejects_bad_fields() -> None:
    with pytest.raises(siwe.SiweParseError, match="statement"):
        message().__class__.create(
            domain="a.org", address=ADDR, uri="https://a.org", statement="two\nlines"
        )
    with pytest.raises(siwe.SiweParseError, match="URI"):
        SiweMessage.create(domain="a.org", address=ADDR, uri="not a uri")
    with pytest.raises(siwe.SiweParseError, match="address"):
        SiweMessage.create(domain="a.org", address="0x1234", uri="https://a.org")
    nonce = siwe.new_nonce()
    assert len(nonce) >= 8
    assert nonce.isalnum()
    assert siwe.new_nonce() != nonce


def test_verify_accepts_a_good_signature() -> None:
    sig = sign(EXPECTED)
    msg = siwe.verify(
        EXPECTED,
        sig,
        domain="service.org",
        nonce="32891756",
        chain_id=1,
        now=T0 + timedelta(minutes=1),
    )
    assert msg.address == ADDR


def test_verify_rejections() -> None:
    sig = sign(EXPECTED)
    during = T0 + timedelta(minutes=1)
    with pytest.raises(siwe.SiweDomainMismatch, match=r"not for 'evil\.example'"):
        siwe.verify(EXPECTED, sig, domain="evil.example", now=during)
    with pytest.raises(siwe.SiweNonceMismatch):
        siwe.verify(EXPECTED, sig, domain="service.org", nonce="99999999", now=during)
    with pytest.raises(siwe.SiweExpired, match="expired"):
        siwe.verify(EXPECTED, sig, domain="service.org", now=T0 + timedelta(minutes=5))
    with pytest.raises(siwe.SiweError, match="chain 5"):
        siwe.verify(EXPECTED, sig, domain="service.org", chain_id=5, now=during)
    tampered = EXPECTED.replace("Chain ID: 1", "Chain ID: 2")
    with pytest.raises(siwe.SiweInvalidSignature, match="recovers to"):
        siwe.verify(tampered, sig, domain="service.org", now=during)
    with pytest.raises(siwe.SiweInvalidSignature, match="malformed"):
        siwe.verify(EXPECTED, "0xdead", domain="service.org", now=during)
    later = replace(message(), not_before="2026-01-02T04:00:00.000Z").to_text()
    with pytest.raises(siwe.SiweNotYetValid):
        siwe.verify(later, sign(later), domain="service.org", now=during)
    other_key_sig = (
        "0x" + Account.sign_message(encode_defunct(text=EXPECTED), b"\x01" * 32).signature.hex()
    )
    with pytest.raises(siwe.SiweInvalidSignature):
        siwe.verify(EXPECTED, other_key_sig, domain="service.org", now=during)


def test_wallet_sign_siwe_round_trip(memory_keyring: MemoryKeyring, erigolem_home: Path) -> None:
    wallet = Wallet.open(scrypt_n=2**12)
    wallet.import_private_key(KEY, "pw")
    wallet.unlock(None, "pw")
    msg = SiweMessage.create(
        domain="erigolem.local",
        address=ADDR,
        uri="http://erigolem.local/api",
        expires_in=timedelta(minutes=10),
    )
    text, sig = wallet.sign_siwe(msg)
    assert text == msg.to_text()
    assert siwe.verify(text, sig, domain="erigolem.local", nonce=msg.nonce).address == ADDR
    with pytest.raises(WalletError, match="names 0x"):
        wallet.sign_siwe(msg.with_address("0x70997970C51812dc3A010C7d01b50e0d17dc79C8"))
