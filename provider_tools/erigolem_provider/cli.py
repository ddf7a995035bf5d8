"""``erigolem-provider``: setup (terminal prompts, ``--gui`` or ``--non-interactive``), check,
self-test, uninstall.

Exit codes: 0 success, 1 failure while applying / testing, 2 invalid input or findings.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from erigolem_provider.answers import FIELDS, Answers
from erigolem_provider.layout import Layout
from erigolem_provider.plan import PlanError
from erigolem_provider.prereqs import Finding
from erigolem_provider.wizard import SetupWizard


def _layout_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", type=Path, help="prefix for every path setup touches (tests)")
    p.add_argument("--plugins-dir", type=Path, help="yagna plugins directory")
    p.add_argument("--ya-provider-data-dir", type=Path, help="ya-provider data dir (presets.json)")
    p.add_argument("--nginx-conf-dir", type=Path, help="directory holding nginx.conf")


def layout_from(ns: argparse.Namespace) -> Layout:
    root = ns.root.resolve() if ns.root else None
    return Layout.for_root(
        root,
        plugins_dir=ns.plugins_dir,
        ya_provider_data_dir=ns.ya_provider_data_dir,
        nginx_conf_dir=ns.nginx_conf_dir,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="erigolem-provider",
        description="Turn this Linux machine into an Erigon provider on Golem.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    setup = sub.add_parser("setup", help="the setup wizard (terminal prompts by default)")
    _layout_args(setup)
    mode = setup.add_mutually_exclusive_group()
    mode.add_argument("--gui", action="store_true", help="Qt wizard (needs the gui extra)")
    mode.add_argument(
        "--non-interactive", action="store_true", help="no prompts: every answer from flags"
    )
    setup.add_argument("--dry-run", action="store_true", help="print the plan, write nothing")
    setup.add_argument(
        "--skip-self-test", action="store_true", help="do not start a test node after applying"
    )
    setup.add_argument(
        "--verbose", action="store_true", help="print the self-test's full output on failure"
    )
    defaults = Answers()
    answers = setup.add_argument_group("answers")
    for spec in FIELDS.values():
        default = spec.shown(getattr(defaults, spec.name))
        if spec.kind == "bool":  # a plain switch: given = yes
            answers.add_argument(
                spec.flag, dest=spec.name, action="store_const", const=True, help=spec.help
            )
            continue
        if spec.kind == "entries":  # repeatable: one entry per flag
            answers.add_argument(
                spec.flag, dest=spec.name, action="append", metavar="ENTRY", help=spec.help
            )
            continue
        answers.add_argument(
            spec.flag,
            dest=spec.name,
            metavar=spec.kind.upper() if spec.kind != "multi" else "A,B",
            help=f"{spec.help}" + (f" (default {default})" if default else ""),
        )
    check = sub.add_parser("check", help="re-validate an existing setup")
    _layout_args(check)
    st = sub.add_parser("self-test", help="start a dev-chain node and reach it via the public URL")
    _layout_args(st)
    st.add_argument("--anvil-bin", help="anvil executable (default: from the runtime config)")
    st.add_argument("--verbose", action="store_true", help="print the full output on failure")
    un = sub.add_parser("uninstall", help="remove what setup wrote and restore backups")
    _layout_args(un)
    un.add_argument("--dry-run", action="store_true", help="print what would be removed")
    un.add_argument("--force", action="store_true", help="even while rented nodes are running")
    return parser


def answers_from(ns: argparse.Namespace) -> Answers:
    """Answers from the flags given (others keep their defaults); ValueError names the flag."""
    a = Answers()
    for spec in FIELDS.values():
        raw = getattr(ns, spec.name, None)
        if raw is None:
            continue
        try:
            a.set(spec.name, raw)
        except ValueError:
            raise ValueError(f"{spec.flag}: {raw!r} is not a valid {spec.kind}") from None
    return a


def print_findings(findings: Sequence[Finding]) -> None:
    for f in findings:
        print(f.line())


def _setup(ns: argparse.Namespace) -> int:
    layout = layout_from(ns)
    try:
        answers = answers_from(ns)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    wizard = SetupWizard(layout, answers)
    if ns.gui:
        from erigolem_provider.qt_wizard import run_gui

        return int(run_gui(wizard, skip_self_test=ns.skip_self_test))
    if not ns.non_interactive:
        from erigolem_provider.tui import run_tui

        return int(
            run_tui(
                wizard, dry_run=ns.dry_run, skip_self_test=ns.skip_self_test, verbose=ns.verbose
            )
        )
    return run_non_interactive(
        wizard, dry_run=ns.dry_run, skip_self_test=ns.skip_self_test, verbose=ns.verbose
    )


def run_non_interactive(
    wizard: SetupWizard, *, dry_run: bool, skip_self_test: bool, verbose: bool = False
) -> int:
    """Validate every step, show the review, apply, self-test; print what happened."""
    if not wizard.answers.host:
        print("error: --host is required (the public host name requestors use)", file=sys.stderr)
        return 2
    findings = wizard.validate_all()
    print_findings([f for f in findings if f.level != "ok"])
    if any(f.level == "error" for f in findings):
        print("Setup stopped: fix the errors above. Nothing was written.", file=sys.stderr)
        return 2
    plan = wizard.plan()
    print(plan.render())
    if dry_run:
        print("Dry run: nothing was written.")
        return 0
    try:
        result = wizard.apply(progress=lambda m: print(f"  {m}"))
    except PlanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for w in result.warnings:
        print(f"[WARN ] {w}")
    if result.unchanged:
        print("Setup unchanged: everything was already in place.")
    else:
        changed = {k: v for k, v in result.changes.items() if v != "unchanged"}
        print(f"Setup applied: {len(changed)} change(s).")
    if not skip_self_test and _self_test(wizard.layout, wizard.anvil_bin(), verbose=verbose) != 0:
        from erigolem_provider.selftest import FAILED_AFTER_SETUP

        print(FAILED_AFTER_SETUP)
        return 1
    for line in wizard.summary():
        print(line)
    return 0


def _self_test(layout: Layout, anvil_bin: str | None, *, verbose: bool = False) -> int:
    from erigolem_provider.selftest import run_and_report

    return 0 if run_and_report(layout, anvil_bin=anvil_bin, verbose=verbose).ok else 1


def _check(ns: argparse.Namespace) -> int:
    from erigolem_provider.checks import check_setup

    findings = check_setup(layout_from(ns))
    print_findings(findings)
    bad = [f for f in findings if f.level == "error"]
    print(f"{len(bad)} problem(s) found." if bad else "Setup looks good.")
    return 2 if bad else 0


def _uninstall(ns: argparse.Namespace) -> int:
    from erigolem_provider.uninstall import uninstall

    try:
        res = uninstall(layout_from(ns), dry_run=ns.dry_run, force=ns.force)
    except PlanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    verb = "would " if ns.dry_run else ""
    for p in res.restored:
        print(f"{verb}restore {p}")
    for p in res.removed:
        print(f"{verb}remove {p}")
    for p in res.kept:
        print(f"kept {p}")
    for w in res.warnings:
        print(f"[WARN ] {w}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    ns = build_parser().parse_args(argv)
    if ns.command == "setup":
        return _setup(ns)
    if ns.command == "check":
        return _check(ns)
    if ns.command == "self-test":
        return _self_test(layout_from(ns), ns.anvil_bin, verbose=ns.verbose)
    return _uninstall(ns)


if __name__ == "__main__":
    sys.exit(main())
