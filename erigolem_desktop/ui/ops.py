"""Typed background operations on the one asyncio loop (after Anki's `QueryOp`).

An operation is a coroutine (network I/O, awaited on the loop) or a plain function (CPU-heavy
work such as scrypt or pretty-printing a large result, run in the default executor). Its
`success` callback gets the result on the loop; its `failure` callback gets `(message, hint)`.
Without a failure callback the error goes to the window's status area through `report_error`.

Example::

    Op.cpu(lambda: wallet.unlock(addr, pw)).success(on_ok).failure(show_inline).run()
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)

ErrorSink = Callable[[str, str], None]

_tasks: set[asyncio.Task[Any]] = set()
_default_sink: list[ErrorSink] = []


def set_default_error_sink(sink: ErrorSink | None) -> None:
    """Where errors of operations without a `failure` callback are shown (the main window)."""
    _default_sink.clear()
    if sink is not None:
        _default_sink.append(sink)


def describe_error(exc: BaseException) -> tuple[str, str]:
    """(what happened, what to do) for an exception, using the core's `hint` when it has one."""
    hint = str(getattr(exc, "hint", "") or "")
    if exc.args and isinstance(exc.args[0], str):
        message = exc.args[0]
    else:
        message = str(exc) or type(exc).__name__
    if hint and message.endswith(hint):
        message = message[: -len(hint)].strip()
    if isinstance(exc, asyncio.TimeoutError) and not hint:
        message, hint = "The operation timed out.", "Check the connection and try again."
    elif isinstance(exc, OSError) and not hint:
        hint = "Check the path, permissions and free space, then try again."
    elif not hint and not hasattr(exc, "hint"):
        # an unexpected failure: keep the type name so a bug report means something
        message = f"{message} ({type(exc).__name__})"
        hint = "This looks like a bug; the details are in the log."
    return message, hint


def report_error(message: str, hint: str = "") -> None:
    """Show an error where the user looks (the default sink), else log it."""
    if _default_sink:
        _default_sink[0](message, hint)
    else:
        log.error("%s %s", message, hint)


class Op(Generic[T]):
    """A background operation with explicit success and failure paths.

    Build one with `Op.coro(factory)` or `Op.cpu(func)`, chain `.success()`, `.failure()`,
    `.finally_()`, then `.run()`. Callbacks run on the loop's thread, so they may touch widgets.
    """

    def __init__(self, start: Callable[[], Awaitable[T]], *, label: str = "operation") -> None:
        self._start = start
        self._label = label
        self._on_success: Callable[[T], None] | None = None
        self._on_failure: ErrorSink | None = None
        self._on_finally: Callable[[], None] | None = None

    @classmethod
    def coro(cls, factory: Callable[[], Awaitable[T]], *, label: str = "operation") -> Op[T]:
        """An operation awaiting `factory()` on the running loop (network I/O)."""
        return cls(factory, label=label)

    @classmethod
    def cpu(cls, func: Callable[[], T], *, label: str = "operation") -> Op[T]:
        """An operation running `func()` in the default executor (CPU-heavy, blocking work).

        `func` must not touch any widget: it runs on another thread.
        """

        async def in_executor() -> T:
            return await asyncio.get_running_loop().run_in_executor(None, func)

        return cls(in_executor, label=label)

    def success(self, callback: Callable[[T], None]) -> Op[T]:
        self._on_success = callback
        return self

    def failure(self, callback: ErrorSink) -> Op[T]:
        self._on_failure = callback
        return self

    def finally_(self, callback: Callable[[], None]) -> Op[T]:
        """Runs first when the operation ends, before success or failure (re-enable buttons)."""
        self._on_finally = callback
        return self

    async def _run(self) -> T | None:
        try:
            result = await self._start()
        except asyncio.CancelledError:
            self._call_finally()
            raise
        except Exception as exc:
            log.debug("%s failed", self._label, exc_info=True)
            self._call_finally()
            message, hint = describe_error(exc)
            try:
                (self._on_failure or report_error)(message, hint)
            except RuntimeError:  # the widget went away meanwhile
                log.debug("failure callback of %s: widget gone", self._label)
            return None
        self._call_finally()
        if self._on_success is not None:
            try:
                self._on_success(result)
            except RuntimeError as exc:
                if "already deleted" not in str(exc):
                    raise
        return result

    def _call_finally(self) -> None:
        if self._on_finally is not None:
            try:
                self._on_finally()
            except RuntimeError:
                log.debug("finally callback of %s: widget gone", self._label)

    def run(self) -> asyncio.Task[T | None]:
        """Schedule the operation on the running loop; the task is kept alive until done."""
        task = asyncio.get_event_loop().create_task(self._run(), name=self._label)
        _tasks.add(task)
        task.add_done_callback(_tasks.discard)
        return task


def loop_alive() -> bool:
    """Whether there is a loop to run operations on (False while the app is tearing down)."""
    try:
        return not asyncio.get_event_loop().is_closed()
    except RuntimeError:
        return False


def spawn(coro: Awaitable[Any], *, label: str = "task") -> asyncio.Task[Any]:
    """Run a fire-and-forget coroutine, keeping a reference; errors go to `report_error`."""

    async def wrapper() -> Any:
        try:
            return await coro
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.debug("%s failed", label, exc_info=True)
            report_error(*describe_error(exc))
            return None

    task = asyncio.get_event_loop().create_task(wrapper(), name=label)
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    return task
