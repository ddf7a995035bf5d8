"""Qt front end: a QWizard whose pages are the state machine's steps (thin views, no logic).

Imported only for ``setup --gui``; needs PySide6 (the ``gui`` extra).
"""

from __future__ import annotations

import html
import re
import threading
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import (
    QFont,
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
    QFormLayout,
    QGridLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTextEdit,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from erigolem_provider.answers import FIELDS
from erigolem_provider.plan import PlanError
from erigolem_provider.prereqs import Finding
from erigolem_provider.wizard import STEPS, SetupWizard, StepInvalid

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


class StepPage(QWizardPage):
    """One input step: a form built from the step's fields and the step's findings below it."""

    def __init__(self, wz: SetupWizard, step_id: str) -> None:
        super().__init__()
        self.wz = wz
        self.step_id = step_id
        step = STEPS[step_id]
        self.setTitle(step.title)
        self.setSubTitle(step.intro)
        outer = QVBoxLayout(self)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.editors: dict[str, QWidget] = {}
        for name in step.fields:
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

    def initializePage(self) -> None:
        if self.step_id == "prereqs":
            self.show_findings(self.wz.findings(self.step_id))
        else:
            self.findings_label.setText("")

    def validatePage(self) -> bool:
        bad = self.read()
        if bad:
            self.show_findings([Finding("error", "input", b) for b in bad])
            return False
        self.wz.current = self.step_id
        try:
            self.wz.next()
        except StepInvalid:
            self.show_findings(self.wz.findings(self.step_id))
            return False
        return True

    def cleanupPage(self) -> None:
        """Back from this page: the state machine steps back too."""
        self.wz.current = self.step_id
        self.wz.back()


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


class ReviewPage(QWizardPage):
    """Every change as text (diffs included); nothing is written before Apply."""

    def __init__(self, wz: SetupWizard) -> None:
        super().__init__()
        self.wz = wz
        self.setTitle(STEPS["review"].title)
        self.setSubTitle(STEPS["review"].intro)
        self.setButtonText(QWizard.WizardButton.NextButton, "Apply")
        lay = QVBoxLayout(self)
        self.text = PlanView()
        self.text.setObjectName("plan")
        lay.addWidget(self.text)
        self.errors = QLabel()
        self.errors.setWordWrap(True)
        lay.addWidget(self.errors)

    def initializePage(self) -> None:
        self.wz.current = "review"
        problems = self.wz.findings("review")
        self.errors.setText(findings_html(problems) if problems else "")
        if not problems:
            self.text.set_plan_text(self.wz.plan().render())

    def validatePage(self) -> bool:
        self.wz.current = "review"
        try:
            self.wz.next()
        except StepInvalid as exc:
            self.errors.setText(findings_html(exc.findings))
            return False
        return True


class _Bridge(QObject):
    """Carries self-test lines from the worker thread to the GUI thread."""

    line = Signal(str)
    done = Signal(bool)


class ApplyPage(QWizardPage):
    """Applies the plan, then runs the self-test in the background; shows the summary."""

    def __init__(self, wz: SetupWizard, *, skip_self_test: bool) -> None:
        super().__init__()
        self.wz = wz
        self.skip_self_test = skip_self_test
        self.setTitle(STEPS["apply"].title)
        self.setSubTitle(STEPS["apply"].intro)
        lay = QVBoxLayout(self)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setObjectName("applyLog")
        lay.addWidget(self.log, 2)
        self.selftest_button = QPushButton("Run self-test")
        self.selftest_button.setEnabled(False)
        self.selftest_button.clicked.connect(self.start_self_test)
        lay.addWidget(self.selftest_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.summary = QLabel()
        self.summary.setObjectName("summary")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.summary, 1)
        self.bridge = _Bridge()
        self.bridge.line.connect(self.log.appendPlainText)
        self.bridge.done.connect(self._self_test_done)
        self.ok = False
        self.busy = False

    def initializePage(self) -> None:
        self.log.clear()
        try:
            result = self.wz.apply(progress=self.log.appendPlainText)
        except PlanError as exc:
            self.log.appendPlainText(f"error: {exc}")
            self.summary.setText("<b style='color:#c62828'>Nothing was changed.</b>")
            return
        for w in result.warnings:
            self.log.appendPlainText(f"warning: {w}")
        self.log.appendPlainText(
            "Setup unchanged: everything was already in place."
            if result.unchanged
            else "Setup applied."
        )
        self.ok = True
        if self.skip_self_test:
            self.summary.setText("<br>".join(html.escape(line) for line in self.wz.summary()))
            self.selftest_button.setEnabled(True)
        else:
            self.summary.setText("Self-test running: the next steps follow when it passes.")
            self.start_self_test()

    def start_self_test(self) -> None:
        from erigolem_provider.selftest import run_and_report

        self.busy = True
        self.selftest_button.setEnabled(False)
        self.completeChanged.emit()
        layout = self.wz.layout
        anvil = self.wz.anvil_bin()
        bridge = self.bridge

        def work() -> None:
            res = run_and_report(layout, anvil_bin=anvil, say=bridge.line.emit)
            bridge.done.emit(res.ok)

        threading.Thread(target=work, name="self-test", daemon=True).start()

    def _self_test_done(self, ok: bool) -> None:
        from erigolem_provider.selftest import FAILED_AFTER_SETUP

        self.busy = False
        if ok:
            self.summary.setText("<br>".join(html.escape(line) for line in self.wz.summary()))
        else:
            self.summary.setText(
                f"<b style='color:#c62828'>Self-test failed.</b> {html.escape(FAILED_AFTER_SETUP)}"
            )
        self.selftest_button.setEnabled(True)
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return not self.busy


class ProviderWizard(QWizard):
    """The whole wizard: four input pages, review, apply + self-test + summary."""

    def __init__(self, wz: SetupWizard, *, skip_self_test: bool = False) -> None:
        super().__init__()
        self.wz = wz
        self.setWindowTitle("Erigolem provider setup")
        self.setWizardStyle(QWizard.WizardStyle.ModernStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnLastPage, True)
        self.step_pages = [StepPage(wz, sid) for sid in ("prereqs", "runtime", "nginx", "pricing")]
        for page in self.step_pages:
            self.addPage(page)
        self.review_page = ReviewPage(wz)
        self.addPage(self.review_page)
        self.apply_page = ApplyPage(wz, skip_self_test=skip_self_test)
        self.addPage(self.apply_page)
        self.resize(820, 620)
        font = QFont(self.font())
        self.setFont(font)


def run_gui(wz: SetupWizard, *, skip_self_test: bool = False) -> int:
    """Show the wizard; exit code 0 when setup was applied."""
    app = QApplication.instance() or QApplication([])
    dialog = ProviderWizard(wz, skip_self_test=skip_self_test)
    dialog.show()
    app.exec()
    return 0 if dialog.apply_page.ok else 2
