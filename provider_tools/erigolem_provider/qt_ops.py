"""Typed background operations for the Qt wizard (after Anki's `QueryOp`, like the desktop's).

The desktop's `ui/ops.Op` runs on its qasync loop; the provider wizard has a plain Qt loop and
must not import the desktop, so this is the same shape: a function runs on a worker thread, its
progress lines and its result or error come back to the GUI thread through queued Qt signals,
where the `finally`, then the `success` or `failure` callbacks run (they may touch widgets; the
function must not).

Example::

    BackgroundOp(lambda say: wz.apply(progress=say), label="apply").progress(log.append)
        .success(on_applied).failure(show_error).finally_(enable_buttons).run()
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QObject, Qt, Signal

T = TypeVar("T")

log = logging.getLogger(__name__)

Say = Callable[[str], None]

#: Operations whose outcome is not delivered yet: a queued signal reaches a bound method only
#: while its object lives, and callers need not keep a reference.
_live: set[BackgroundOp[Any]] = set()


def describe_error(exc: BaseException) -> str:
    """What happened, in the exception's own words; unexpected types keep their name."""
    from erigolem_provider.plan import PlanError

    message = str(exc) or type(exc).__name__
    if isinstance(exc, PlanError | OSError | ValueError):
        return message
    return f"{message} ({type(exc).__name__}: this looks like a bug)"


class _Relay(QObject):
    """Lives on the GUI thread; the worker emits, queued connections deliver on the GUI thread.

    Signals:
        said: one progress line.
        succeeded: the function's result.
        failed: the error message.
    """

    said = Signal(str)
    succeeded = Signal(object)
    failed = Signal(str)


class BackgroundOp(Generic[T]):
    """One function run off the GUI thread with explicit success and failure paths.

    Chain `.progress()`, `.success()`, `.failure()`, `.finally_()`, then `.run()`. `abandon()`
    drops whatever the function still reports (its window went away); it does not stop it.
    """

    def __init__(self, func: Callable[[Say], T], *, label: str = "operation") -> None:
        self._func = func
        self.label = label
        self._relay = _Relay()
        self._on_progress: Say | None = None
        self._on_success: Callable[[T], None] | None = None
        self._on_failure: Callable[[str], None] | None = None
        self._on_finally: Callable[[], None] | None = None
        self._done = threading.Event()
        self._abandoned = False
        queued = Qt.ConnectionType.QueuedConnection
        self._relay.said.connect(self._said, queued)
        self._relay.succeeded.connect(self._succeeded, queued)
        self._relay.failed.connect(self._failed, queued)

    def progress(self, callback: Say) -> BackgroundOp[T]:
        self._on_progress = callback
        return self

    def success(self, callback: Callable[[T], None]) -> BackgroundOp[T]:
        self._on_success = callback
        return self

    def failure(self, callback: Callable[[str], None]) -> BackgroundOp[T]:
        self._on_failure = callback
        return self

    def finally_(self, callback: Callable[[], None]) -> BackgroundOp[T]:
        """Runs first when the operation ends, before success or failure (re-enable buttons)."""
        self._on_finally = callback
        return self

    def run(self) -> BackgroundOp[T]:
        """Start the worker thread (a daemon: an abandoned probe never holds up exit)."""
        _live.add(self)
        threading.Thread(target=self._work, name=self.label, daemon=True).start()
        return self

    @property
    def running(self) -> bool:
        return not self._done.is_set()

    def abandon(self) -> None:
        """Deliver nothing more to the callbacks (their widgets are going away)."""
        self._abandoned = True

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the function returned (tests, shutdown); False on timeout."""
        return self._done.wait(timeout)

    # worker thread -----------------------------------------------------------------------------
    def _work(self) -> None:
        try:
            result = self._func(self._relay.said.emit)
        except Exception as exc:
            log.debug("%s failed", self.label, exc_info=True)
            self._done.set()
            self._relay.failed.emit(describe_error(exc))
        else:
            self._done.set()
            self._relay.succeeded.emit(result)

    # GUI thread --------------------------------------------------------------------------------
    def _said(self, line: str) -> None:
        if not self._abandoned and self._on_progress is not None:
            self._on_progress(line)

    def _succeeded(self, result: Any) -> None:
        _live.discard(self)
        if self._abandoned:
            return
        if self._on_finally is not None:
            self._on_finally()
        if self._on_success is not None:
            self._on_success(result)

    def _failed(self, message: str) -> None:
        _live.discard(self)
        if self._abandoned:
            return
        if self._on_finally is not None:
            self._on_finally()
        if self._on_failure is not None:
            self._on_failure(message)
