"""Sign-In with Ethereum (EIP-4361) sessions for the REST server, in the original's header shape.

Flow: `GET /getMessage` issues a SIWE message with a fresh nonce, remembered here with its
expiry. The client signs it (EIP-191 `personal_sign`) and sends on every call::

    Authorization: Bearer <0x address>
    Message: <the message, percent-encoded (encodeURIComponent) or as a JSON string>
    Signature: <0x 65-byte signature>

A request is let in only when the message is exactly one this server issued (nonce known, text
unchanged), is not expired or revoked (`POST /logout`), names an allowed domain, and is signed
by the Bearer address (compared case-insensitively). The signed message thus acts as a session
until its Expiration Time: never a permanent credential (the original accepted any message ever
signed, forever).

A message fetched without an address (`GET /getMessage` with neither `?address=` nor a Bearer
header, as old clients do) names the zero address; its nonce is bound to the first wallet that
signs in with it, so it still serves one wallet only.

Issued nonces live in this process's memory: a restart signs everybody out (the nodes it ran
are stopped then anyway).
"""

from __future__ import annotations

import hashlib
import json
import re
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from erigolem_desktop.core import signing, siwe

STATEMENT = (
    "Confirm the terms of use of the application: sign in to Erigolem to manage your Ethereum "
    "nodes. This request will not trigger a blockchain transaction or cost any gas fees."
)
UNBOUND_ADDRESS = "0x0000000000000000000000000000000000000000"
DEFAULT_TTL = timedelta(hours=1)
MAX_OUTSTANDING = 10_000
_ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")
_MAX_HEADER = 4096
_CACHE_SIZE = 4096


def checksum(address: str) -> str:
    """The EIP-55 form of a 0x address (any letter case in)."""
    from eth_utils.address import to_checksum_address

    return str(to_checksum_address(address))


def _now() -> datetime:
    return datetime.now(UTC)


class AuthError(Exception):
    """A request that is not signed in properly; `str()` is the `msg` the client gets."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class MissingCredentials(AuthError):
    """A header is missing or empty."""


class MalformedCredentials(AuthError):
    """A header is there but cannot be read (no Bearer, not an address, not a SIWE message)."""


class UnknownMessage(AuthError):
    """The nonce was never issued here (or the server restarted since)."""


class ExpiredMessage(AuthError):
    """The message's Expiration Time has passed."""


class RevokedMessage(AuthError):
    """The message was signed out (`POST /logout`)."""


class AlteredMessage(AuthError):
    """The text differs from the one issued with that nonce."""


class InvalidSignature(AuthError):
    """The signature is malformed or not made by the Bearer address."""


class DomainNotAllowed(AuthError):
    """The Host (or the message's domain) is not one this server answers for."""


@dataclass
class Issued:
    """One message handed out: its exact text, for whom, until when, and its fate."""

    nonce: str
    text: str
    address: str | None  # checksum address it names; None = unbound (zero address)
    expires_at: datetime
    signer: str | None = None  # the wallet that used it (binds unbound messages)
    revoked: bool = False


@dataclass(frozen=True)
class Session:
    """A request's verified identity: the wallet, and the message (nonce) it signed in with."""

    address: str
    nonce: str
    expires_at: datetime


