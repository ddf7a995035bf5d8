"""Terminal front end: one prompt per answer, driven by the wizard's steps and validation."""

from __future__ import annotations

from collections.abc import Callable

from erigolem_provider.answers import FIELDS
from erigolem_provider.plan import PlanError
from erigolem_provider.wizard import STEPS, SetupWizard, StepInvalid

Ask = Callable[[str], str]


def _prompt_step(wizard: SetupWizard, ask: Ask, say: Callable[[str], None]) -> None:
    step = wizard.step
    for name in step.fields:
        spec = FIELDS[name]
        current = spec.shown(getattr(wizard.answers, name))
        choices = f" [{'/'.join(spec.choices)}]" if spec.choices else ""
        while True:
            raw = ask(f"{spec.label}{choices} ({spec.help}) [{current}]: ").strip()
            if not raw:
                break
            try:
                wizard.answers.set(name, raw)
                break
            except ValueError:
                say(f"  not a valid {spec.kind}: try again")


def run_tui(
    wizard: SetupWizard,
    *,
    dry_run: bool = False,
    skip_self_test: bool = False,
    verbose: bool = False,
    ask: Ask = input,
    say: Callable[[str], None] = print,
) -> int:
    """Walk the steps on a terminal; Enter keeps the shown value. Returns the exit code."""
    try:
        while wizard.current not in ("apply", "summary"):
            step = wizard.step
            say(f"\n== {step.title} ==\n{step.intro}")
            if step.id == "review":
                say(wizard.plan().render())
                if dry_run:
                    say("Dry run: nothing was written.")
                    return 0
            else:
                _prompt_step(wizard, ask, say)
            findings = wizard.findings()
            for f in findings:
                if f.level != "ok" or step.id == "prereqs":
                    say(f.line())
            if any(f.level == "error" for f in findings):
                choice = ask("Fix the errors: [e]dit this step, [b]ack, [q]uit: ").strip().lower()
                if choice.startswith("q"):
                    say("Setup stopped. Nothing was written.")
                    return 2
                if choice.startswith("b"):
                    wizard.back()
                continue
            prompt = (
                "Apply these changes? [y/N/b=back] "
                if step.id == "review"
                else ("Continue? [Y/n/b=back] ")
            )
            choice = ask(prompt).strip().lower()
            if choice.startswith("b"):
                wizard.back()
                continue
            if step.id == "review" and not choice.startswith("y"):
                say("Setup stopped. Nothing was written.")
                return 2
            if choice.startswith("n"):
                say("Setup stopped. Nothing was written.")
                return 2
            wizard.next()
    except StepInvalid as exc:
        say(str(exc))
        return 2
    except (EOFError, KeyboardInterrupt):
        say("\nSetup stopped. Nothing was written.")
        return 2
    say(f"\n== {STEPS['apply'].title} ==")
    try:
        result = wizard.apply(progress=lambda m: say(f"  {m}"))
    except PlanError as exc:
        say(f"error: {exc}")
        return 1
    for w in result.warnings:
        say(f"[WARN ] {w}")
    say(
        "Setup unchanged: everything was already in place."
        if result.unchanged
        else "Setup applied."
    )
    if not skip_self_test:
        from erigolem_provider.selftest import FAILED_AFTER_SETUP, run_and_report

        if not run_and_report(
            wizard.layout, anvil_bin=wizard.anvil_bin(), verbose=verbose, say=say
        ).ok:
            say(FAILED_AFTER_SETUP)
            return 1
    wizard.next()
    say(f"\n== {STEPS['summary'].title} ==")
    for line in wizard.summary():
        say(line)
    return 0
