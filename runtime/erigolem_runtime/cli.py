"""Command line of `erigolem-runtime`, as yagna's exe-unit (and ya-provider) invoke it.

    erigolem-runtime [global options] deploy [--]
    erigolem-runtime [global options] start <start-arg-json>      (Runtime API on stdin/stdout)
    erigolem-runtime [global options] offer-template | test
    erigolem-runtime local-config DIR

Global options come before the subcommand; the ones exe-unit may add are accepted (and
ignored when not needed), unknown ones are tolerated so a newer supervisor cannot break us.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from erigolem_runtime.api import Service
from erigolem_runtime.server import serve_stdio
from erigolem_runtime.version import runtime_version

if TYPE_CHECKING:
    from erigolem_runtime.config import RuntimeConfig

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

SUBCOMMANDS = ("deploy", "start", "run", "offer-template", "test", "local-config")
_VALUE_OPTIONS = {
    "-w",
    "--workdir",
    "-t",
    "--task-package",
    "--cpu-cores",
    "--mem-gib",
    "--storage-gib",
    "--volume-override",
    "--hostname",
    "--vpn-endpoint",
    "--inet-endpoint",
}
_SHORT_WITH_VALUE = ("-w", "-t")

ServiceFactory = Callable[[Path], Service]


class UsageError(Exception):
    """Bad command line: printed with a hint, exit code 2."""


def _global_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="erigolem-runtime",
        description="Golem ExeUnit runtime serving isolated Ethereum nodes (Erigon, anvil) "
        "behind nginx. Subcommands: " + ", ".join(SUBCOMMANDS) + ".",
        allow_abbrev=False,
        add_help=True,
    )
    p.add_argument("-w", "--workdir", type=Path, help="activity work dir (exe-unit passes it)")
    p.add_argument("-t", "--task-package", help="ignored: the runtime manages its own image")
    p.add_argument("--cpu-cores", help="ignored (from --runtime-managed-hardware)")
    p.add_argument("--mem-gib", help="ignored (from --runtime-managed-hardware)")
    p.add_argument("--storage-gib", help="ignored (from --runtime-managed-hardware)")
    p.add_argument("--volume-override", help="ignored: no volumes")
    p.add_argument("--hostname", help="ignored")
    p.add_argument("--vpn-endpoint", help="ignored: no VPN support")
    p.add_argument("--inet-endpoint", help="ignored: no INET support")
    p.add_argument("--version", action="version", version=f"erigolem-runtime {runtime_version()}")
    return p


def split_argv(argv: Sequence[str]) -> tuple[list[str], str | None, list[str]]:
    """Split into (global options, subcommand, subcommand args), tolerating unknown options.

    An unknown `--opt value` pair is skipped as a pair unless the value is a subcommand name
    or looks like an option; `--opt=value` is always one token.
    """
    argv = list(argv)
    i = 0
    while i < len(argv):
        tok = argv[i]
        if tok in SUBCOMMANDS:
            return argv[:i], tok, argv[i + 1 :]
        if tok == "--":
            i += 1
            continue
        if not tok.startswith("-") or tok == "-":
            raise UsageError(
                f"unknown subcommand {tok!r}: expected one of {', '.join(SUBCOMMANDS)}"
            )
        name = tok.split("=", 1)[0]
        if "=" in tok or (tok.startswith(_SHORT_WITH_VALUE) and len(tok) > 2 and tok[1] != "-"):
            i += 1
        elif name in _VALUE_OPTIONS:
            i += 2
        elif name in ("-h", "--help", "--version"):
            i += 1
        elif (
            i + 1 < len(argv) and argv[i + 1] not in SUBCOMMANDS and not argv[i + 1].startswith("-")
        ):
            i += 2  # unknown option with a value
        else:
            i += 1  # unknown flag
    return argv, None, []


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def _err(message: str) -> None:
    sys.stderr.write(f"erigolem-runtime: {message}\n")
    sys.stderr.flush()


# ----------------------------------------------------------------------------- subcommands


def _cmd_deploy(workdir: Path | None) -> int:
    from erigolem_runtime.config import ConfigError, load_config

    try:
        config = load_config()
    except ConfigError as exc:
        _err(f"deploy failed: {exc}")
        return EXIT_FAILED
    if workdir is not None:
        try:
            (workdir / "logs").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            _err(f"deploy failed: cannot create {workdir / 'logs'}: {exc.strerror}")
            return EXIT_FAILED
    _reap_stale_nginx(config)
    from erigolem_runtime.datadirs import reap_dead_datadirs

    reap_dead_datadirs(config, remove=False)  # one rename each; start removes them
    # the requestor sees this message: it names no path of the provider's machine
    message = f"erigolem-runtime {runtime_version()} ready"
    _print_json({"startMode": "blocking", "valid": {"Ok": message}, "vols": []})
    return EXIT_OK


def _reap_stale_nginx(config: RuntimeConfig) -> None:
    """Clean nginx leftovers of crashed runtimes (e.g. an unowned private master); never fatal."""
    import asyncio

    from erigolem_runtime.instance import reap_stale_nginx

    try:
        asyncio.run(reap_stale_nginx(config))
    except Exception as exc:  # deploy stays valid: the next start reaps again
        _err(f"warning: cleaning up stale nginx instances failed: {exc}")


def _node_service_factory(workdir: Path) -> Service:
    from erigolem_runtime.config import load_config
    from erigolem_runtime.instance import NodeService

    return NodeService(load_config(), workdir)


def _cmd_start(workdir: Path | None, args: list[str], factory: ServiceFactory | None) -> int:
    if workdir is None:
        raise UsageError("start needs --workdir (exe-unit always passes it)")
    if args and args[0] == "--":  # process-mode form; service mode sends no `--`
        args = args[1:]
    if sys.stdin.isatty():
        _err(
            "start speaks the Golem Runtime API (binary frames) on stdin/stdout; it is meant to "
            "be driven by exe-unit or erigolem_runtime.api.client.RuntimeClient. Logs: "
            f"{workdir / 'logs'}"
        )
    make = factory or _node_service_factory
    return serve_stdio(lambda: make(workdir), args, workdir)


def _cmd_run(args: list[str]) -> int:
    _err(
        "run commands are served over the Runtime API of a running `start` (service mode: "
        "deploy reports startMode 'blocking'), not as separate processes. From a requestor use "
        "an ExeScript run (e.g. run status / rotate-credentials / logs 50); locally use "
        "erigolem_runtime.api.client.RuntimeClient(...).run('status')."
    )
    return EXIT_USAGE


def _load_config_or_none() -> tuple[Any, str | None]:
    from erigolem_runtime.config import ConfigError, load_config

    try:
        return load_config(), None
    except ConfigError as exc:
        return None, str(exc)


def _cmd_offer_template() -> int:
    from erigolem_runtime.offer import offer_template

    config, problem = _load_config_or_none()
    if problem is not None:
        _err(f"warning: {problem}; printing the template without config-specific properties")
    _print_json(offer_template(config))
    return EXIT_OK


def _cmd_test() -> int:
    """ya-provider's start-up probe: fail only for what stops serving; warnings go to stderr."""
    from erigolem_runtime.offer import check_config

    config, problem = _load_config_or_none()
    if problem is not None:
        _err(f"self-test failed: {problem}")
        return EXIT_FAILED
    report = check_config(config)
    for w in report.warnings:
        _err(f"self-test warning: {w}")
    if report.errors:
        for p in report.errors:
            _err(f"self-test: {p}")
        return EXIT_FAILED
    note = f" ({len(report.warnings)} warning(s) on stderr)" if report.warnings else ""
    sys.stdout.write(f"erigolem-runtime {runtime_version()}: self-test OK{note}\n")
    return EXIT_OK


