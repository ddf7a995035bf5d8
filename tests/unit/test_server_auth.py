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
from erigolem_desktop.server.ratelimit import RateLimit, client_key

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
    assert authority.stored == 0  # issuing stores nothing


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
    assert authority.stored == 0


def test_revoked_message_only(authority: SiweAuth, clock: Clock) -> None:
    key = Key()
    first = authority.issue(DOMAIN, URI, key.address)
    second = authority.issue(DOMAIN, URI, key.address)
    session = login(authority, key, first)
    authority.revoke(session)
    authority.revoke(session)  # twice: one entry
    assert authority.stored == 1
    with pytest.raises(auth.RevokedMessage, match="signed out"):
        login(authority, key, first)
    assert login(authority, key, second).address == key.address
    clock.now += timedelta(hours=1)  # the message expired: its sign-out is not needed any more
    assert authority.purge() == 1
    assert authority.stored == 0


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
    with pytest.raises(auth.UnknownMessage, match="or it was changed"):
        login(authority, key, longer)
    # changed after signing, or re-signed: the MAC in the nonce covers every byte
    sig = key.sign(text)
    other_uri = text.replace(f"URI: {URI}", "URI: http://evil.example/")
    with pytest.raises(auth.UnknownMessage):
        authority.authenticate(f"Bearer {key.address}", enc(other_uri), sig)
    with pytest.raises(auth.UnknownMessage):
        login(authority, key, other_uri)
    forged = text.replace(msg.nonce, msg.nonce[:-1] + ("0" if msg.nonce[-1] != "0" else "1"))
    with pytest.raises(auth.UnknownMessage):
        login(authority, key, forged)
    # the original still works
    assert login(authority, key, text).nonce == msg.nonce


def test_an_unbound_message_is_a_session_of_each_signer_only(authority: SiweAuth) -> None:
    alice, bob = Key(), Key()
    text = authority.issue(DOMAIN, URI)
    assert SiweMessage.parse(text).address == auth.UNBOUND_ADDRESS
    assert login(authority, alice, text).address == alice.address
    assert login(authority, bob, text).address == bob.address
    # alice's signature never opens bob's session, and alice signing out leaves bob in
    with pytest.raises(auth.InvalidSignature, match="not signed by"):
        authority.authenticate(f"Bearer {bob.address}", enc(text), alice.sign(text))
    authority.revoke(login(authority, alice, text))
    with pytest.raises(auth.RevokedMessage):
        login(authority, alice, text)
    assert login(authority, bob, text).address == bob.address


def test_domains(authority: SiweAuth) -> None:
    assert authority.domain_for("LOCALHOST:5000") == "localhost:5000"
    assert authority.domain_for(None) == DOMAIN
    with pytest.raises(auth.DomainNotAllowed, match="does not answer for the host"):
        authority.domain_for("evil.example")
    with pytest.raises(auth.DomainNotAllowed):
        authority.issue("evil.example", "http://evil.example/", None)
    with pytest.raises(ValueError, match="domain"):
        SiweAuth(domains=[])


def test_a_restarted_server_does_not_know_old_messages(clock: Clock) -> None:
    key = Key()
    text = SiweAuth(domains=[DOMAIN], clock=clock).issue(DOMAIN, URI, key.address)
    with pytest.raises(auth.UnknownMessage, match="restarted"):
        login(SiweAuth(domains=[DOMAIN], clock=clock), key, text)


def test_sign_outs_are_bounded_and_never_dropped_to_make_room(clock: Clock) -> None:
    small = SiweAuth(domains=[DOMAIN], clock=clock, max_revoked=3)
    victim = Key()
    victim_text = small.issue(DOMAIN, URI, victim.address)
    small.revoke(login(small, victim, victim_text))
    for _ in range(2):
        key = Key()
        small.revoke(login(small, key, small.issue(DOMAIN, URI, key.address)))
    late = Key()
    late_session = login(small, late, small.issue(DOMAIN, URI, late.address))
    with pytest.raises(auth.Busy, match="stays valid until"):
        small.revoke(late_session)
    assert small.stored == 3
    with pytest.raises(auth.RevokedMessage):  # the victim's sign-out was not undone
        login(small, victim, victim_text)
    clock.now += timedelta(hours=1, seconds=1)
    fresh = login(small, late, small.issue(DOMAIN, URI, late.address))
    small.revoke(fresh)  # expired sign-outs made room
    assert small.stored == 1


