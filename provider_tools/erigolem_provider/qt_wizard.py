"""Qt front end: thin views over the wizard's state machine (Electrum's model), one navigator.

The dialog shows the page of `SetupWizard.current`; Back/Next call the state machine's
`back()`/`try_next()`, never a navigation of their own. Everything that can block (the
`--version` probes, the review's plan and runtime test, apply, the self-test) runs off the GUI
thread as a `BackgroundOp` with a busy bar and progress lines, so the window keeps painting.
Closing during apply cancels it at the next step (apply rolls back) and closes when it ended.

Imported only for ``setup --gui``; needs PySide6 (the ``gui`` extra).
"""

from __future__ import annotations

import html
import re
import threading
from typing import Any, TypeVar

from PySide6.QtCore import Qt
from PySide6.QtGui import (
    QCloseEvent,
    QFontDatabase,
    QFontMetricsF,
    QTextBlockFormat,
    QTextCursor,
    QTextOption,
)
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from erigolem_provider.answers import FIELDS
from erigolem_provider.plan import ApplyResult, PlanError
from erigolem_provider.prereqs import Finding
from erigolem_provider.qt_ops import BackgroundOp, Say
from erigolem_provider.wizard import STEPS, SetupWizard, StepId

T = TypeVar("T")

INPUT_STEPS: tuple[StepId, ...] = ("prereqs", "runtime", "nginx", "pricing")

_COLORS = {"ok": "#2e7d32", "info": "#1565c0", "warning": "#b26a00", "error": "#c62828"}
_TAGS = {"ok": "✓", "info": "i", "warning": "!", "error": "✗"}


def findings_html(findings: list[Finding]) -> str:
    """Findings as a compact coloured list."""
    rows = []
    for f in findings:
        color = _COLORS[f.level]
        rows.append(
            f"<tr><td style='color:{color};font-weight:bold;padding-right:6px'>{_TAGS[f.level]}</td>"
            f"<td><b>{html.escape(f.subject)}</b>: {html.escape(f.message)}</td></tr>"
        )
    return "<table cellspacing='2'>" + "".join(rows) + "</table>"


