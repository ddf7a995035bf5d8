"""Update notices against a real local manifest server (aiohttp on 127.0.0.1): each bad manifest is
refused with a message that says why, a good one is believed, and only then is the check time kept."""

from __future__ import annotations

import itertools
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from eth_account import Account

from erigolem_desktop.core import updates
from erigolem_desktop.core.settings import Settings
from erigolem_desktop.core.updates import (
    CheckState,
    Release,
    UpdateError,
    check,
    is_newer,
    sign_manifest,
    verify_manifest,
)
from tests.support.manifest_server import RELEASE_ADDR, RELEASE_KEY, Serve

REPO = Path(__file__).resolve().parents[2]
OTHER_KEY = bytes.fromhex("22" * 32)
GOOD = Release("0.2.0", "https://example.org/erigolem/0.2.0", "Faster node start.")


async def _check(url: str, state: CheckState | None = None) -> updates.UpdateCheck:
    return await check(url, current="0.1.0", release_address=RELEASE_ADDR, wait_s=5, state=state)


@pytest.mark.asyncio
async def test_a_good_manifest_announces_a_newer_version(serve: Serve, tmp_path: Path) -> None:
    state = CheckState(tmp_path / "state.json")
    assert state.due()
    result = await _check(serve(sign_manifest(GOOD, RELEASE_KEY)), state)
    assert result.newer
    assert result.latest == GOOD
    assert "0.2.0 is available (you have 0.1.0)" in result.message()
    assert GOOD.url in result.message()
    assert not state.due()  # checked: not again today
    assert stat.S_IMODE(state.path.stat().st_mode) == 0o600


@pytest.mark.asyncio
async def test_the_same_version_is_up_to_date(serve: Serve) -> None:
    same = Release("0.1.0", GOOD.url, "")
    result = await _check(serve(sign_manifest(same, RELEASE_KEY)))
    assert not result.newer
    assert result.message() == "Erigolem 0.1.0 is up to date (latest release: 0.1.0)."


@pytest.mark.asyncio
async def test_a_tampered_manifest_is_refused(serve: Serve, tmp_path: Path) -> None:
    """The signature is a real one by the release key, but the payload was changed afterwards."""
    envelope = json.loads(sign_manifest(GOOD, RELEASE_KEY))
    envelope["payload"] = envelope["payload"].replace("0.2.0", "9.9.9")
    state = CheckState(tmp_path / "state.json")
    with pytest.raises(UpdateError, match="not signed by the Erigolem release key") as err:
        await _check(serve(json.dumps(envelope).encode()), state)
    assert "changed after signing" in str(err.value)
    assert "nothing was changed" in err.value.hint
    assert state.due()  # a refused manifest is not a check


@pytest.mark.asyncio
async def test_a_manifest_signed_by_another_key_is_refused(serve: Serve) -> None:
    with pytest.raises(UpdateError, match="not signed by the Erigolem release key") as err:
        await _check(serve(sign_manifest(GOOD, OTHER_KEY)))
    assert Account.from_key(OTHER_KEY).address in str(err.value)


@pytest.mark.asyncio
async def test_a_malformed_manifest_is_refused(serve: Serve) -> None:
    with pytest.raises(UpdateError, match="malformed: not JSON"):
        await _check(serve(b'{"payload": "x", "signature": '))
    with pytest.raises(UpdateError, match='exactly "payload" and "signature"'):
        await _check(serve(b'{"version": "0.2.0"}'))
    with pytest.raises(UpdateError, match="65-byte hex signature"):
        await _check(serve(b'{"payload": "{}", "signature": "0x1234"}'))


@pytest.mark.asyncio
async def test_a_signed_but_bad_payload_is_refused(serve: Serve) -> None:
    """Even the release key cannot make the app believe a payload that breaks the format."""
    for release, expected in [
        (Release("2", GOOD.url, ""), "not SemVer"),
        (Release("0.2.0", "http://example.org/", ""), "not an https:// address"),
        (Release("0.2.0", GOOD.url, "x" * 3000), "at most 2000 characters"),
    ]:
        manifest = _sign_raw(release, RELEASE_KEY)
        with pytest.raises(UpdateError, match=expected):
            await _check(serve(manifest))