def test_fresh_signatures_are_rate_limited_per_client(clock: Clock) -> None:
    ticks = [0.0]
    limit = RateLimit(rate=1.0, burst=2.0, clock=lambda: ticks[0])
    a = SiweAuth(domains=[DOMAIN], clock=clock, signin_limit=limit)
    key = Key()
    texts = [a.issue(DOMAIN, URI, key.address) for _ in range(4)]
    sigs = [key.sign(t) for t in texts]

    def use(i: int, client: str = "10.0.0.1") -> auth.Session:
        return a.authenticate(f"Bearer {key.address}", enc(texts[i]), sigs[i], client=client)

    use(0)
    use(1)
    with pytest.raises(auth.RateLimited, match="try again in 1 s") as info:
        use(2)
    assert info.value.retry_after == pytest.approx(1.0)
    use(0)  # a known signature is served from the cache: not limited
    use(2, client="10.0.0.2")  # another client has its own bucket
    ticks[0] += 1.0
    use(3)


def test_client_keys() -> None:
    assert client_key("127.0.0.5") == "127.0.0.5"
    assert client_key("::ffff:10.1.2.3") == "10.1.2.3"
    assert client_key("2001:db8::1") == client_key("2001:db8::ffff:1") == "2001:db8::/64"
    assert client_key(None) == "unknown"


def test_one_line_challenge_is_checked_the_same_way(clock: Clock) -> None:
    a = SiweAuth(domains=[DOMAIN], clock=clock, one_line=True)
    alice, bob = Key(), Key()
    text = a.issue(DOMAIN, URI)
    assert "\n" not in text
    assert "\r" not in text
    assert text.startswith("Confirm the terms of use of the application: sign in to Erigolem at ")
    assert f"at {DOMAIN}. Nonce: " in text
    assert "Expires: 2025-01-02T04:04:05.000Z." in text
    # sent raw in the header, as the original UI does
    assert a.authenticate(f"Bearer {alice.address}", text, alice.sign(text)).address == (
        alice.address
    )
    bound = a.issue(DOMAIN, URI, bob.address)
    assert f" as {bob.address}. " in bound
    with pytest.raises(auth.InvalidSignature, match="names"):
        a.authenticate(f"Bearer {alice.address}", bound, alice.sign(bound))
    later = text.replace("Expires: 2025-01-02T04", "Expires: 2025-01-09T04")
    with pytest.raises(auth.UnknownMessage):
        a.authenticate(f"Bearer {alice.address}", later, alice.sign(later))
    for bad in (text[:-1], text.replace("Nonce: ", "Nonce:  "), text + "x"):
        with pytest.raises(auth.MalformedCredentials, match="one-line challenge"):
            a.authenticate(f"Bearer {alice.address}", bad, alice.sign(bad))
    garbled = text.replace("Expires: 2025-01-02T04:04:05.000Z", "Expires: tomorrow")
    with pytest.raises(auth.MalformedCredentials, match="RFC 3339"):
        a.authenticate(f"Bearer {alice.address}", garbled, alice.sign(garbled))
    clock.now += timedelta(hours=1)
    with pytest.raises(auth.ExpiredMessage, match=r"expired at 2025-01-02T04:04:05\.000Z"):
        a.authenticate(f"Bearer {alice.address}", text, alice.sign(text))
    # without the flag a one-line text is not a message of this server
    with pytest.raises(auth.MalformedCredentials):
        SiweAuth(domains=[DOMAIN], clock=clock).authenticate(
            f"Bearer {alice.address}", text, alice.sign(text)
        )