def _summary_lines(obj: Any, prefix: str = "") -> list[str]:
    lines: list[str] = []
    if isinstance(obj, dict):
        for key, value in obj.items():
            if any(s in str(key).lower() for s in ("password", "secret", "token")):
                continue
            lines += _summary_lines(value, f"{prefix}{key}.")
    elif isinstance(obj, list):
        lines.append(f"{prefix.rstrip('.')}: {', '.join(str(v) for v in obj) or '(none)'}")
    else:
        lines.append(f"{prefix.rstrip('.')}: {'(not found)' if obj in (None, '') else obj}")
    return lines


def _cmd_local_config(args: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="erigolem-runtime local-config",
        description="Write a complete runtime config for running on this computer (private "
        "nginx on loopback under DIR, a free port range, anvil/erigon found on PATH or in "
        "node_modules); the config file's path is the last line printed.",
    )
    p.add_argument("dir", type=Path, help="directory for the config, nginx prefix and data")
    ns = p.parse_args(args)
    from erigolem_runtime.localconfig import write_local_config

    try:
        path = write_local_config(ns.dir)
    except (OSError, ValueError) as exc:
        _err(f"local-config failed: {exc}")
        return EXIT_FAILED
    except Exception as exc:
        if type(exc).__name__.endswith("Error"):
            _err(f"local-config failed: {exc}")
            return EXIT_FAILED
        raise
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = None
    for line in _summary_lines(data) if data is not None else []:
        sys.stdout.write(line + "\n")
    sys.stdout.write(f"{path}\n")
    sys.stdout.flush()
    return EXIT_OK


# ------------------------------------------------------------------------------------ main


def run_cli(argv: Sequence[str], *, service_factory: ServiceFactory | None = None) -> int:
    """Parse `argv` (without the program name) and run the subcommand; return the exit code.

    `service_factory` replaces the Erigon/anvil NodeService in `start` (tests serve a small
    Service of their own through the very same code path).
    """
    try:
        globals_, sub, rest = split_argv(argv)
    except UsageError as exc:
        _err(f"{exc}\nusage: erigolem-runtime [--workdir DIR] {{{','.join(SUBCOMMANDS)}}} ...")
        return EXIT_USAGE
    parser = _global_parser()
    try:
        ns, _unknown = parser.parse_known_args(globals_)
    except SystemExit as exc:  # --help / --version / bad value for a known option
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    if sub is None:
        parser.print_usage(sys.stderr)
        _err(f"missing subcommand: one of {', '.join(SUBCOMMANDS)}")
        return EXIT_USAGE
    workdir: Path | None = ns.workdir.resolve() if ns.workdir is not None else None
    try:
        if sub == "deploy":
            return _cmd_deploy(workdir)
        if sub == "start":
            return _cmd_start(workdir, rest, service_factory)
        if sub == "run":
            return _cmd_run(rest)
        if sub == "offer-template":
            return _cmd_offer_template()
        if sub == "test":
            return _cmd_test()
        return _cmd_local_config(rest)
    except UsageError as exc:
        _err(str(exc))
        return EXIT_USAGE
    except SystemExit as exc:  # argparse inside a subcommand
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE


def main() -> NoReturn:
    """Console script `erigolem-runtime`."""
    sys.exit(run_cli(sys.argv[1:]))