@dataclass
class SiweAuth:
    """Issues SIWE messages and checks the headers of every request (see the module docstring).

    Args:
        domains: the hosts (host[:port]) this server answers for; the first is the default.
        ttl: how long an issued message (and the session it opens) lasts.
        chain_id: the EIP-155 chain id written into messages.
        max_outstanding: cap on remembered messages (oldest unused ones go first).
        clock: the time source (tests move it).
    """

    domains: Sequence[str]
    ttl: timedelta = DEFAULT_TTL
    chain_id: int = 1
    max_outstanding: int = MAX_OUTSTANDING
    clock: Callable[[], datetime] = _now
    _issued: OrderedDict[str, Issued] = field(default_factory=OrderedDict, init=False)
    _signers: OrderedDict[str, str | None] = field(default_factory=OrderedDict, init=False)

    def __post_init__(self) -> None:
        if not self.domains:
            raise ValueError("SiweAuth needs at least one allowed domain")
        self.domains = tuple(self.domains)

    # ------------------------------------------------------------------ issuing

    def domain_for(self, host: str | None) -> str:
        """The message domain for a request's Host header: itself when allowed.

        No Host (HTTP/1.0) gives the default domain; a Host not on the list is refused, so a
        phishing site relaying our messages cannot get one naming itself.
        """
        if not host:
            return self.domains[0]
        lowered = host.strip().lower()
        for domain in self.domains:
            if domain.lower() == lowered:
                return domain
        raise DomainNotAllowed(
            f"This server does not answer for the host {host[:100]!r} "
            f"(it answers for {', '.join(self.domains)}). "
            "Use one of those addresses, or start the server with --domain for this one."
        )

    def issue(self, domain: str, uri: str, address: str | None = None) -> str:
        """A new SIWE message for `address` (None: unbound) on `domain`; remembered until expiry."""
        if address is not None:
            address = parse_address(address)
        if domain not in self.domains:
            raise DomainNotAllowed(f"{domain!r} is not an allowed domain.")
        now = self.clock()
        self._make_room(now)
        msg = siwe.SiweMessage.create(
            domain=domain,
            address=address or UNBOUND_ADDRESS,
            uri=uri,
            chain_id=self.chain_id,
            statement=STATEMENT,
            issued_at=now,
            expires_in=self.ttl,
        )
        text = msg.to_text()
        expires = siwe.parse_time(msg.expiration_time or "", "Expiration Time")
        self._issued[msg.nonce] = Issued(msg.nonce, text, address, expires)
        return text

    def _make_room(self, now: datetime) -> None:
        self.purge(now)
        while len(self._issued) >= self.max_outstanding:
            victim = next((n for n, i in self._issued.items() if i.signer is None), None)
            self._issued.pop(victim if victim is not None else next(iter(self._issued)))

    def purge(self, now: datetime | None = None) -> int:
        """Forget expired messages; returns how many."""
        moment = now or self.clock()
        gone = [n for n, i in self._issued.items() if i.expires_at <= moment]
        for nonce in gone:
            del self._issued[nonce]
        return len(gone)

    @property
    def outstanding(self) -> int:
        return len(self._issued)

    # ---------------------------------------------------------------- checking

    def authenticate(
        self, authorization: str | None, message: str | None, signature: str | None
    ) -> Session:
        """The session the three headers prove, or the AuthError saying what is wrong."""
        address = parse_bearer(authorization)
        if not signature or not signature.strip():
            raise MissingCredentials(
                "Missing signature header: send Signature: <0x signature of the message>."
            )
        if not message or not message.strip():
            raise MissingCredentials(
                "Missing message header: GET /getMessage, sign it, and send it as Message."
            )
        text = decode_message_header(message)
        try:
            parsed = siwe.SiweMessage.parse(text)
        except siwe.SiweParseError as exc:
            raise MalformedCredentials(
                f"Invalid message: {exc} Send the text from GET /getMessage, percent-encoded "
                "(encodeURIComponent) or as a JSON string."
            ) from None
        now = self.clock()
        if parsed.expiration_time is None:
            raise AlteredMessage("Invalid message: it has no Expiration Time, so not ours.")
        if now >= siwe.parse_time(parsed.expiration_time, "Expiration Time"):
            raise ExpiredMessage(
                f"The sign-in message expired at {parsed.expiration_time}: "
                "GET /getMessage and sign the new one."
            )
        issued = self._issued.get(parsed.nonce)
        if issued is None:
            raise UnknownMessage(
                "This server did not issue that sign-in message (or has restarted since): "
                "GET /getMessage and sign the new one."
            )
        if issued.revoked:
            raise RevokedMessage(
                "That sign-in message was signed out: GET /getMessage and sign the new one."
            )
        if text != issued.text:
            raise AlteredMessage(
                "Invalid message: it differs from the one this server issued with that nonce. "
                "Sign the message exactly as received."
            )
        if parsed.domain not in self.domains:
            raise DomainNotAllowed(f"The message is for {parsed.domain!r}, not for this server.")
        signer = self._recover(text, signature.strip())
        if signer is None:
            raise InvalidSignature(
                "Invalid signature: it is not a 65-byte 0x-hex EIP-191 signature."
            )
        if signer.lower() != address.lower():
            raise InvalidSignature(f"Invalid signature: the message was not signed by {address}.")
        if issued.address is not None and issued.address.lower() != signer.lower():
            raise InvalidSignature(f"Invalid signature: the message names {issued.address}.")
        if issued.signer is not None and issued.signer.lower() != signer.lower():
            raise InvalidSignature(
                "Invalid signature: that sign-in message was already used by another wallet."
            )
        issued.signer = signer
        return Session(checksum(signer), issued.nonce, issued.expires_at)

    def _recover(self, text: str, signature: str) -> str | None:
        """The signer of `text` (cached: the same session is checked on every request)."""
        key = hashlib.sha256(f"{signature}\n{text}".encode()).hexdigest()
        if key in self._signers:
            self._signers.move_to_end(key)
            return self._signers[key]
        signer = signing.recover_message_signer(text, signature)
        self._signers[key] = signer
        while len(self._signers) > _CACHE_SIZE:
            self._signers.popitem(last=False)
        return signer

    def revoke(self, nonce: str) -> bool:
        """Sign out the message with this nonce; False when it is not known."""
        issued = self._issued.get(nonce)
        if issued is None:
            return False
        issued.revoked = True
        return True


def parse_address(value: str) -> str:
    """The checksum form of a 0x address, or MalformedCredentials."""
    token = value.strip()
    if not _ADDRESS_RE.match(token):
        raise MalformedCredentials(f"{token[:60]} is not a correct address.")
    return checksum(token)


def parse_bearer(authorization: str | None) -> str:
    """The checksum address in `Authorization: Bearer 0x…` (original's error texts)."""
    if authorization is None or not authorization.strip():
        raise MissingCredentials(
            "Missing authorization header: send Authorization: Bearer <0x address>."
        )
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise MalformedCredentials('Authorization header should start with "Bearer "')
    return parse_address(token)


def decode_message_header(value: str) -> str:
    """The message text from a `Message` header (raw lines cannot travel in an HTTP header).

    Accepted: a JSON string (`"…\\n…"`), percent-encoding (`…%0A…`, encodeURIComponent), or
    plain text (a one-line message: never a valid SIWE message, but the error then says so).
    """
    raw = value.strip()
    if len(raw) > _MAX_HEADER:
        raise MalformedCredentials("Invalid message: the Message header is too long.")
    if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
        try:
            decoded = json.loads(raw)
        except ValueError:
            raise MalformedCredentials(
                "Invalid message: the Message header starts with a quote but is not a JSON string."
            ) from None
        if not isinstance(decoded, str):
            raise MalformedCredentials("Invalid message: the Message header is not a string.")
        return decoded
    if "%0a" in raw.lower():
        try:
            return urllib.parse.unquote(raw, errors="strict")
        except UnicodeDecodeError:
            raise MalformedCredentials(
                "Invalid message: the percent-encoded Message header is not UTF-8."
            ) from None
    return raw
