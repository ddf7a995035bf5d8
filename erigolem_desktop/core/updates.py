"""Update notices: fetch a signed version manifest, verify it, and say whether a newer version exists.

Qt-free (the window's Help menu and its daily check call it). Nothing is downloaded or installed:
the result only names the newer version and where to read about it.

The manifest is a JSON object ``{"payload": "<JSON text>", "signature": "0x…"}``. The signature is
EIP-191 (``personal_sign``) over the payload text exactly as served, so no re-encoding can change
what was signed; its signer must be `RELEASE_ADDRESS`, the release key's address built into the
app. The payload is ``{"app": "erigolem-desktop", "version": "<SemVer>", "url": "https://…",
"notes": "…"}``; other payload keys are ignored (they are signed, and later releases may add some
without muting older apps). `scripts/sign-manifest` writes a manifest.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from erigolem_runtime.api.files import atomic_write

from erigolem_desktop.core.errors import HintedError
from erigolem_desktop.core.paths import data_dir

#: The release key's address: only manifests it signed are believed. Replace it (and keep the key
#: offline) before the first public release; `scripts/sign-manifest --address KEYFILE` prints it.
RELEASE_ADDRESS = "0xb861BF2377fB1a9Ee961f5141902dA11b7dd2431"
#: Where the manifest is published.
MANIFEST_URL = "https://erigolem.github.io/releases/manifest.json"
APP_ID = "erigolem-desktop"
MAX_BYTES = 64 * 1024  # a manifest is a few hundred bytes; anything this big is not one
TIMEOUT_S = 10.0
DAY_S = 24 * 3600
STATE_FILE = "update-check.json"
_NOTES_MAX = 2000


class UpdateError(HintedError):
    """The manifest could not be fetched or believed: the message says why, the hint what to do."""

    hint_in_str = True


@dataclass(frozen=True)
class Release:
    """What a verified manifest announces."""

    version: str
    url: str
    notes: str


@dataclass(frozen=True)
class UpdateCheck:
    """The outcome of one check: the running version, the announced release, whether it is newer."""

    current: str
    latest: Release
    newer: bool

    def message(self) -> str:
        """One or two sentences for the user."""
        if not self.newer:
            return f"Erigolem {self.current} is up to date (latest release: {self.latest.version})."
        text = f"Erigolem {self.latest.version} is available (you have {self.current})."
        if self.latest.notes:
            text += f"\n\n{self.latest.notes}"
        return text + f"\n\nRead about it and download it from {self.latest.url}"


# --- SemVer 2.0 -------------------------------------------------------------------------------


def _numeric(part: str) -> bool:
    return part.isascii() and part.isdigit() and (part == "0" or not part.startswith("0"))


def _ident(part: str) -> bool:
    return bool(part) and part.isascii() and all(c.isalnum() or c == "-" for c in part)


def parse_semver(text: str) -> tuple[tuple[int, int, int], tuple[str, ...]]:
    """((major, minor, patch), pre-release identifiers) of a SemVer 2.0 string; ValueError else."""
    rest, _, build = text.partition("+")
    if "+" in text and not all(_ident(p) for p in build.split(".")):
        raise ValueError(f"{text!r} has a bad build label")
    core, dash, pre = rest.partition("-")
    nums = core.split(".")
    if len(nums) != 3 or not all(_numeric(n) for n in nums):
        raise ValueError(f"{text!r} is not MAJOR.MINOR.PATCH")
    pre_ids = tuple(pre.split(".")) if dash else ()
    for p in pre_ids:
        if not _ident(p) or (p.isdigit() and not _numeric(p)):
            raise ValueError(f"{text!r} has a bad pre-release label")
    return (int(nums[0]), int(nums[1]), int(nums[2])), pre_ids


def _pre_key(ids: tuple[str, ...]) -> tuple[Any, ...]:
    # a release sorts after its pre-releases; numeric ids before alphanumeric ones (SemVer §11)
    if not ids:
        return (1,)
    return (0, *[(0, int(i), "") if i.isdigit() else (1, 0, i) for i in ids])


def is_newer(candidate: str, current: str) -> bool:
    """True when SemVer `candidate` has higher precedence than `current` (build labels ignored)."""
    a_core, a_pre = parse_semver(candidate)
    b_core, b_pre = parse_semver(current)
    return (a_core, _pre_key(a_pre)) > (b_core, _pre_key(b_pre))


# --- manifest ---------------------------------------------------------------------------------


def _bad(what: str) -> UpdateError:
    return UpdateError(
        f"The update manifest is malformed: {what}.",
        "Nothing was changed. Try again later; if it persists, report it to the Erigolem project.",
    )


def verify_manifest(raw: bytes, release_address: str = RELEASE_ADDRESS) -> Release:
    """The release a manifest announces, after checking its shape and its signer; UpdateError else."""
    from eth_account import Account
    from eth_account.messages import encode_defunct

    try:
        envelope = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _bad(f"not JSON ({exc})") from exc
    if not isinstance(envelope, dict) or set(envelope) != {"payload", "signature"}:
        raise _bad('expected an object with exactly "payload" and "signature"')
    payload, signature = envelope["payload"], envelope["signature"]
    if not isinstance(payload, str) or not isinstance(signature, str):
        raise _bad('"payload" and "signature" must be strings')
    sig_hex = signature.removeprefix("0x")
    if len(sig_hex) != 130 or any(c not in "0123456789abcdefABCDEF" for c in sig_hex):
        raise _bad('"signature" is not a 65-byte hex signature')
    try:
        signer = Account.recover_message(
            encode_defunct(text=payload), signature=bytes.fromhex(sig_hex)
        )
    except Exception as exc:  # eth-keys raises several types for an impossible signature
        raise UpdateError(
            "The update manifest's signature is invalid.",
            "Ignore this manifest; nothing was changed. Report it if it persists.",
        ) from exc
    if signer.lower() != release_address.lower():
        raise UpdateError(
            f"The update manifest is not signed by the Erigolem release key (it was signed by "
            f"{signer}, or changed after signing).",
            "Ignore it; nothing was changed. Report it to the Erigolem project if it persists.",
        )
    try:
        body = json.loads(payload)
    except ValueError as exc:
        raise _bad(f"the signed payload is not JSON ({exc})") from exc
    if not isinstance(body, dict):
        raise _bad("the signed payload is not an object")
    if body.get("app") != APP_ID:
        raise _bad(f"the signed payload is for app {body.get('app')!r}, not {APP_ID!r}")
    version, url, notes = body.get("version"), body.get("url"), body.get("notes", "")
    if not isinstance(version, str):
        raise _bad('"version" is missing')
    try:
        parse_semver(version)
    except ValueError as exc:
        raise _bad(f'"version" is not SemVer ({exc})') from exc
    if not isinstance(url, str) or not url.startswith("https://") or len(url) > 500:
        raise _bad('"url" is not an https:// address')
    if not isinstance(notes, str) or len(notes) > _NOTES_MAX:
        raise _bad(f'"notes" must be text of at most {_NOTES_MAX} characters')
    return Release(version=version, url=url, notes=notes)


async def fetch_manifest(
    url: str, *, wait_s: float = TIMEOUT_S, max_bytes: int = MAX_BYTES
) -> bytes:
    """The manifest's bytes (at most `max_bytes`), or UpdateError naming what went wrong."""
    import aiohttp  # ~0.25 s to import: only when a check runs, never before the first paint

    where = "Check the network connection and try again later."
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=wait_s)) as session,
            session.get(url, allow_redirects=True, max_redirects=3) as resp,
        ):
            if resp.status != 200:
                raise UpdateError(
                    f"The update server answered HTTP {resp.status} for {url}.", where
                )
            data = await resp.content.read(max_bytes + 1)
    except TimeoutError as exc:
        raise UpdateError(
            f"The update server at {url} did not answer in {wait_s:g} s.", where
        ) from exc
    except aiohttp.ClientError as exc:
        raise UpdateError(f"The update server at {url} is unreachable ({exc}).", where) from exc
    if len(data) > max_bytes:
        raise UpdateError(
            f"The update manifest at {url} is larger than {max_bytes // 1024} KB; it was refused.",
            "Nothing was changed. Report it to the Erigolem project if it persists.",
        )
    return data


