"""`erigolem`: with no arguments the desktop app, with a subcommand the headless CLI."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        from erigolem_desktop.ui.app import run_app  # Qt is imported only for the window

        return int(run_app())
    from erigolem_desktop.cli import main as cli_main

    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main())
