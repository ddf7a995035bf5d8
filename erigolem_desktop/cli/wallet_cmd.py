"""`erigolem wallet …`: create, import, list, use, export, passwd, remove, sign, sign-siwe, verify.

Secrets never come as plain argv values (argv is visible to every user in `ps`): keys, recovery
phrases and keystore files are read from files (`-` = stdin); the wallet passphrase from a
prompt, `$ERIGOLEM_PASSPHRASE` or `--passphrase-file`; a keystore file's own password from a
prompt, `$ERIGOLEM_KEYSTORE_PASSWORD` or `--keystore-password-file`; `passwd`'s new passphrase
from a prompt (asked twice), `$ERIGOLEM_NEW_PASSPHRASE` or `--new-passphrase-file`. New
passphrases (create, import, passwd) follow the GUI's rule (core/passphrase_rule.py); the
passphrases that unlock existing accounts are never checked against it.

Exit codes: 0 ok, 1 error, 2 usage, 3 wrong passphrase, 4 keyring unavailable (cli/common.py).
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from erigolem_desktop.cli import common

KEYSTORE_PASSWORD_ENV = "ERIGOLEM_KEYSTORE_PASSWORD"  # noqa: S105 - a variable name
NEW_PASSPHRASE_ENV = "ERIGOLEM_NEW_PASSPHRASE"  # noqa: S105 - a variable name

if TYPE_CHECKING:  # typing only; importing the wallet pulls in eth-account (~0.5 s)
    from erigolem_desktop.core.wallet import AccountInfo, Wallet


def _wallet() -> Wallet:
    from erigolem_desktop.core.wallet import Wallet

    return Wallet.open()


def _address_or_active(wallet: Wallet, address: str | None) -> str:
    if address:
        return wallet.get(address).address
    active = wallet.active
    if active is None:
        raise common.CliError(
            "The wallet has no accounts.", "Create one with `erigolem wallet create`."
        )
    return active.address


def _new_passphrase(args: argparse.Namespace) -> str:
    """The passphrase for a new or imported account, held to the GUI's rule (core)."""
    from erigolem_desktop.core.passphrase_rule import passphrase_problem

    return common.read_passphrase(
        args, prompt="New wallet passphrase: ", confirm=True, validate=passphrase_problem
    )


def _unlock(args: argparse.Namespace, wallet: Wallet) -> str:
    address = _address_or_active(wallet, getattr(args, "address", None))
    passphrase = common.read_passphrase(args, prompt=f"Passphrase for {address}: ")
    wallet.unlock(address, passphrase)
    return address


# --- commands ------------------------------------------------------------------------------


def _create(args: argparse.Namespace) -> int:
    wallet = _wallet()
    passphrase = _new_passphrase(args)
    info, phrase = wallet.create(passphrase, label=args.label or "")
    common.note(
        "WARNING: the recovery phrase below is shown ONCE here (the app's Back up… shows it "
        "again, behind the passphrase). Write it down on paper and keep it "
        "offline; anyone who has it owns this account, and without it (or a keystore backup) a "
        "lost passphrase means a lost account."
    )
    common.emit(
        args,
        {**info.to_dict(), "mnemonic": phrase},
        text=f"Address: {info.address}\nRecovery phrase: {phrase}",
    )
    return common.EXIT_OK


def _read_keystore_password(args: argparse.Namespace) -> str:
    return common.read_passphrase(
        argparse.Namespace(passphrase_file=args.keystore_password_file),
        prompt="Password of the keystore file: ",
        env_var=KEYSTORE_PASSWORD_ENV,
        flag="--keystore-password-file",
        allow_empty=True,  # geth writes keystores with an empty password; the core opens them
    )


