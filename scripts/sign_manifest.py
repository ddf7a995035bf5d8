"""Write a signed update manifest to stdout; the release key comes from a file or stdin, never argv.

Run through `scripts/sign-manifest` (see its header for the options).
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
from pathlib import Path

from erigolem_desktop.core.updates import Release, UpdateError, parse_semver, sign_manifest


def read_key(source: str) -> bytes:
    """The 32-byte private key from `source` ('-' = stdin), as hex with or without 0x."""
    if source == "-":
        text = sys.stdin.readline()
    else:
        path = Path(source)
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise SystemExit(
                f"sign-manifest: {path} is readable by other users; "
                f"run `chmod 600 {path}` first (it holds the release key)."
            )
        text = path.read_text(encoding="ascii")
    hex_key = text.strip().removeprefix("0x")
    try:
        key = bytes.fromhex(hex_key)
    except ValueError:
        key = b""
    if len(key) != 32:
        raise SystemExit("sign-manifest: the key must be 32 bytes of hex (64 hex digits).")
    return key


def main(argv: list[str] | None = None) -> int:
    """Parse options, read the key, print the manifest (or the key's address)."""
    parser = argparse.ArgumentParser(prog="sign-manifest", description=__doc__)
    parser.add_argument(
        "--key-file", required=True, help="file holding the key (hex), or - for stdin"
    )
    parser.add_argument("--address", action="store_true", help="print the key's address and exit")
    parser.add_argument("--version", help="the released version (SemVer, e.g. 0.2.0)")
    parser.add_argument("--url", help="https:// page about the release")
    parser.add_argument("--notes", default="", help="a short note shown to the user")
    args = parser.parse_args(argv)
    key = read_key(args.key_file)
    if args.address:
        from eth_account import Account

        print(Account.from_key(key).address)
        return 0
    if not args.version or not args.url:
        parser.error("--version and --url are required to sign a manifest")
    try:
        parse_semver(args.version)
        data = sign_manifest(Release(args.version, args.url, args.notes), key)
    except (ValueError, UpdateError) as exc:
        print(f"sign-manifest: {exc}", file=sys.stderr)
        return 2
    os.write(sys.stdout.fileno(), data + b"\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
