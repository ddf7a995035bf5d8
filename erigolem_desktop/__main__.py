"""`erigolem`: with no arguments the desktop app, with a subcommand the headless CLI.

Two arguments are not in the CLI's help: `--smoke` (start the window, paint once, quit; see
`erigolem_desktop.ui.smoke`) and `__runtime__` (run the bundled `erigolem-runtime`, used by a
frozen app that has no Python to run `-m erigolem_runtime` with; see `erigolem_desktop.frozen`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from erigolem_desktop.frozen import RUNTIME_ARG


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == RUNTIME_ARG:
        from erigolem_runtime.cli import run_cli  # stdout stays the runtime's (protobuf) alone

        return int(run_cli(args[1:]))
    if args in ([], ["--smoke"]):
        from erigolem_runtime.api.process import forbid_core_dumps

        from erigolem_desktop.qtcheck import qt_problem

        forbid_core_dumps()  # the window unlocks wallets: no core dump may hold a key

        problem = qt_problem()  # no display, a missing Qt library: a sentence, not Qt's abort
        if problem:
            print(f"erigolem: {problem}", file=sys.stderr)
            return 1
    if args == ["--smoke"]:
        from erigolem_desktop.ui.smoke import run_smoke

        return run_smoke()
    if not args:
        from erigolem_desktop.ui.app import run_app  # Qt is imported only for the window

        return int(run_app())
    from erigolem_desktop.cli import main as cli_main

    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main())