def _import(args: argparse.Namespace) -> int:
    wallet = _wallet()
    label = args.label or ""
    if args.key_file:
        key = common.read_secret_file(args.key_file, "private key").strip()
        passphrase = _new_passphrase(args)
        info = wallet.import_private_key(key, passphrase, label=label)
    elif args.mnemonic_file:
        phrase = common.read_secret_file(args.mnemonic_file, "recovery phrase")
        passphrase = _new_passphrase(args)
        info = wallet.import_mnemonic(phrase, passphrase, path=args.path, label=label)
    else:
        from erigolem_desktop.core.wallet import check_keystore_file

        text = common.read_secret_file(args.keystore, "keystore")
        check_keystore_file(text)  # a wrong file is named before any password is asked for
        ks_password = _read_keystore_password(args)
        passphrase = _new_passphrase(args)
        info = wallet.import_keystore(text, ks_password, passphrase, label=label)
    common.emit(args, info.to_dict(), text=f"Imported {info.address}")
    return common.EXIT_OK


def _format_accounts(accounts: list[AccountInfo]) -> str:
    if not accounts:
        return "No accounts yet: `erigolem wallet create` or `erigolem wallet import`."
    rows = [
        f"{'*' if a.active else ' '} {a.address}  {a.created_at:<20}  {a.label}".rstrip()
        for a in accounts
    ]
    return "\n".join(rows)


def _list(args: argparse.Namespace) -> int:
    accounts = _wallet().accounts()
    common.emit(args, [a.to_dict() for a in accounts], text=_format_accounts(accounts))
    return common.EXIT_OK


def _use(args: argparse.Namespace) -> int:
    info = _wallet().set_active(args.address)
    common.emit(args, info.to_dict(), text=f"Active account: {info.address}")
    return common.EXIT_OK


def _export(args: argparse.Namespace) -> int:
    wallet = _wallet()
    address = wallet.get(args.address).address
    out = Path(args.out) if args.out else None
    if out is not None and out.exists() and not args.force:
        raise common.UsageError(f"{out} exists already.", "Choose another file or pass --force.")
    passphrase = common.read_passphrase(args, prompt=f"Passphrase for {address}: ")
    keystore = wallet.export_keystore(address, passphrase)
    if out is None:
        sys.stdout.write(keystore + "\n")
        return common.EXIT_OK
    from erigolem_runtime.api.files import atomic_write

    atomic_write(out, keystore + "\n", mode=0o600)
    common.emit(
        args,
        {"address": address, "file": str(out)},
        text=f"Keystore of {address} written to {out} (encrypted with the wallet passphrase).",
    )
    return common.EXIT_OK


def _passwd(args: argparse.Namespace) -> int:
    if {args.passphrase_file, args.new_passphrase_file} == {"-"}:  # both from stdin
        raise common.UsageError(
            "The old and the new passphrase cannot both come from stdin.",
            "Put one of them into a file, or use a variable or the prompt for it.",
        )
    wallet = _wallet()
    address = wallet.get(args.address).address
    old = common.read_passphrase(args, prompt=f"Current passphrase for {address}: ")
    from erigolem_desktop.core.passphrase_rule import passphrase_problem

    new = common.read_passphrase(
        argparse.Namespace(passphrase_file=args.new_passphrase_file),
        prompt="New passphrase: ",
        confirm=True,
        env_var=NEW_PASSPHRASE_ENV,
        flag="--new-passphrase-file",
        validate=passphrase_problem,
    )
    if new == old:
        raise common.UsageError("The new passphrase is the old one.", "Choose a different one.")
    wallet.change_passphrase(address, old, new)
    common.note("Exported keystore backups still open with the old passphrase.")
    common.emit(
        args, {"address": address, "changed": True}, text=f"Passphrase of {address} changed."
    )
    return common.EXIT_OK


def _remove(args: argparse.Namespace) -> int:
    wallet = _wallet()
    address = wallet.get(args.address).address
    if not args.yes:
        if not sys.stdin.isatty():
            raise common.UsageError(
                f"Removing {address} deletes its key from this computer.",
                "Export a backup first, then pass --yes to confirm.",
            )
        answer = input(f"Delete the key of {address} from this computer? Type 'yes': ")
        if answer.strip().lower() != "yes":
            common.note("Nothing was removed.")
            return common.EXIT_ERROR
    wallet.remove(address)
    common.emit(args, {"removed": address}, text=f"Removed {address}")
    return common.EXIT_OK


