"""EIP-4361 Sign-In with Ethereum: build the exact message text, parse it back, verify it.

The message (ABNF in EIP-4361; optional parts in brackets)::

    [scheme://]domain wants you to sign in with your Ethereum account:
    0xChecksumAddress

    [statement]

    URI: uri
    Version: 1
    Chain ID: 1
    Nonce: at-least-8-alphanumerics
    Issued At: RFC 3339 time
    [Expiration Time: RFC 3339 time]
    [Not Before: RFC 3339 time]
    [Request ID: id]
    [Resources:
    - uri
    - uri]

Without a statement the address is followed by two empty lines (`[ statement LF ] LF`).
The text is signed with EIP-191 (`personal_sign`). Parsing is strict: every deviation is a
`SiweParseError` naming the line, so what is verified is exactly what was shown to the signer.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from erigolem_desktop.core import signing
from erigolem_desktop.core.wallet_errors import WalletError

_HEADER_SUFFIX = " wants you to sign in with your Ethereum account:"
_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*$")
_DOMAIN_RE = re.compile(
    r"^(?:[A-Za-z0-9._~!$&'()*+,;=%-]+(?::[A-Za-z0-9._~!$&'()*+,;=%-]*)?@)?"  # userinfo
    r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~%-]+)"  # host
    r"(?::[0-9]{1,5})?$"  # port
)
_ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")
_URI_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[!-~]+$")  # scheme ":" then visible ASCII
_NONCE_RE = re.compile(r"^[A-Za-z0-9]{8,}$")
_TIME_RE = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:Z|[+-][0-9]{2}:[0-9]{2})$"
)
_REQUEST_ID_RE = re.compile(r"^[!-~]*$")
_STATEMENT_RE = re.compile(r"^[ -~]+$")  # printable ASCII, no line breaks


class SiweError(WalletError):
    """A Sign-In with Ethereum message is malformed or does not verify."""


class SiweParseError(SiweError):
    """The text is not a well-formed EIP-4361 message."""

    def __init__(self, message: str) -> None:
        super().__init__(
            f"Not a valid Sign-In with Ethereum message: {message}",
            "Sign and verify the message text exactly as it was built, byte for byte.",
        )


class SiweInvalidSignature(SiweError):
    """The signature was not made by the message's address."""


class SiweDomainMismatch(SiweError):
    """The message is for another site (a phishing page relaying a sign-in)."""


class SiweNonceMismatch(SiweError):
    """The nonce is not the one the server handed out (a replay)."""


class SiweExpired(SiweError):
    """The message's Expiration Time has passed."""


class SiweNotYetValid(SiweError):
    """The message's Not Before time has not come yet."""


