"""Showing JSON results: a syntax highlighter, chunked insertion of big texts, a lazy fold tree.

Big results (megabytes) never stall the loop: pretty-printing runs in loop-turn slices
(console.py), the text goes into the editor in slices with a loop turn between them, highlighting
is off above HIGHLIGHT_LIMIT, and the tree view creates children only when a node is expanded.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from erigolem_desktop.ui.qt import (
    QColor,
    QFont,
    QPlainTextEdit,
    QRegularExpression,
    QSyntaxHighlighter,
    Qt,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTreeWidget,
    QTreeWidgetItem,
)

HIGHLIGHT_LIMIT = 512 * 1024  # characters; above this the text is shown plain
CHUNK_CHARS = 8 * 1024  # characters per insertion; several go in per loop turn
INLINE_CHARS = 32 * 1024  # texts up to this size are set in one go
SLICE_BUDGET = 0.002  # seconds of insertion per loop turn (an eighth of a 16 ms frame)
TREE_PAGE = 500  # children created per expansion


def _fmt(colour: str, *, bold: bool = False) -> QTextCharFormat:
    fmt = QTextCharFormat()
    fmt.setForeground(QColor(colour))
    if bold:
        fmt.setFontWeight(QFont.Weight.DemiBold)
    return fmt


class JsonHighlighter(QSyntaxHighlighter):
    """Colours JSON: keys, strings, numbers, hex quantities, true/false/null."""

    RULES: tuple[tuple[str, QTextCharFormat], ...] = ()

    def __init__(self, document: QTextDocument) -> None:
        super().__init__(document)
        self._rules = [
            (QRegularExpression(r"-?\b\d+(\.\d+)?([eE][+-]?\d+)?\b"), _fmt("#b5651d")),
            (QRegularExpression(r"\b(true|false|null)\b"), _fmt("#8e44ad", bold=True)),
            (QRegularExpression(r'"(\\.|[^"\\])*"'), _fmt("#2e8b57")),
            (QRegularExpression(r'"0x[0-9a-fA-F]*"'), _fmt("#1f77b4")),
            (QRegularExpression(r'"(\\.|[^"\\])*"(?=\s*:)'), _fmt("#a0306e", bold=True)),
        ]

    def highlightBlock(self, text: str) -> None:
        for pattern, fmt in self._rules:
            it = pattern.globalMatch(text)
            while it.hasNext():
                match = it.next()
                self.setFormat(match.capturedStart(), match.capturedLength(), fmt)


class ResultView(QPlainTextEdit):
    """A read-only editor for results: highlighted when small, filled in slices when big."""

    def __init__(self) -> None:
        super().__init__()
        self.setReadOnly(True)
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.setTabChangesFocus(True)
        self.setUndoRedoEnabled(False)
        self.highlighter = JsonHighlighter(self.document())
        self.highlighter.setParent(self)  # outlives any document shown
        self._generation = 0

    async def show_text(self, text: str) -> bool:
        """Show `text`; returns False when a newer call replaced it before it was complete.

        Big texts go in by chunks, as many per loop turn as fit in SLICE_BUDGET (a fixed
        32 KB slice took up to 6 ms on a busy machine), without highlighting above
        HIGHLIGHT_LIMIT and without repainting until the last chunk is in.
        """
        self._generation += 1
        generation = self._generation
        big = len(text) > HIGHLIGHT_LIMIT
        self.highlighter.setDocument(None if big else self.document())
        if len(text) <= INLINE_CHARS:
            self.setPlainText(text)
            return True
        self.clear()
        self.viewport().setUpdatesEnabled(False)
        try:
            cursor = QTextCursor(self.document())
            start = 0
            budget_end = time.perf_counter() + SLICE_BUDGET
            while start < len(text):
                end = min(len(text), start + CHUNK_CHARS)
                if end < len(text):  # cut at a line end so blocks are never split mid-line
                    newline = text.rfind("\n", start, end)
                    if newline > start:
                        end = newline + 1
                cursor.movePosition(QTextCursor.MoveOperation.End)
                cursor.insertText(text[start:end])
                start = end
                if time.perf_counter() < budget_end:
                    continue
                await asyncio.sleep(0)
                if generation != self._generation:
                    return False
                budget_end = time.perf_counter() + SLICE_BUDGET
        finally:
            self.viewport().setUpdatesEnabled(True)
        self.moveCursor(QTextCursor.MoveOperation.Start)
        return True

    def show_plain(self, text: str) -> None:
        """Replace the content at once (messages, small results)."""
        self._generation += 1
        self.highlighter.setDocument(self.document())
        self.setPlainText(text)


def _summary(value: Any) -> str:
    if isinstance(value, dict):
        return f"{{…}} {len(value)} keys"
    if isinstance(value, list):
        return f"[…] {len(value)} items"
    return json.dumps(value)


class JsonTree(QTreeWidget):
    """A foldable tree of a JSON value; children are created on first expansion, by pages."""

    _VALUE = Qt.ItemDataRole.UserRole
    _FILLED = Qt.ItemDataRole.UserRole + 1

    def __init__(self) -> None:
        super().__init__()
        self.setHeaderLabels(["Key", "Value"])
        self.setColumnWidth(0, 220)
        self.setUniformRowHeights(True)
        self.itemExpanded.connect(self._fill)
        self._values: dict[int, Any] = {}  # Python-side: converting to QVariant would deep-copy

    def set_value(self, value: Any, label: str = "result") -> None:
        """Show `value` under one root item named `label` ("error" for an error object)."""
        self.clear()
        self._values.clear()
        root = QTreeWidgetItem([label, _summary(value)])
        self._attach(root, value)
        self.addTopLevelItem(root)
        root.setExpanded(True)

    def _attach(self, item: QTreeWidgetItem, value: Any) -> None:
        key = len(self._values)
        self._values[key] = value
        item.setData(0, self._VALUE, key)
        if isinstance(value, dict | list) and value:
            item.setChildIndicatorPolicy(QTreeWidgetItem.ChildIndicatorPolicy.ShowIndicator)

    def _fill(self, item: QTreeWidgetItem) -> None:
        if item.data(0, self._FILLED):
            return
        item.setData(0, self._FILLED, True)
        value = self._values.get(item.data(0, self._VALUE))
        pairs: list[tuple[str, Any]]
        if isinstance(value, dict):
            pairs = [(str(k), v) for k, v in list(value.items())[:TREE_PAGE]]
            total = len(value)
        elif isinstance(value, list):
            pairs = [(f"[{i}]", v) for i, v in enumerate(value[:TREE_PAGE])]
            total = len(value)
        else:
            return
        children = []
        for key, child_value in pairs:
            child = QTreeWidgetItem([key, _summary(child_value)])
            self._attach(child, child_value)
            children.append(child)
        if total > TREE_PAGE:
            children.append(
                QTreeWidgetItem(["…", f"{total - TREE_PAGE} more (see the Pretty tab)"])
            )
        item.addChildren(children)