def _message_text(args: argparse.Namespace) -> str:
    if args.message_file:
        return common.read_secret_file(args.message_file, "message")
    if args.message is None:
        raise common.UsageError("No message given.", "Pass MESSAGE or --message-file FILE.")
    return str(args.message)


def _sign(args: argparse.Namespace) -> int:
    text = _message_text(args)
    wallet = _wallet()
    address = _unlock(args, wallet)
    try:
        signature = wallet.sign_message(text)
    finally:
        wallet.lock()
    common.emit(
        args,
        {"address": address, "message": text, "signature": signature},
        text=signature,
    )
    return common.EXIT_OK


def _sign_siwe(args: argparse.Namespace) -> int:
    from erigolem_desktop.core.siwe import SiweMessage

    wallet = _wallet()
    address = _address_or_active(wallet, args.address)
    message = SiweMessage.create(
        domain=args.domain,
        address=address,
        uri=args.uri,
        chain_id=args.chain_id,
        statement=args.statement,
        nonce=args.nonce,
        expires_in=timedelta(seconds=args.expires_in) if args.expires_in else None,
        request_id=args.request_id,
        resources=tuple(args.resource or ()),
    )
    args.address = address
    _unlock(args, wallet)
    try:
        text, signature = wallet.sign_siwe(message)
    finally:
        wallet.lock()
    common.emit(
        args,
        {"address": address, "message": text, "signature": signature},
        text=f"{text}\n\nSignature: {signature}",
    )
    return common.EXIT_OK


_SIGNATURE_RE = re.compile(r"(0x)?[0-9a-fA-F]{130}")


def _check_signature(signature: str) -> None:
    """UsageError unless `signature` is 65 bytes of hex (r, s, v), the form sign prints."""
    if not _SIGNATURE_RE.fullmatch(signature.strip()):
        raise common.UsageError(
            f"The --signature is not a signature ({len(signature)} characters): a signature is "
            "65 bytes written as 0x and 130 hex digits (r, s, v).",
            "Pass the whole hex string that `erigolem wallet sign` (or a wallet) printed.",
        )


def _verify(args: argparse.Namespace) -> int:
    _check_signature(args.signature)
    text = _message_text(args)
    if args.siwe_domain:
        from erigolem_desktop.core import siwe

        try:
            msg = siwe.verify(text, args.signature, domain=args.siwe_domain, nonce=args.nonce)
        except siwe.SiweError as exc:
            result: dict[str, Any] = {"valid": False, "reason": exc.message}
            common.emit(args, result, text=f"INVALID: {exc.message}")
            return common.EXIT_ERROR
        result = {"valid": True, "address": msg.address, "domain": msg.domain}
        common.emit(args, result, text=f"Valid sign-in by {msg.address} for {msg.domain}")
        return common.EXIT_OK
    if not args.address:
        raise common.UsageError("Whose signature?", "Pass --address ADDRESS (or --siwe-domain).")
    from erigolem_desktop.core.signing import recover_message_signer, verify_message

    valid = verify_message(text, args.signature, args.address)
    signer = recover_message_signer(text, args.signature)
    common.emit(
        args,
        {"valid": valid, "address": args.address, "signer": signer},
        text="Valid signature" if valid else f"INVALID: the signer is {signer or 'unknown'}",
    )
    return common.EXIT_OK if valid else common.EXIT_ERROR


# --- parser --------------------------------------------------------------------------------


def _parser(
    sub: Any, name: str, help_text: str, func: common.CommandFunc, passphrase: bool = False
) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(name, help=help_text, description=help_text)
    common.add_json_option(p)
    if passphrase:
        common.add_passphrase_option(p)
    p.set_defaults(func=common.handle_errors(func))
    return p


