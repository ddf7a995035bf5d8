"""The headless `erigolem` CLI. Each command group lives in its own module with a `register()`.

Only the module of the command being run is imported (`erigolem rpc` never loads aiohttp or
the wallet code): the common verbs start fast. `erigolem --help` and unknown words load all.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Modules that add subcommands; each defines `register(subparsers)` and sets `func` on its parsers.
COMMAND_MODULES = ("wallet_cmd", "node_cmd", "rpc_cmd", "serve_cmd", "gateway_cmd")
#: The top-level command each module registers (for importing only the one being run).
COMMAND_OF = {"wallet": "wallet_cmd", "node": "node_cmd", "rpc": "rpc_cmd", "serve": "serve_cmd"}
COMMAND_OF["gateway"] = "gateway_cmd"


def _modules_for(argv: Sequence[str]) -> tuple[str, ...]:
    """The command module `argv` runs (the first word that is not an option), else all."""
    first = next((a for a in argv if not a.startswith("-")), None)
    module = COMMAND_OF.get(first or "")
    return (module,) if module is not None else COMMAND_MODULES


def build_parser(modules: Sequence[str] = COMMAND_MODULES) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="erigolem",
        description="Rent Ethereum nodes on Golem or run them locally. No arguments: the desktop app.",
        epilog="`erigolem --smoke` opens the window, paints it once, prints one JSON line and "
        "exits (a check that the app comes up, also headless with QT_QPA_PLATFORM=offscreen).",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in modules:
        try:
            module = importlib.import_module(f"erigolem_desktop.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"erigolem_desktop.cli.{name}":
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_modules_for(args_list))
    args = parser.parse_args(args_list)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    return int(func(args))
