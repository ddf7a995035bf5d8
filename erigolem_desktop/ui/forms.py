"""Small form pieces the wallet pages and dialogs share: column, error line, buttons, secrets.

So the unlock page, the first-run wizard's pages and the dialogs lay out and report errors the
same way without each building it again.
"""

from __future__ import annotations

from collections.abc import Sequence

from erigolem_desktop.ui import style
from erigolem_desktop.ui.qt import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
    SignalInstance,
)


def centered_column(
    host: QWidget, title: str, subtitle: str, *, max_width: int, weight: int
) -> tuple[QVBoxLayout, QLabel]:
    """Lay `host` out as one centred column under a title and subtitle; (column layout, subtitle).

    The column is 420..`max_width` px wide and takes `weight` parts of the width against one
    part of margin on each side; its layout starts with a stretch, then the two labels.
    """
    outer = QHBoxLayout(host)
    outer.addStretch(1)
    column = QWidget()
    column.setMinimumWidth(420)
    column.setMaximumWidth(max_width)
    lay = QVBoxLayout(column)
    lay.setSpacing(style.SPACING * 2)
    lay.addStretch(1)
    lay.addWidget(style.label(title, "title"))
    sub = style.label(subtitle, "subtitle", wrap=True)
    lay.addWidget(sub)
    outer.addWidget(column, weight)
    outer.addStretch(1)
    return lay, sub


def error_label() -> QLabel:
    """A word-wrapped error line, hidden until `style.set_message` gives it text.

    It keeps its (one line) place while hidden, so the form does not jump under the pointer
    when an error appears (a click aimed at a button would land elsewhere).
    """
    lab = style.label("", "error", wrap=True)
    policy = lab.sizePolicy()
    policy.setRetainSizeWhenHidden(True)
    lab.setSizePolicy(policy)
    lab.hide()
    return lab


def clear_on_edit(lab: QLabel, signal: SignalInstance) -> None:
    """Hide `lab`'s error as soon as `signal` fires (the user edits what it was about).

    A stale error next to a field that has since been fixed ("too easy to guess" beside
    "Strength: Strong") reads as a second, current problem. Progress text is left alone.
    """

    def clear(*_args: object) -> None:
        if lab.property("role") == "error":
            style.set_message(lab, "", "muted")

    signal.connect(clear)


def show_failure(lab: QLabel, message: str, hint: str) -> None:
    """Show an operation's failure (what happened, what to do) on one error line."""
    style.set_message(lab, f"{message} {hint}".strip(), "error")


def secret_edit(placeholder: str = "") -> QLineEdit:
    """A line edit that masks what is typed (passphrases, private keys, passwords)."""
    edit = QLineEdit()
    edit.setEchoMode(QLineEdit.EchoMode.Password)
    if placeholder:
        edit.setPlaceholderText(placeholder)
    return edit


def button_row(left: Sequence[QWidget] = (), right: Sequence[QWidget] = ()) -> QHBoxLayout:
    """A row of buttons: `left` ones, a stretch, then `right` ones (the primary action last)."""
    row = QHBoxLayout()
    for widget in left:
        row.addWidget(widget)
    row.addStretch(1)
    for widget in right:
        row.addWidget(widget)
    return row


def refill_combo(combo: QComboBox, items: Sequence[tuple[str, str]]) -> bool:
    """Make `combo` list `items` (data, text), keeping the current choice when it stays.

    Nothing is touched when the list is unchanged (node pickers are refilled on every table
    update). Returns True when the current data changed (the caller then follows the new pick).
    """
    existing = [(combo.itemData(i), combo.itemText(i)) for i in range(combo.count())]
    if list(items) == existing:
        return False
    current = combo.currentData()
    combo.blockSignals(True)
    combo.clear()
    for data, text in items:
        combo.addItem(text, data)
    index = combo.findData(current)
    combo.setCurrentIndex(index if index >= 0 else (0 if items else -1))
    combo.blockSignals(False)
    return bool(combo.currentData() != current)


def copy_button(tip: str) -> QToolButton:
    """An icon-only Copy button; `tip` is its tooltip and its accessible name."""
    button = QToolButton()
    button.setIcon(style.icon("copy"))
    button.setToolTip(tip)
    button.setAccessibleName(tip)
    return button
