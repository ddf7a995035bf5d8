"""Helpers shared by every `erigolem` command group: secrets input, output, errors, exit codes.

Exit codes (the same for every command):

    0  ok
    1  error (something failed; the message says what and what to do)
    2  usage (bad arguments, a missing passphrase source, bad input)
    3  wrong passphrase
    4  keyring unavailable (no usable OS keyring backend)
    130 interrupted (Ctrl-C)

Typical use in a command module::

    from erigolem_desktop.cli import common

    def register(subparsers):
        p = subparsers.add_parser("thing")
        common.add_json_option(p)
        common.add_passphrase_option(p)
        p.set_defaults(func=common.handle_errors(_thing))

    def _thing(args) -> int:
        passphrase = common.read_passphrase(args)
        common.emit(args, {"ok": True}, text="Done.")
        return common.EXIT_OK

Secrets are never taken as plain argv values (argv is visible to every user in `ps`): they come
from a prompt, the `ERIGOLEM_PASSPHRASE` environment variable, or a file (`-` = stdin).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import getpass
import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from erigolem_desktop.core.errors import HintedError
from erigolem_desktop.core.text import terminal_safe

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_WRONG_PASSPHRASE = 3
EXIT_KEYRING_UNAVAILABLE = 4
EXIT_INTERRUPTED = 130

NODE_ID_HELP = "node id, the id in its URL, or the URL (a unique prefix of an id is enough)"
PASSPHRASE_ENV = "ERIGOLEM_PASSPHRASE"  # noqa: S105 - a variable name, not a secret

CommandFunc = Callable[[argparse.Namespace], int]


class CliError(HintedError):
    """A failure to report to the user: `message` says what happened, `hint` what to do."""

    def __init__(self, message: str, hint: str = "", exit_code: int = EXIT_ERROR) -> None:
        super().__init__(message, hint)
        self.exit_code = exit_code


class UsageError(CliError):
    """Bad arguments or input; exit code 2."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message, hint, EXIT_USAGE)


# --- options -------------------------------------------------------------------------------


def add_json_option(parser: argparse.ArgumentParser) -> None:
    """Accept `--json` after the subcommand too; the root parser's `--json` keeps working."""
    parser.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="machine-readable output (JSON on stdout)",
    )


def add_passphrase_option(parser: argparse.ArgumentParser) -> None:
    """Add `--passphrase-file F` (first line of F, `-` = stdin)."""
    parser.add_argument(
        "--passphrase-file",
        metavar="FILE",
        help=f"read the wallet passphrase from FILE ('-' = stdin); "
        f"else ${PASSPHRASE_ENV}; else a prompt",
    )


def json_mode(args: argparse.Namespace) -> bool:
    """True when the user asked for machine-readable output."""
    return bool(getattr(args, "json", False))


# --- secrets input -------------------------------------------------------------------------


def read_secret_file(path: str, what: str = "secret", *, allow_empty: bool = False) -> str:
    """The content of `path` (or stdin for `-`) without the trailing newline.

    Raises UsageError when the file cannot be read, or is empty (unless `allow_empty`).
    """
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
    except OSError as exc:
        raise UsageError(
            f"Could not read the {what} from {path}: {exc.strerror or exc}.",
            "Check the path and its permissions.",
        ) from exc
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"The {what} file {path} is not UTF-8 text.", "Save it as plain UTF-8 text."
        ) from exc
    text = text.rstrip("\r\n")
    if not text.strip() and not allow_empty:
        raise UsageError(f"The {what} file {path} is empty.", f"Put the {what} into the file.")
    return text


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else text


def read_passphrase(
    args: argparse.Namespace,
    *,
    prompt: str = "Wallet passphrase: ",
    confirm: bool = False,
    env_var: str = PASSPHRASE_ENV,
    flag: str = "--passphrase-file",
    validate: Callable[[str], str] | None = None,
    allow_empty: bool = False,
) -> str:
    """The passphrase from `--passphrase-file`, else `$ERIGOLEM_PASSPHRASE`, else a prompt.

    `confirm=True` asks twice at the prompt (for new passphrases). Without a terminal and without
    a file or the variable, raises UsageError naming `flag` and `env_var`. `validate` (for new
    passphrases) returns why a value is refused, or ''; a refusal is a UsageError, raised before
    the prompt asks for the repetition. `allow_empty` accepts '' (an empty file, the variable
    set to nothing, Enter at the prompt): geth writes keystores with an empty password.
    """

    def checked(value: str) -> str:
        problem = validate(value) if validate is not None else ""
        if problem:
            from erigolem_desktop.core.passphrase_rule import GOOD_PASSPHRASE_HINT

            raise UsageError(problem, GOOD_PASSPHRASE_HINT)
        return value

    from erigolem_runtime.api.process import forbid_core_dumps

    forbid_core_dumps()  # this process is about to hold a passphrase and an unlocked key
    path = getattr(args, "passphrase_file", None)
    if path:
        return checked(_first_line(read_secret_file(path, "passphrase", allow_empty=allow_empty)))
    value = os.environ.get(env_var)
    if value or (allow_empty and value is not None):
        return checked(value)
    if not sys.stdin.isatty():
        raise UsageError(
            "A passphrase is needed and there is no terminal to ask for it.",
            f"Pass {flag} FILE (or '-' for stdin) or set {env_var}.",
        )
    try:
        first = getpass.getpass(prompt)
        if not first and not allow_empty:
            raise UsageError("The passphrase is empty.", "Type a passphrase.")
        checked(first)
        if confirm and getpass.getpass("Repeat the passphrase: ") != first:
            raise UsageError("The two passphrases differ.", "Run the command again.")
    except EOFError as exc:
        raise UsageError("No passphrase was entered.", "Run the command again.") from exc
    return first


