"""SIWE sessions of the REST server (server/auth.py) with real eth-account keys and signatures."""

from __future__ import annotations

import json
import urllib.parse
from datetime import UTC, datetime, timedelta

import pytest
from eth_account import Account

from erigolem_desktop.core import signing
from erigolem_desktop.core.siwe import SiweMessage, parse_time
from erigolem_desktop.server import auth
from erigolem_desktop.server.auth import SiweAuth

DOMAIN = "127.0.0.1:5000"
URI = "http://127.0.0.1:5000/"


class Clock:
    """A movable clock standing in for wall time."""

    def __init__(self) -> None:
        self.now = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class Key:
    def __init__(self) -> None:
        acct = Account.create()
        self.key = bytes(acct.key)
        self.address = str(acct.address)

    def sign(self, text: str) -> str:
        return signing.sign_message(self.key, text)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def authority(clock: Clock) -> SiweAuth:
    return SiweAuth(domains=[DOMAIN, "localhost:5000"], clock=clock)


def enc(text: str) -> str:
    return urllib.parse.quote(text, safe="")


def login(a: SiweAuth, key: Key, text: str, bearer: str | None = None) -> auth.Session:
    return a.authenticate(f"Bearer {bearer or key.address}", enc(text), key.sign(text))


def test_issued_message_is_eip4361_for_the_address(authority: SiweAuth, clock: Clock) -> None:
    key = Key()
    text = authority.issue(DOMAIN, URI, key.address.lower())
    msg = SiweMessage.parse(text)
    assert msg.domain == DOMAIN
    assert msg.address == key.address  # checksummed
    assert msg.uri == URI
    assert msg.chain_id == 1
    assert msg.statement is not None
    assert msg.statement.startswith("Confirm the terms of use of the application: ")
    assert parse_time(msg.issued_at) == clock.now
    assert parse_time(msg.expiration_time or "") == clock.now + timedelta(hours=1)
    other = SiweMessage.parse(authority.issue(DOMAIN, URI, key.address))
    assert other.nonce != msg.nonce
    assert authority.outstanding == 2


def test_sign_in_with_every_header_encoding_and_any_address_case(authority: SiweAuth) -> None:
    key = Key()
    text = authority.issue(DOMAIN, URI, key.address)
    sig = key.sign(text)
    for message in (enc(text), json.dumps(text), text.replace("\n", "%0a")):
        for bearer in (key.address, key.address.lower(), "0x" + key.address[2:].upper()):
            session = authority.authenticate(f"Bearer {bearer}", message, sig)
            assert session.address == key.address
    assert authority.authenticate(
        f"bearer  {key.address} ", enc(text), sig.upper().replace("0X", "0x")
    )


@pytest.mark.parametrize(
    ("authorization", "message", "signature", "error", "text"),
    [
        (None, "m", "s", auth.MissingCredentials, "Missing authorization header"),
        ("", "m", "s", auth.MissingCredentials, "Missing authorization header"),
        ("Basic abc", "m", "s", auth.MalformedCredentials, 'should start with "Bearer "'),
        ("Bearer", "m", "s", auth.MalformedCredentials, 'should start with "Bearer "'),
        ("Bearer 0x1234", "m", "s", auth.MalformedCredentials, "is not a correct address"),
        ("Bearer 0x" + "g" * 40, "m", "s", auth.MalformedCredentials, "not a correct address"),
        ("Bearer 0x" + "1" * 40, "m", None, auth.MissingCredentials, "Missing signature header"),
        ("Bearer 0x" + "1" * 40, None, "0x00", auth.MissingCredentials, "Missing message header"),
        ("Bearer 0x" + "1" * 40, "hello", "0x00", auth.MalformedCredentials, "Invalid message"),
        ("Bearer 0x" + "1" * 40, '"unterminated', "0x", auth.MalformedCredentials, "Invalid"),
        ("Bearer 0x" + "1" * 40, '"\\u00"', "0x", auth.MalformedCredentials, "JSON string"),
        ("Bearer 0x" + "1" * 40, "%ff%fe%0A", "0x", auth.MalformedCredentials, "not UTF-8"),
        ("Bearer 0x" + "1" * 40, "x" * 5000, "0x", auth.MalformedCredentials, "too long"),
    ],
)
def test_missing_and_garbled_headers(
    authority: SiweAuth,
    authorization: str | None,
    message: str | None,
    signature: str | None,
    error: type[auth.AuthError],
    text: str,
) -> None:
    with pytest.raises(error) as info:
        authority.authenticate(authorization, message, signature)
    assert text in str(info.value)


