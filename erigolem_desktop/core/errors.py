"""The app's user-facing error shape: `message` says what happened, `hint` what to do about it."""

from __future__ import annotations

from typing import ClassVar


class HintedError(Exception):
    """A failure a user can act on. `exc.args[0]` is always the bare message.

    `str(exc)` is the message alone, or "message hint" for classes that set `hint_in_str`
    (those whose text is shown or logged as one line). The CLI and the window read `.hint`.
    """

    hint_in_str: ClassVar[bool] = False

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        base = super().__str__()
        return f"{base} {self.hint}".strip() if self.hint_in_str and self.hint else base