class StepPage(QWidget):
    """One input step: a form built from the step's fields and the step's findings below it."""

    def __init__(self, wz: SetupWizard, step_id: StepId) -> None:
        super().__init__()
        self.wz = wz
        self.step_id = step_id
        outer = QVBoxLayout(self)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.editors: dict[str, QWidget] = {}
        for name in STEPS[step_id].fields:
            spec = FIELDS[name]
            editor = self._editor(name)
            editor.setToolTip(spec.help)
            self.editors[name] = editor
            form.addRow(spec.label + ":", editor)
        outer.addLayout(form)
        self.findings_label = QLabel()
        self.findings_label.setObjectName("findings")
        self.findings_label.setWordWrap(True)
        self.findings_label.setTextFormat(Qt.TextFormat.RichText)
        self.findings_label.setAlignment(Qt.AlignmentFlag.AlignTop)
        outer.addWidget(self.findings_label, 1)

    def title(self) -> str:
        return STEPS[self.step_id].title

    def _editor(self, name: str) -> QWidget:
        spec = FIELDS[name]
        value = getattr(self.wz.answers, name)
        if spec.kind == "choice":
            box = QComboBox()
            box.addItems(list(spec.choices))
            box.setCurrentText(spec.shown(value))
            return box
        if spec.kind == "bool":
            check = QCheckBox(spec.help)
            check.setChecked(bool(value))
            return check
        if spec.kind == "multi":
            holder = QWidget()
            grid = QGridLayout(holder)
            grid.setContentsMargins(0, 0, 0, 0)
            for i, choice in enumerate(spec.choices):
                cb = QCheckBox(choice)
                cb.setObjectName(f"{name}:{choice}")
                cb.setChecked(choice in (value or []))
                grid.addWidget(cb, i // 4, i % 4)
            return holder
        edit = QLineEdit(spec.shown(value))
        edit.setPlaceholderText(spec.help)
        return edit

    def read(self) -> list[str]:
        """Copy the widgets into the answers; messages for values of the wrong type."""
        bad: list[str] = []
        for name, editor in self.editors.items():
            spec = FIELDS[name]
            value: Any
            if isinstance(editor, QComboBox):
                value = editor.currentText()
            elif isinstance(editor, QLineEdit):
                value = editor.text()
            elif isinstance(editor, QCheckBox):
                value = editor.isChecked()
            else:
                value = [cb.text() for cb in editor.findChildren(QCheckBox) if cb.isChecked()]
            try:
                self.wz.answers.set(name, value)
            except ValueError:
                bad.append(f"{spec.label}: {value!r} is not a valid {spec.kind}")
        return bad

    def show_findings(self, findings: list[Finding]) -> None:
        self.findings_label.setText(findings_html(findings))


_HANG_AFTER = re.compile(r"\[[^\]]*\] |NOTE: |[-+ ]?\s*")
_MAX_HANG = 30


def hanging_indent(line: str) -> int:
    """Columns a wrapped review line continues at: under the path of `[file create] path`,
    after `NOTE: `, or two past a diff line's own indentation, so wraps never look like new lines.
    """
    m = _HANG_AFTER.match(line)
    hang = m.end() if m is not None else 0
    if not line.startswith(("[", "NOTE: ")):
        hang += 2
    return min(hang, _MAX_HANG)


class PlanView(QTextEdit):
    """The plan as read-only monospace text that wraps (also inside long paths) with a hanging
    indent, so diffs and paths read without horizontal scrolling; copying gives the plain lines."""

    MIN_COLUMNS = 60

    def __init__(self) -> None:
        super().__init__()
        self.setReadOnly(True)
        self.setAcceptRichText(False)
        self.setLineWrapMode(QTextEdit.LineWrapMode.WidgetWidth)
        self.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        self.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self._column = QFontMetricsF(self.font()).horizontalAdvance(" ")
        self.setMinimumWidth(int(self.MIN_COLUMNS * self._column) + 24)

    def set_plan_text(self, text: str) -> None:
        """Show `text`, one block per line, each with its own hanging indent."""
        self.clear()
        cursor = QTextCursor(self.document())
        cursor.beginEditBlock()
        for i, line in enumerate(text.rstrip("\n").split("\n")):
            fmt = QTextBlockFormat()
            indent = hanging_indent(line) * self._column
            fmt.setLeftMargin(indent)
            fmt.setTextIndent(-indent)
            if i == 0:
                cursor.setBlockFormat(fmt)
            else:
                cursor.insertBlock(fmt)
            cursor.insertText(line)
        cursor.endEditBlock()
        self.moveCursor(QTextCursor.MoveOperation.Start)


class ReviewPage(QWidget):
    """Every change as text (diffs included); nothing is written before Apply."""

    def __init__(self) -> None:
        super().__init__()
        lay = QVBoxLayout(self)
        self.text = PlanView()
        self.text.setObjectName("plan")
        lay.addWidget(self.text)
        self.errors = QLabel()
        self.errors.setObjectName("reviewFindings")
        self.errors.setWordWrap(True)
        lay.addWidget(self.errors)

    def title(self) -> str:
        return STEPS["review"].title

    def show_review(self, findings: list[Finding], plan_text: str | None) -> None:
        self.errors.setText(findings_html(findings) if findings else "")
        if plan_text is None:
            self.text.clear()
        else:
            self.text.set_plan_text(plan_text)


class ApplyPage(QWidget):
    """What apply did (its progress lines), the self-test, then the summary."""

    def __init__(self) -> None:
        super().__init__()
        lay = QVBoxLayout(self)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setObjectName("applyLog")
        lay.addWidget(self.log, 2)
        self.selftest_button = QPushButton("Run self-test")
        self.selftest_button.setEnabled(False)
        lay.addWidget(self.selftest_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.summary = QLabel()
        self.summary.setObjectName("summary")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.summary, 1)
        self.ok = False

    def title(self) -> str:
        return STEPS["apply"].title


class ProviderWizard(QDialog):
    """The whole wizard: the state machine's current step as a page, Back/Next/Cancel below.

    Attributes: `step_pages` (the four input pages), `review_page`, `apply_page`, `busy_bar`,
    `status` (what runs in the background), `back_button`, `next_button`, `cancel_button`.
    """

    def __init__(self, wz: SetupWizard, *, skip_self_test: bool = False) -> None:
        super().__init__()
        self.wz = wz
        self.skip_self_test = skip_self_test
        self.setWindowTitle("Erigolem provider setup")
        outer = QVBoxLayout(self)
        self.heading = QLabel()
        self.heading.setObjectName("heading")
        font = self.heading.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        self.heading.setFont(font)
        self.intro = QLabel()
        self.intro.setObjectName("intro")
        self.intro.setWordWrap(True)
        outer.addWidget(self.heading)
        outer.addWidget(self.intro)
        self.stack = QStackedWidget()
        outer.addWidget(self.stack, 1)
        self.step_pages = [StepPage(wz, sid) for sid in INPUT_STEPS]
        self.review_page = ReviewPage()
        self.apply_page = ApplyPage()
        self.apply_page.selftest_button.clicked.connect(self.start_self_test)
        self._pages: dict[StepId, QWidget] = dict(zip(INPUT_STEPS, self.step_pages, strict=True))
        self._pages.update(review=self.review_page, apply=self.apply_page, summary=self.apply_page)
        for page in (*self.step_pages, self.review_page, self.apply_page):
            self.stack.addWidget(page)
        status_row = QHBoxLayout()
        self.busy_bar = QProgressBar()
        self.busy_bar.setObjectName("busy")
        self.busy_bar.setRange(0, 0)  # indeterminate: probes and commands give no percentage
        self.busy_bar.setMaximumWidth(120)
        self.busy_bar.setTextVisible(False)
        self.status = QLabel()
        self.status.setObjectName("status")
        status_row.addWidget(self.busy_bar)
        status_row.addWidget(self.status, 1)
        outer.addLayout(status_row)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.back_button = QPushButton("< Back")
        self.next_button = QPushButton("Next >")
        self.next_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel")
        for b in (self.back_button, self.next_button, self.cancel_button):
            buttons.addWidget(b)
        outer.addLayout(buttons)
        self.back_button.clicked.connect(self.back)
        self.next_button.clicked.connect(self.next)
        self.cancel_button.clicked.connect(self.close)
        self._op: BackgroundOp[Any] | None = None
        self._op_unsafe_to_leave = False  # apply / self-test: closing waits for them
        self._cancel = threading.Event()
        self._close_when_idle = False
        self.resize(820, 620)
        self._enter()

    # state -------------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """Whether a background operation is running (the buttons wait for it)."""
        return self._op is not None

    def currentPage(self) -> QWidget:
        """The page of the state machine's current step."""
        return self._pages[self.wz.current]

    # navigation: the state machine decides, the dialog shows ---------------------------------
    def next(self) -> None:
        """Validate the current step in the background and move on when it has no errors."""
        if self.busy:
            return
        current = self.wz.current
        if current == "summary" or (current == "apply" and self.apply_page.ok):
            self.accept()
            return
        page = self.currentPage()
        if isinstance(page, StepPage):
            bad = page.read()
            if bad:
                page.show_findings([Finding("error", "input", b) for b in bad])
                return

        def shown(findings: list[Finding]) -> None:
            if self.wz.current == current:  # refused: the step's findings say why
                self._show_findings(current, findings)
            else:
                self._enter()

        what = "Checking the plan and the runtime config" if current == "review" else "Checking"
        self._start(
            BackgroundOp(lambda _say: self.wz.try_next(), label=f"validate {current}"), f"{what}…"
        ).success(shown)

    def back(self) -> None:
        """One step back in the state machine's history."""
        if self.busy:
            return
        self.wz.back()
        self._enter()

    def _show_findings(self, step: StepId, findings: list[Finding]) -> None:
        page = self._pages[step]
        if isinstance(page, StepPage):
            page.show_findings(findings)
        elif page is self.review_page:
            self.review_page.errors.setText(findings_html(findings))

    def _enter(self) -> None:
        """Show the current step's page and start what it runs on entry."""
        step = self.wz.current
        page = self._pages[step]
        self.stack.setCurrentWidget(page)
        self.heading.setText(STEPS[step].title)
        self.intro.setText(STEPS[step].intro)
        if step == "prereqs":
            self._start(
                BackgroundOp(lambda _say: self.wz.findings("prereqs"), label="probes"),
                "Looking for the programs (running their --version)…",
            ).success(self.step_pages[0].show_findings)
        elif isinstance(page, StepPage):
            page.findings_label.setText("")
        elif step == "review":
            self._start(
                BackgroundOp(lambda _say: self._review(), label="review"),
                "Building the plan and testing the runtime config…",
            ).success(lambda r: self.review_page.show_review(*r))
        elif step == "apply":
            self._apply()
        self._buttons()

    def _review(self) -> tuple[list[Finding], str | None]:
        """(worker) The review's findings and, unless they have errors, the plan as text."""
        findings = self.wz.findings("review")
        if any(f.level == "error" for f in findings):
            return findings, None
        return findings, self.wz.plan().render()

    # apply and self-test ---------------------------------------------------------------------
    def _apply(self) -> None:
        page = self.apply_page
        page.log.clear()
        page.summary.setText("")
        self._cancel.clear()

        def work(say: Say) -> ApplyResult:
            def step(line: str) -> None:
                if self._cancel.is_set():
                    raise PlanError("cancelled by you")
                say(line)

            step("Applying the plan…")
            return self.wz.apply(progress=step)

        self._start(BackgroundOp(work, label="apply"), "Applying…", unsafe=True).progress(
            page.log.appendPlainText
        ).success(self._applied).failure(self._apply_failed)

    def _applied(self, result: ApplyResult) -> None:
        page = self.apply_page
        for w in result.warnings:
            page.log.appendPlainText(f"warning: {w}")
        page.log.appendPlainText(
            "Setup unchanged: everything was already in place."
            if result.unchanged
            else "Setup applied."
        )
        page.ok = True
        self.wz.next()  # apply -> summary (no checks of its own)
        self._buttons()
        if self.skip_self_test or self._close_when_idle:
            page.summary.setText("<br>".join(html.escape(line) for line in self.wz.summary()))
            page.selftest_button.setEnabled(True)
        else:
            page.summary.setText("Self-test running: the next steps follow when it passes.")
            self.start_self_test()

    def _apply_failed(self, message: str) -> None:
        page = self.apply_page
        page.log.appendPlainText(f"error: {message}")
        page.summary.setText(
            "<b style='color:#c62828'>Nothing was changed.</b> Go back to fix it, or close."
        )

    def start_self_test(self) -> None:
        """Run the self-test (a dev-chain node through the public URL) in the background."""
        from erigolem_provider.selftest import run_and_report

        if self.busy:
            return
        page = self.apply_page
        page.selftest_button.setEnabled(False)
        layout = self.wz.layout
        anvil = self.wz.anvil_bin()
        self._start(
            BackgroundOp(
                lambda say: run_and_report(layout, anvil_bin=anvil, say=say).ok, label="self-test"
            ),
            "Self-test: starting a dev-chain node…",
            unsafe=True,
        ).progress(page.log.appendPlainText).success(self._self_test_done).failure(
            self._self_test_crashed
        )

    def _self_test_crashed(self, message: str) -> None:
        self.apply_page.log.appendPlainText(f"error: {message}")
        self._self_test_done(False)

    def _self_test_done(self, ok: bool) -> None:
        from erigolem_provider.selftest import FAILED_AFTER_SETUP

        page = self.apply_page
        if ok:
            page.summary.setText("<br>".join(html.escape(line) for line in self.wz.summary()))
        else:
            page.summary.setText(
                f"<b style='color:#c62828'>Self-test failed.</b> {html.escape(FAILED_AFTER_SETUP)}"
            )
        page.selftest_button.setEnabled(True)

    # background operations --------------------------------------------------------------------
    def _start(self, op: BackgroundOp[T], status: str, *, unsafe: bool = False) -> BackgroundOp[T]:
        """Run `op` with the busy bar and `status` shown; the buttons wait until it ends."""
        self._op = op
        self._op_unsafe_to_leave = unsafe
        self.status.setText(status)
        op.finally_(self._idle).failure(self._failed)
        self._buttons()
        # started here, chained on by the caller: results arrive by queued signal, so only
        # after the caller's `.success()`/`.failure()` are in place
        op.run()
        return op

    def _failed(self, message: str) -> None:
        """Errors of operations without their own failure path: shown in the status line."""
        self.status.setText(f"<span style='color:#c62828'>{html.escape(message)}</span>")

    def _idle(self) -> None:
        self._op = None
        self._op_unsafe_to_leave = False
        self.status.setText("")
        self._buttons()
        if self._close_when_idle:
            self.close()

    def _buttons(self) -> None:
        busy = self.busy
        step = self.wz.current
        self.busy_bar.setVisible(busy)
        for page in self.step_pages:
            page.setEnabled(not busy)
        done = self.apply_page.ok
        self.back_button.setEnabled(not busy and bool(self.wz.history) and not done)
        self.next_button.setEnabled(not busy and not (step == "apply" and not done))
        self.next_button.setText("Finish" if done else "Apply" if step == "review" else "Next >")
        self.cancel_button.setText("Close" if done else "Cancel")
        self.cancel_button.setEnabled(not self._close_when_idle)

    # closing -----------------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:
        """Close at once unless apply or the self-test runs: then cancel it and close after."""
        op = self._op
        if op is not None and self._op_unsafe_to_leave:
            event.ignore()
            self._close_when_idle = True
            self._cancel.set()
            self.status.setText(
                "Cancelling: apply stops at its next step and rolls back what it wrote; "
                "the window closes when that is done…"
                if op.label == "apply"
                else "Closing when the self-test has stopped its node…"
            )
            self._buttons()
            return
        if op is not None:
            op.abandon()  # a probe: its answer is no longer wanted
            self._op = None
        event.accept()

    def reject(self) -> None:
        """Escape goes through closeEvent (same rules as the window's close box)."""
        self.close()


def run_gui(wz: SetupWizard, *, skip_self_test: bool = False) -> int:
    """Show the wizard; exit code 0 when setup was applied."""
    app = QApplication.instance() or QApplication([])
    dialog = ProviderWizard(wz, skip_self_test=skip_self_test)
    dialog.show()
    app.exec()
    return 0 if dialog.apply_page.ok else 2
