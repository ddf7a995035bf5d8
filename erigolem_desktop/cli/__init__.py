"""The headless `erigolem` CLI. Each command group lives in its own module with a `register()`."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Modules that add subcommands; each defines `register(subparsers)` and sets `func` on its parsers.
COMMAND_MODULES = ("wallet_cmd", "node_cmd", "rpc_cmd", "serve_cmd", "gateway_cmd")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="erigolem",
        description="Rent Ethereum nodes on Golem or run them locally. No arguments: the desktop app.",
        epilog="`erigolem --smoke` opens the window, paints it once, prints one JSON line and "
        "exits (a check that the app comes up, also headless with QT_QPA_PLATFORM=offscreen).",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"erigolem_desktop.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"erigolem_desktop.cli.{name}":
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    return int(func(args))
