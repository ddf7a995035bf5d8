"""Sign-In with Ethereum (EIP-4361) for the REST server, in the original's header shape.

Flow: `GET /getMessage` issues a sign-in message with a fresh nonce and an expiry. The client
signs it (EIP-191 `personal_sign`) and sends on every call::

    Authorization: Bearer <0x address>
    Message: <the message, percent-encoded (encodeURIComponent) or as a JSON string>
    Signature: <0x 65-byte signature>

A request is let in only when the message is exactly one this server issued, is not expired or
signed out (`POST /logout`), names an allowed domain, and is signed by the Bearer address
(compared case-insensitively). The signed message thus acts as a session until its Expiration
Time: never a permanent credential (the original accepted any message ever signed, forever).

Issuing keeps no state: the nonce is a random part plus a MAC (HMAC-SHA256 under a secret held
in this process's memory) of the whole message text, so "issued here, unchanged" is checked
from the text alone and a flood of `getMessage` calls or sign-ins stores nothing and evicts
nothing. The only table is the sign-outs (nonce and wallet, until the message expires); it is
bounded and never makes room by dropping an entry, so a sign-out cannot be undone. Restarting
the server (a new secret) signs everybody out; the nodes it ran are stopped then anyway.

A message fetched without an address (`GET /getMessage` with neither `?address=` nor a Bearer
header, as old clients do) names the zero address (or no address, one-line); any wallet may
sign it, and each signature is a session of its signer only.

With `one_line=True` (`erigolem serve --one-line-message`, for the original Erigolem UI, which
sends the message raw in a header), `getMessage` issues a one-line challenge instead, carrying
the same domain, nonce, issue time and expiry, checked the same way.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from heapq import heappop, heappush

from erigolem_desktop.core import signing, siwe
from erigolem_desktop.server.ratelimit import RateLimit, whole_seconds

STATEMENT = (
    "Confirm the terms of use of the application: sign in to Erigolem to manage your Ethereum "
    "nodes. This request will not trigger a blockchain transaction or cost any gas fees."
)
ONE_LINE_PREFIX = "Confirm the terms of use of the application: sign in to Erigolem at "
UNBOUND_ADDRESS = "0x0000000000000000000000000000000000000000"
DEFAULT_TTL = timedelta(hours=1)
MAX_REVOKED = 100_000
_ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")
_MAX_HEADER = 4096
_CACHE_SIZE = 4096
_RANDOM_HEX = 24  # 96 random bits: the part of the nonce a sign-out is recorded under
_MAC_HEX = 32  # 128 bits of HMAC-SHA256 over the text
_NONCE_RE = re.compile(rf"^[0-9a-f]{{{_RANDOM_HEX + _MAC_HEX}}}$")
_MAC_CONTEXT = b"erigolem serve sign-in message v1\x00"
_ONE_LINE_RE = re.compile(
    re.escape(ONE_LINE_PREFIX)
    + r"(?P<domain>[^\s]+?)(?: as (?P<address>0x[0-9a-fA-F]{40}))?"
    + r"\. Nonce: (?P<nonce>[0-9A-Za-z]+)\. Issued: (?P<issued>[^\s]+)"
    + r"\. Expires: (?P<expires>[^\s]+)\.$"
)


def checksum(address: str) -> str:
    """The EIP-55 form of a 0x address (any letter case in)."""
    from eth_utils.address import to_checksum_address

    return str(to_checksum_address(address))


def _now() -> datetime:
    return datetime.now(UTC)


def default_signin_limit() -> RateLimit:
    """Fresh signatures checked per client: 60 at once, then 10 a second (a recovery is ~1 ms)."""
    return RateLimit(rate=10.0, burst=60.0)


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


class RateLimited(AuthError):
    """This client sent too many fresh signatures (or messages) too fast: 429, Retry-After."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Busy(AuthError):
    """The sign-out table is full (503): the message stays valid until it expires."""


@dataclass(frozen=True)
class Session:
    """A request's verified identity: the wallet, and the message (nonce) it signed in with."""

    address: str
    nonce: str
    expires_at: datetime


@dataclass(frozen=True)
class _Claim:
    """What a message says (either format): checked against its MAC, then trusted."""

    domain: str
    address: str | None  # None: unbound (zero address or none named)
    nonce: str
    expiration: str