def _sign_raw(release: Release, key: bytes) -> bytes:
    """Sign without sign_manifest's own check (so a bad payload can be served)."""
    from eth_account.messages import encode_defunct

    payload = json.dumps(
        {
            "app": "erigolem-desktop",
            "version": release.version,
            "url": release.url,
            "notes": release.notes,
        }
    )
    sig = Account.from_key(key).sign_message(encode_defunct(text=payload)).signature.hex()
    return json.dumps({"payload": payload, "signature": "0x" + sig.removeprefix("0x")}).encode()


@pytest.mark.asyncio
async def test_an_oversize_manifest_is_refused(serve: Serve) -> None:
    with pytest.raises(UpdateError, match="larger than 64 KB; it was refused"):
        await _check(serve(b" " * (updates.MAX_BYTES + 1) + sign_manifest(GOOD, RELEASE_KEY)))


@pytest.mark.asyncio
async def test_an_unreachable_server_says_so() -> None:
    with pytest.raises(UpdateError, match="unreachable") as err:
        await _check("http://127.0.0.1:9/manifest.json")  # port 9 (discard): nothing listens
    assert "network connection" in err.value.hint


def test_semver_precedence() -> None:
    """SemVer 2.0 §11's own example order, and build labels ignored."""
    order = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
             "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.10.0", "2.0.0"]  # fmt: skip
    for lower, higher in itertools.pairwise(order):
        assert is_newer(higher, lower), (lower, higher)
        assert not is_newer(lower, higher), (lower, higher)
    assert not is_newer("1.0.0+build.2", "1.0.0+build.1")
    for bad in ["1.0", "01.0.0", "1.0.0-", "1.0.0-01", "v1.0.0", "1.0.0+"]:
        with pytest.raises(ValueError):
            updates.parse_semver(bad)


def test_due_at_most_daily(tmp_path: Path) -> None:
    state = CheckState(tmp_path / "s.json")
    state.record(now=1_000_000.0)
    assert not state.due(now=1_000_000.0 + updates.DAY_S - 1)
    assert state.due(now=1_000_000.0 + updates.DAY_S)
    assert state.due(now=999_000.0)  # the clock went back: check again
    state.path.write_text("not json")
    assert state.due()


def test_the_daily_check_is_a_setting_that_can_be_turned_off() -> None:
    assert Settings().update_check_daily is True
    assert Settings(update_check_daily=False).update_check_daily is False


def test_the_built_in_release_address_is_a_checksummed_address() -> None:
    from eth_utils.address import to_checksum_address

    assert to_checksum_address(updates.RELEASE_ADDRESS) == updates.RELEASE_ADDRESS


def _sign_script(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / "scripts/sign_manifest.py"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def test_sign_manifest_script_reads_the_key_from_stdin_or_a_private_file(tmp_path: Path) -> None:
    out = _sign_script("--key-file", "-", "--address", stdin=RELEASE_KEY.hex())
    assert out.stdout.strip() == RELEASE_ADDR
    out = _sign_script(
        "--key-file", "-", "--version", "0.2.0", "--url", GOOD.url, stdin="0x" + RELEASE_KEY.hex()
    )
    assert out.returncode == 0, out.stderr
    assert verify_manifest(out.stdout.encode(), RELEASE_ADDR).version == "0.2.0"
    keyfile = tmp_path / "release.key"
    keyfile.write_text(RELEASE_KEY.hex())
    keyfile.chmod(0o644)
    out = _sign_script("--key-file", str(keyfile), "--address")
    assert out.returncode != 0
    assert "chmod 600" in out.stderr
    keyfile.chmod(0o600)
    assert _sign_script("--key-file", str(keyfile), "--address").stdout.strip() == RELEASE_ADDR
    out = _sign_script("--key-file", "-", "--address", stdin="abcd")
    assert out.returncode != 0
    assert "32 bytes of hex" in out.stderr
    out = _sign_script(
        "--key-file", "-", "--version", "2", "--url", GOOD.url, stdin=RELEASE_KEY.hex()
    )
    assert out.returncode == 2
    assert "MAJOR.MINOR.PATCH" in out.stderr