def test_a_message_this_server_never_issued_is_refused(authority: SiweAuth, clock: Clock) -> None:
    key = Key()
    own = SiweMessage.create(
        domain=DOMAIN,
        address=key.address,
        uri=URI,
        statement=auth.STATEMENT,
        issued_at=clock.now,
        expires_in=timedelta(hours=1),
    ).to_text()
    with pytest.raises(auth.UnknownMessage, match="did not issue"):
        login(authority, key, own)


def test_expired_message_and_purge(authority: SiweAuth, clock: Clock) -> None:
    key = Key()
    text = authority.issue(DOMAIN, URI, key.address)
    login(authority, key, text)
    clock.now += timedelta(minutes=59)
    login(authority, key, text)  # still a session
    clock.now += timedelta(minutes=1)
    with pytest.raises(auth.ExpiredMessage, match="expired"):
        login(authority, key, text)
    assert authority.purge() == 1
    assert authority.outstanding == 0
    with pytest.raises(auth.ExpiredMessage):
        login(authority, key, text)


def test_revoked_message_only(authority: SiweAuth) -> None:
    key = Key()
    first = authority.issue(DOMAIN, URI, key.address)
    second = authority.issue(DOMAIN, URI, key.address)
    session = login(authority, key, first)
    assert authority.revoke(session.nonce)
    with pytest.raises(auth.RevokedMessage, match="signed out"):
        login(authority, key, first)
    assert login(authority, key, second).address == key.address
    assert not authority.revoke("NeverIssued123")


def test_signature_by_another_key(authority: SiweAuth) -> None:
    alice, mallory = Key(), Key()
    text = authority.issue(DOMAIN, URI, alice.address)
    # mallory signs alice's message and claims to be alice
    with pytest.raises(auth.InvalidSignature, match=f"not signed by {alice.address}"):
        authority.authenticate(f"Bearer {alice.address}", enc(text), mallory.sign(text))
    # mallory signs alice's message as herself: the message names alice
    with pytest.raises(auth.InvalidSignature, match="names"):
        login(authority, mallory, text)
    for bad in ("0x", "0x1234", "not hex", "0x" + "00" * 65):
        with pytest.raises(auth.InvalidSignature, match="65-byte"):
            authority.authenticate(f"Bearer {alice.address}", enc(text), bad)
    assert login(authority, alice, text).address == alice.address


def test_tampered_message(authority: SiweAuth, clock: Clock) -> None:
    key = Key()
    text = authority.issue(DOMAIN, URI, key.address)
    msg = SiweMessage.parse(text)
    later = (clock.now + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    longer = text.replace(f"Expiration Time: {msg.expiration_time}", f"Expiration Time: {later}")
    assert longer != text
    # re-signed by the right key: still refused (session extension attempt)
    with pytest.raises(auth.AlteredMessage, match="differs"):
        login(authority, key, longer)
    # changed after signing
    sig = key.sign(text)
    other_uri = text.replace(f"URI: {URI}", "URI: http://evil.example/")
    with pytest.raises(auth.AlteredMessage):
        authority.authenticate(f"Bearer {key.address}", enc(other_uri), sig)
    # the original still works
    assert login(authority, key, text).nonce == msg.nonce


def test_unbound_message_binds_to_its_first_wallet(authority: SiweAuth) -> None:
    alice, bob = Key(), Key()
    text = authority.issue(DOMAIN, URI)
    assert SiweMessage.parse(text).address == auth.UNBOUND_ADDRESS
    assert login(authority, alice, text).address == alice.address
    assert login(authority, alice, text).address == alice.address
    with pytest.raises(auth.InvalidSignature, match="another wallet"):
        login(authority, bob, text)


def test_domains(authority: SiweAuth) -> None:
    assert authority.domain_for("LOCALHOST:5000") == "localhost:5000"
    assert authority.domain_for(None) == DOMAIN
    with pytest.raises(auth.DomainNotAllowed, match="does not answer for the host"):
        authority.domain_for("evil.example")
    with pytest.raises(auth.DomainNotAllowed):
        authority.issue("evil.example", "http://evil.example/", None)
    with pytest.raises(ValueError, match="domain"):
        SiweAuth(domains=[])


def test_outstanding_messages_are_capped(clock: Clock) -> None:
    small = SiweAuth(domains=[DOMAIN], clock=clock, max_outstanding=3)
    key = Key()
    texts = [small.issue(DOMAIN, URI, key.address) for _ in range(3)]
    login(small, key, texts[0])  # used: kept over unused ones
    more = [small.issue(DOMAIN, URI, key.address) for _ in range(2)]
    assert small.outstanding == 3
    login(small, key, texts[0])
    login(small, key, more[-1])
    for gone in texts[1:]:
        with pytest.raises(auth.UnknownMessage):
            login(small, key, gone)