@dataclass
class SiweAuth:
    """Issues sign-in messages and checks the headers of every request (module docstring).

    Args:
        domains: the hosts (host[:port]) this server answers for; the first is the default.
        ttl: how long an issued message (and the session it opens) lasts.
        chain_id: the EIP-155 chain id written into messages.
        one_line: issue one-line challenges (the original UI) instead of EIP-4361 text.
        max_revoked: sign-outs remembered at once (each until its message expires).
        signin_limit: fresh signatures checked per client (429 past it).
        clock: the time source (tests move it).
        secret: the MAC key (default: 32 random bytes, in memory only).
    """

    domains: Sequence[str]
    ttl: timedelta = DEFAULT_TTL
    chain_id: int = 1
    one_line: bool = False
    max_revoked: int = MAX_REVOKED
    signin_limit: RateLimit = field(default_factory=default_signin_limit)
    clock: Callable[[], datetime] = _now
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    _revoked: dict[tuple[str, str], datetime] = field(default_factory=dict, init=False)
    _expiry: list[tuple[datetime, str, str]] = field(default_factory=list, init=False)
    _signers: OrderedDict[str, str | None] = field(default_factory=OrderedDict, init=False)

    def __post_init__(self) -> None:
        if not self.domains:
            raise ValueError("SiweAuth needs at least one allowed domain")
        if len(self.secret) < 16:
            raise ValueError("the MAC secret must be at least 16 bytes")
        self.domains = tuple(self.domains)

    # ------------------------------------------------------------------ issuing

    def domain_for(self, host: str | None) -> str:
        """The allowed domain a request's Host header names (None/empty: the default one).

        A Host not on the list is refused, so a phishing site relaying our messages cannot get
        one naming itself, and signed-in requests must come by one of our names (`--domain`).
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
        """A new message for `address` (None: unbound) on `domain`; nothing is stored."""
        if address is not None:
            address = parse_address(address)
        if domain not in self.domains:
            raise DomainNotAllowed(f"{domain!r} is not an allowed domain.")
        now = self.clock()
        random_part = secrets.token_hex(_RANDOM_HEX // 2)
        if self.one_line:
            named = f" as {address}" if address is not None else ""
            draft = (
                f"{ONE_LINE_PREFIX}{domain}{named}. Nonce: {random_part}. "
                f"Issued: {siwe.format_time(now)}. Expires: {siwe.format_time(now + self.ttl)}."
            )
            return draft.replace(
                f"Nonce: {random_part}.", f"Nonce: {random_part}{self._mac(draft)}.", 1
            )
        msg = siwe.SiweMessage.create(
            domain=domain,
            address=address or UNBOUND_ADDRESS,
            uri=uri,
            chain_id=self.chain_id,
            statement=STATEMENT,
            nonce=random_part,
            issued_at=now,
            expires_in=self.ttl,
        )
        return replace(msg, nonce=random_part + self._mac(msg.to_text())).to_text()

    def _mac(self, draft: str) -> str:
        """The MAC part of a nonce: over the text as it reads with the random part only."""
        digest = hmac.new(self.secret, _MAC_CONTEXT + draft.encode(), hashlib.sha256)
        return digest.hexdigest()[:_MAC_HEX]

    def _issued_here(self, text: str, nonce: str) -> bool:
        """True when `text` is, byte for byte, a message this server issued with `nonce`."""
        if not _NONCE_RE.match(nonce):
            return False
        needle = f"Nonce: {nonce}"
        if text.count(needle) != 1:
            return False
        draft = text.replace(needle, f"Nonce: {nonce[:_RANDOM_HEX]}", 1)
        return hmac.compare_digest(self._mac(draft), nonce[_RANDOM_HEX:])

    def purge(self, now: datetime | None = None) -> int:
        """Forget sign-outs of messages that have expired anyway; returns how many (O(k log n))."""
        moment = now or self.clock()
        gone = 0
        while self._expiry and self._expiry[0][0] <= moment:
            _, nonce, signer = heappop(self._expiry)
            if self._revoked.pop((nonce, signer), None) is not None:
                gone += 1
        return gone

    @property
    def stored(self) -> int:
        """Entries this authority holds (sign-outs only: issuing and signing in store nothing)."""
        return len(self._revoked)

    # ---------------------------------------------------------------- checking

    def _claim(self, text: str) -> _Claim:
        """The fields of a message in either format (MalformedCredentials when neither)."""
        if self.one_line and "\n" not in text:
            match = _ONE_LINE_RE.match(text)
            if match is None:
                raise MalformedCredentials(
                    "Invalid message: it is not the one-line challenge from GET /getMessage. "
                    "Send the text exactly as received."
                )
            address = match["address"]
            return _Claim(match["domain"], address, match["nonce"], match["expires"])
        try:
            parsed = siwe.SiweMessage.parse(text)
        except siwe.SiweParseError as exc:
            raise MalformedCredentials(
                f"Invalid message: {exc} Send the text from GET /getMessage, percent-encoded "
                "(encodeURIComponent) or as a JSON string."
            ) from None
        if parsed.expiration_time is None:
            raise AlteredMessage("Invalid message: it has no Expiration Time, so not ours.")
        address = None if parsed.address.lower() == UNBOUND_ADDRESS else parsed.address
        return _Claim(parsed.domain, address, parsed.nonce, parsed.expiration_time)

    def authenticate(
        self,
        authorization: str | None,
        message: str | None,
        signature: str | None,
        *,
        client: str = "unknown",
    ) -> Session:
        """The session the three headers prove, or the AuthError saying what is wrong.

        `client` is the caller's rate-limit key (ratelimit.client_key): a signature not seen
        recently costs a recovery and one token of that client.
        """
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
        claim = self._claim(text)
        try:
            expires = siwe.parse_time(claim.expiration, "Expiration Time")
        except siwe.SiweParseError as exc:
            raise MalformedCredentials(f"Invalid message: {exc}") from None
        if self.clock() >= expires:
            raise ExpiredMessage(
                f"The sign-in message expired at {claim.expiration}: "
                "GET /getMessage and sign the new one."
            )
        if not self._issued_here(text, claim.nonce):
            raise UnknownMessage(
                "This server did not issue that sign-in message, or it was changed (or the "
                "server has restarted since): GET /getMessage and sign the new one exactly as "
                "received."
            )
        if claim.domain not in self.domains:
            raise DomainNotAllowed(f"The message is for {claim.domain!r}, not for this server.")
        signer = self._recover(text, signature.strip(), client)
        if signer is None:
            raise InvalidSignature(
                "Invalid signature: it is not a 65-byte 0x-hex EIP-191 signature."
            )
        if signer.lower() != address.lower():
            raise InvalidSignature(f"Invalid signature: the message was not signed by {address}.")
        if claim.address is not None and claim.address.lower() != signer.lower():
            raise InvalidSignature(f"Invalid signature: the message names {claim.address}.")
        if (claim.nonce, signer.lower()) in self._revoked:
            raise RevokedMessage(
                "That sign-in message was signed out: GET /getMessage and sign the new one."
            )
        return Session(checksum(signer), claim.nonce, expires)

    def _recover(self, text: str, signature: str, client: str) -> str | None:
        """The signer of `text` (cached: the same session is checked on every request)."""
        key = hashlib.sha256(f"{signature}\n{text}".encode()).hexdigest()
        if key in self._signers:
            self._signers.move_to_end(key)
            return self._signers[key]
        wait = self.signin_limit.take(client)
        if wait > 0:
            raise RateLimited(
                f"Too many new signatures from your address; try again in {whole_seconds(wait)} s "
                "(send the same signed message again: a known one is not limited).",
                wait,
            )
        signer = signing.recover_message_signer(text, signature)
        self._signers[key] = signer
        while len(self._signers) > _CACHE_SIZE:
            self._signers.popitem(last=False)
        return signer

    def revoke(self, session: Session) -> None:
        """Sign out `session`'s message for its wallet (Busy when the table is full)."""
        entry = (session.nonce, session.address.lower())
        if entry in self._revoked:
            return
        self.purge()
        if len(self._revoked) >= self.max_revoked:
            raise Busy(
                f"This server cannot record more sign-outs right now ({self.max_revoked} open); "
                f"your message stays valid until {siwe.format_time(session.expires_at)}. "
                "Try again in a few minutes."
            )
        self._revoked[entry] = session.expires_at
        heappush(self._expiry, (session.expires_at, *entry))


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