# --- output --------------------------------------------------------------------------------


def _plain(data: Any) -> str:
    if isinstance(data, Mapping):
        return "\n".join(f"{k}: {_plain_value(v)}" for k, v in data.items())
    if isinstance(data, Sequence) and not isinstance(data, str | bytes):
        return "\n".join(_plain(item) for item in data)
    return str(data)


def _plain_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, Mapping | list):
        return json.dumps(value)
    return str(value)


def emit(args: argparse.Namespace, data: Any, text: str | None = None) -> None:
    """Print a result: `data` as JSON with `--json`, else `text` (or `data` as `key: value`)."""
    if json_mode(args):
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    else:
        out = terminal_safe(_plain(data) if text is None else text)  # names: no escapes
        if out:
            sys.stdout.write(out if out.endswith("\n") else out + "\n")
    sys.stdout.flush()


def note(message: str) -> None:
    """A side remark for humans (warnings, progress) on stderr, so stdout stays parseable."""
    sys.stderr.write(terminal_safe(message).rstrip("\n") + "\n")
    sys.stderr.flush()


def print_error(
    args: argparse.Namespace | None, message: str, hint: str = "", code: int = 1
) -> None:
    """Report a failure on stderr: plain text, or one JSON object with `--json`."""
    if args is not None and json_mode(args):
        payload = {"error": message, "hint": hint or None, "exit_code": code}
        sys.stderr.write(json.dumps(payload) + "\n")
    else:
        sys.stderr.write(f"erigolem: error: {terminal_safe(message)}\n")
        if hint:
            sys.stderr.write(f"  {terminal_safe(hint)}\n")
    sys.stderr.flush()


# --- signals -------------------------------------------------------------------------------

STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")
"""The signals that ask a serving command (`node start`, `serve`) to stop cleanly."""


@contextlib.contextmanager
def signal_handlers(handlers: Mapping[str, Callable[[], object]]) -> Iterator[None]:
    """Run the event loop's handlers for the named signals (those this platform has) meanwhile.

    Must be entered with a running loop; the handlers are removed again on exit.
    """
    import asyncio
    import signal

    loop = asyncio.get_running_loop()
    installed: list[int] = []
    for name, handler in handlers.items():
        sig = getattr(signal, name, None)
        if sig is None:
            continue
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, handler)
            installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)


# --- errors --------------------------------------------------------------------------------


def _message_of(exc: BaseException) -> str:
    if isinstance(exc, CliError):
        return exc.message
    if exc.args and isinstance(exc.args[0], str):
        return exc.args[0]  # not str(exc): some classes append the hint there already
    return str(exc) or type(exc).__name__


def exit_code_for(exc: BaseException) -> int:
    """The exit code for an exception: its `exit_code` attribute, keyring errors -> 4, else 1."""
    code = getattr(exc, "exit_code", None)
    if isinstance(code, int):
        return code
    from keyring.errors import KeyringError

    if isinstance(exc, KeyringError):
        return EXIT_KEYRING_UNAVAILABLE
    return EXIT_ERROR


def describe(exc: BaseException) -> tuple[str, str, int]:
    """(message, hint, exit code) for an exception a command let through."""
    hint = getattr(exc, "hint", "") or ""
    code = exit_code_for(exc)
    from keyring.errors import KeyringError

    if isinstance(exc, KeyringError) and not hint:
        hint = (
            "Unlock or install the system keyring (Secret Service, e.g. gnome-keyring), "
            "or choose a backend with PYTHON_KEYRING_BACKEND."
        )
    return _message_of(exc), str(hint), code


def handle_errors(func: CommandFunc) -> CommandFunc:
    """Wrap a command: user-facing failures become a message on stderr and an exit code.

    Handled: CliError, any exception carrying a `hint` (WalletError, BackendError, RpcError…),
    keyring errors, OSError and Ctrl-C. Anything else is a bug and propagates with its traceback.
    """

    @functools.wraps(func)
    def wrapper(args: argparse.Namespace) -> int:
        try:
            return int(func(args))
        except KeyboardInterrupt:
            print_error(args, "Interrupted.", code=EXIT_INTERRUPTED)
            return EXIT_INTERRUPTED
        except Exception as exc:
            from keyring.errors import KeyringError

            if not (isinstance(exc, CliError | KeyringError | OSError) or hasattr(exc, "hint")):
                raise
            message, hint, code = describe(exc)
            print_error(args, message, hint, code)
            return code

    return wrapper