def current_version() -> str:
    """The running app's version (package metadata; 0.0.0 when run from a bare source tree)."""
    from importlib import metadata

    try:
        return metadata.version(APP_ID)
    except metadata.PackageNotFoundError:
        return "0.0.0"


async def check(
    url: str = MANIFEST_URL,
    *,
    current: str | None = None,
    release_address: str = RELEASE_ADDRESS,
    wait_s: float = TIMEOUT_S,
    state: CheckState | None = None,
) -> UpdateCheck:
    """Fetch and verify the manifest and compare versions; records the check time in `state`."""
    raw = await fetch_manifest(url, wait_s=wait_s)
    release = verify_manifest(raw, release_address)
    mine = current or current_version()
    if state is not None:
        state.record()
    return UpdateCheck(current=mine, latest=release, newer=is_newer(release.version, mine))


class CheckState:
    """When the last successful check was (a small JSON file beside the settings)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or data_dir() / STATE_FILE

    def last_check(self) -> float | None:
        """Epoch seconds of the last successful check, or None (never, or the file is unreadable)."""
        try:
            value = json.loads(self.path.read_text(encoding="utf-8")).get("last_check")
        except (OSError, ValueError, AttributeError):
            return None
        return float(value) if isinstance(value, int | float) else None

    def due(self, now: float | None = None) -> bool:
        """True when no check succeeded in the last 24 h (or the clock went back)."""
        last = self.last_check()
        now = time.time() if now is None else now
        return last is None or not 0 <= now - last < DAY_S

    def record(self, now: float | None = None) -> None:
        """Remember `now` (default: the current time) as the last check."""
        stamp = time.time() if now is None else now
        atomic_write(self.path, json.dumps({"last_check": stamp}), mode=0o600)


def sign_manifest(release: Release, private_key: bytes) -> bytes:
    """A manifest announcing `release`, signed with `private_key` (what scripts/sign-manifest writes).

    The result is checked with `verify_manifest` against the key's own address before it is
    returned, so a manifest the app would refuse is never produced.
    """
    from eth_account import Account
    from eth_account.messages import encode_defunct

    payload = json.dumps(
        {"app": APP_ID, "version": release.version, "url": release.url, "notes": release.notes},
        ensure_ascii=False,
    )
    account = Account.from_key(private_key)
    signed = account.sign_message(encode_defunct(text=payload))
    manifest = json.dumps(
        {"payload": payload, "signature": "0x" + signed.signature.hex().removeprefix("0x")}
    )
    data = manifest.encode("utf-8")
    verify_manifest(data, account.address)
    return data