def _add_message_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("message", nargs="?", metavar="MESSAGE", help="the message text")
    p.add_argument(
        "--message-file", metavar="FILE", help="read the message from FILE ('-' = stdin)"
    )


def register(subparsers: Any) -> None:
    """Add the `wallet` command group to the root parser's subparsers."""
    wallet = subparsers.add_parser(
        "wallet",
        help="accounts, keys and signatures",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    common.add_json_option(wallet)
    wallet.set_defaults(func=lambda _args: (wallet.print_help(), common.EXIT_USAGE)[1])
    sub = wallet.add_subparsers(dest="wallet_command", metavar="COMMAND")

    p = _parser(
        sub, "create", "create a new account (shows its recovery phrase once)", _create, True
    )
    p.add_argument("--label", help="a name for the account")

    p = _parser(
        sub,
        "import",
        "import an account from a key, a recovery phrase or a keystore",
        _import,
        True,
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--key-file", metavar="FILE", help="hex private key in FILE ('-' = stdin)")
    src.add_argument(
        "--mnemonic-file", metavar="FILE", help="recovery phrase in FILE ('-' = stdin)"
    )
    src.add_argument("--keystore", metavar="FILE", help="keystore v3 JSON file ('-' = stdin)")
    p.add_argument("--path", default="m/44'/60'/0'/0/0", help="derivation path for --mnemonic-file")
    p.add_argument(
        "--keystore-password-file",
        metavar="FILE",
        help=f"the keystore file's password; else ${KEYSTORE_PASSWORD_ENV}; else a prompt",
    )
    p.add_argument("--label", help="a name for the account")

    _parser(sub, "list", "list the accounts (* = active)", _list)

    p = _parser(sub, "use", "make an account the active one", _use)
    p.add_argument("address", metavar="ADDRESS")

    p = _parser(sub, "export", "export an account as a keystore v3 file", _export, True)
    p.add_argument("address", metavar="ADDRESS")
    p.add_argument("--out", metavar="FILE", help="write to FILE (mode 0600) instead of stdout")
    p.add_argument("--force", action="store_true", help="overwrite FILE")

    p = _parser(sub, "passwd", "change the passphrase of an account", _passwd, True)
    p.add_argument("address", metavar="ADDRESS")
    p.add_argument(
        "--new-passphrase-file",
        metavar="FILE",
        help=f"the new passphrase from FILE ('-' = stdin); else ${NEW_PASSPHRASE_ENV}; "
        "else a prompt (asked twice)",
    )

    p = _parser(sub, "remove", "delete an account's key from this computer", _remove)
    p.add_argument("address", metavar="ADDRESS")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    p = _parser(sub, "sign", "sign a message (EIP-191 personal_sign)", _sign, True)
    _add_message_args(p)
    p.add_argument("--address", help="the signing account (default: the active one)")

    p = _parser(
        sub, "sign-siwe", "build and sign a Sign-In with Ethereum message", _sign_siwe, True
    )
    p.add_argument("--domain", required=True, help="the site asking, e.g. app.example.org")
    p.add_argument("--uri", required=True, help="the URI being signed in to")
    p.add_argument("--statement", help="one line shown to the signer")
    p.add_argument("--chain-id", type=int, default=1)
    p.add_argument("--nonce", help="the server's nonce (default: a random one)")
    p.add_argument("--expires-in", type=int, metavar="SECONDS", help="validity from now")
    p.add_argument("--request-id")
    p.add_argument("--resource", action="append", metavar="URI")
    p.add_argument("--address", help="the signing account (default: the active one)")

    p = _parser(
        sub, "verify", "verify a signed message (EIP-191, or SIWE with --siwe-domain)", _verify
    )
    _add_message_args(p)
    p.add_argument("--signature", required=True, help="0x-hex signature")
    p.add_argument("--address", help="the expected signer (EIP-191)")
    p.add_argument("--siwe-domain", metavar="DOMAIN", help="verify as a SIWE message for DOMAIN")
    p.add_argument("--nonce", help="the nonce the SIWE message must carry")