def new_nonce(length: int = 17) -> str:
    """A random alphanumeric nonce (EIP-4361 asks for at least 8 characters)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(max(8, length)))


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds, as SIWE libraries write it: 2024-01-02T03:04:05.678Z."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_time(text: str, field: str = "time") -> datetime:
    """An RFC 3339 timestamp as an aware datetime; SiweParseError when it is not one."""
    if not _TIME_RE.match(text):
        raise SiweParseError(f"{field} {text!r} is not an RFC 3339 timestamp.")
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SiweParseError(f"{field} {text!r} is not a valid date and time.") from None


def _checksum(address: str) -> str:
    from eth_utils.address import to_checksum_address

    return str(to_checksum_address(address))


@dataclass(frozen=True)
class SiweMessage:
    """The fields of an EIP-4361 message; `to_text()` is what gets signed."""

    domain: str
    address: str
    uri: str
    chain_id: int
    nonce: str
    issued_at: str
    statement: str | None = None
    version: str = "1"
    expiration_time: str | None = None
    not_before: str | None = None
    request_id: str | None = None
    resources: tuple[str, ...] = ()
    scheme: str | None = None

    @classmethod
    def create(
        cls,
        *,
        domain: str,
        address: str,
        uri: str,
        chain_id: int = 1,
        statement: str | None = None,
        nonce: str | None = None,
        issued_at: datetime | None = None,
        expires_in: timedelta | None = None,
        not_before: datetime | None = None,
        request_id: str | None = None,
        resources: tuple[str, ...] = (),
        scheme: str | None = None,
    ) -> SiweMessage:
        """A message with a fresh nonce and `issued_at` = now unless given; validated."""
        issued = issued_at or datetime.now(UTC)
        msg = cls(
            domain=domain,
            address=_checksum(address) if _ADDRESS_RE.match(address) else address,
            uri=uri,
            chain_id=chain_id,
            nonce=nonce or new_nonce(),
            issued_at=format_time(issued),
            statement=statement or None,
            expiration_time=format_time(issued + expires_in) if expires_in else None,
            not_before=format_time(not_before) if not_before else None,
            request_id=request_id,
            resources=tuple(resources),
            scheme=scheme,
        )
        msg.validate()
        return msg

    def with_address(self, address: str) -> SiweMessage:
        """The same message for another address (checksummed)."""
        return replace(self, address=_checksum(address))

    def validate(self) -> None:
        """Raise SiweParseError naming the first field that breaks EIP-4361."""
        if self.scheme is not None and not _SCHEME_RE.match(self.scheme):
            raise SiweParseError(f"scheme {self.scheme!r} is not a URI scheme.")
        if not _DOMAIN_RE.match(self.domain):
            raise SiweParseError(f"domain {self.domain!r} is not an RFC 3986 authority.")
        if not _ADDRESS_RE.match(self.address) or _checksum(self.address) != self.address:
            raise SiweParseError(f"address {self.address!r} is not an EIP-55 checksum address.")
        if self.statement is not None and not _STATEMENT_RE.match(self.statement):
            raise SiweParseError("the statement must be one line of printable ASCII text.")
        if not _URI_RE.match(self.uri):
            raise SiweParseError(f"URI {self.uri!r} is not an RFC 3986 URI.")
        if self.version != "1":
            raise SiweParseError(f"version {self.version!r} is not 1.")
        if (
            isinstance(self.chain_id, bool)
            or not isinstance(self.chain_id, int)
            or self.chain_id < 1
        ):
            raise SiweParseError(f"chain ID {self.chain_id!r} is not a positive integer.")
        if not _NONCE_RE.match(self.nonce):
            raise SiweParseError("the nonce must be at least 8 letters and digits.")
        parse_time(self.issued_at, "Issued At")
        if self.expiration_time is not None:
            parse_time(self.expiration_time, "Expiration Time")
        if self.not_before is not None:
            parse_time(self.not_before, "Not Before")
        if self.request_id is not None and not _REQUEST_ID_RE.match(self.request_id):
            raise SiweParseError("the request ID must not contain spaces or line breaks.")
        for res in self.resources:
            if not _URI_RE.match(res):
                raise SiweParseError(f"resource {res!r} is not an RFC 3986 URI.")

    def to_text(self) -> str:
        """The exact EIP-4361 text to sign (no trailing newline)."""
        self.validate()
        prefix = f"{self.scheme}://" if self.scheme else ""
        lines = [f"{prefix}{self.domain}{_HEADER_SUFFIX}", self.address, ""]
        if self.statement is not None:
            lines.append(self.statement)
        lines += [
            "",
            f"URI: {self.uri}",
            f"Version: {self.version}",
            f"Chain ID: {self.chain_id}",
            f"Nonce: {self.nonce}",
            f"Issued At: {self.issued_at}",
        ]
        if self.expiration_time is not None:
            lines.append(f"Expiration Time: {self.expiration_time}")
        if self.not_before is not None:
            lines.append(f"Not Before: {self.not_before}")
        if self.request_id is not None:
            lines.append(f"Request ID: {self.request_id}")
        if self.resources:
            lines.append("Resources:")
            lines += [f"- {r}" for r in self.resources]
        return "\n".join(lines)

    @classmethod
    def parse(cls, text: str) -> SiweMessage:
        """The message in `text`, parsed strictly (SiweParseError names the offending line)."""
        lines = text.split("\n")
        if len(lines) < 9:
            raise SiweParseError("the message is too short.")
        header = lines[0]
        if not header.endswith(_HEADER_SUFFIX):
            raise SiweParseError(f"line 1 must end with {_HEADER_SUFFIX.strip()!r}.")
        origin = header[: -len(_HEADER_SUFFIX)]
        scheme: str | None = None
        if "://" in origin:
            scheme, origin = origin.split("://", 1)
        address = lines[1]
        if lines[2] != "":
            raise SiweParseError("line 3 must be empty.")
        statement: str | None = None
        i = 4
        if lines[3] != "":
            statement = lines[3]
            if lines[4] != "":
                raise SiweParseError("the statement must be followed by an empty line.")
            i = 5

        def maybe(tag: str) -> str | None:
            nonlocal i
            prefix = f"{tag}: "
            if i < len(lines) and lines[i].startswith(prefix):
                i += 1
                return lines[i - 1][len(prefix) :]
            return None

        def need(tag: str) -> str:
            value = maybe(tag)
            if value is None:
                raise SiweParseError(f"line {i + 1} must start with {tag + ': '!r}.")
            return value

        uri = need("URI")
        version = need("Version")
        chain = need("Chain ID")
        nonce = need("Nonce")
        issued_at = need("Issued At")
        expiration = maybe("Expiration Time")
        not_before = maybe("Not Before")
        request_id = maybe("Request ID")
        resources: list[str] = []
        if i < len(lines) and lines[i] == "Resources:":
            i += 1
            while i < len(lines) and lines[i].startswith("- "):
                resources.append(lines[i][2:])
                i += 1
            if not resources:
                raise SiweParseError("'Resources:' must be followed by '- uri' lines.")
        if i != len(lines):
            raise SiweParseError(f"unexpected text on line {i + 1}: {lines[i][:40]!r}.")
        if not re.fullmatch(r"[1-9][0-9]*", chain):
            raise SiweParseError(f"chain ID {chain!r} is not a positive integer.")
        msg = cls(
            domain=origin,
            address=address,
            uri=uri,
            chain_id=int(chain),
            nonce=nonce,
            issued_at=issued_at,
            statement=statement,
            version=version,
            expiration_time=expiration,
            not_before=not_before,
            request_id=request_id,
            resources=tuple(resources),
            scheme=scheme,
        )
        msg.validate()
        return msg


def verify(
    text: str,
    signature: str,
    *,
    domain: str,
    nonce: str | None = None,
    chain_id: int | None = None,
    now: datetime | None = None,
) -> SiweMessage:
    """Check a signed SIWE message as a relying party must; return it parsed when it holds.

    Checks, in order: the format, that the signature is by the message's address, the domain
    (this site), the nonce (the one handed out, when given), the chain (when given), and that
    `now` is inside [Not Before, Expiration Time). Each failure is its own SiweError subclass.
    """
    msg = SiweMessage.parse(text)
    signer = signing.recover_message_signer(text, signature)
    if signer is None or signer.lower() != msg.address.lower():
        raise SiweInvalidSignature(
            f"The signature was not made by {msg.address}"
            + (f" (it recovers to {signer})." if signer else " (it is malformed)."),
            "Sign the message with the account it names, without changing a character.",
        )
    if msg.domain != domain:
        raise SiweDomainMismatch(
            f"The message is for {msg.domain!r}, not for {domain!r}.",
            "Only sign in on the site named in the message; request a new message from this one.",
        )
    if nonce is not None and msg.nonce != nonce:
        raise SiweNonceMismatch(
            "The message's nonce is not the one this server issued (a replayed sign-in?).",
            "Request a fresh sign-in message and sign that.",
        )
    if chain_id is not None and msg.chain_id != chain_id:
        raise SiweError(
            f"The message is for chain {msg.chain_id}, not chain {chain_id}.",
            "Sign in with the chain this service expects.",
        )
    moment = now or datetime.now(UTC)
    if msg.expiration_time is not None and moment >= parse_time(msg.expiration_time):
        raise SiweExpired(
            f"The sign-in message expired at {msg.expiration_time}.",
            "Request a new sign-in message and sign it.",
        )
    if msg.not_before is not None and moment < parse_time(msg.not_before):
        raise SiweNotYetValid(
            f"The sign-in message is not valid before {msg.not_before}.",
            "Wait until then, or check this computer's clock.",
        )
    return msg
