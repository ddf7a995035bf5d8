"""Runtime errors with a kind and context that survive the wire (like ya-runtime-sdk's Error).

A `ServiceError` is what the runtime reports when `start` or a `run` command fails: a message
for people (what happened, what to do), a machine-readable `ErrorKind`, and string `context`
(e.g. the client, the config key to set, the client's last log lines). Supervisors switch on
`kind`, never on the English message.

On the wire:
- a failed `start` answers hello with `Response.Error{message, context}` where `context` holds
  ``kind`` plus the error's own context, and writes the same to the start command's stderr;
- stderr text (start fallback, a failed `run`) ends with one trailer line
  ``erigolem-error: {"kind": ..., "context": {...}}`` after the message (`wire_text`), which
  `ServiceError.from_text` reads back. Text without a trailer is an error of kind FAILED.

Extending: add a member to `ErrorKind` (readers treat an unknown kind as FAILED, so an older
desktop still works against a newer runtime), raise it with `ServiceError(msg, kind=...)` or a
subclass setting `default_kind`, and switch on it where the desktop maps errors to advice.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import StrEnum
from typing import ClassVar

WIRE_TAG = "erigolem-error:"
KIND_KEY = "kind"


class ErrorKind(StrEnum):
    """What kind of failure a ServiceError is (stable strings: they travel the wire)."""

    FAILED = "failed"  # nothing more specific is known (also: text from an older runtime)
    BAD_ARGUMENT = "bad_argument"  # the start argument or run arguments are malformed
    UNKNOWN_CLIENT = "unknown_client"  # no profile for that client
    UNKNOWN_CHAIN = "unknown_chain"  # the client cannot serve that chain (or none was given)
    CHAIN_NOT_OFFERED = "chain_not_offered"  # the client could, but this provider does not offer it
    MISSING_BINARY = "missing_binary"  # the client's executable is not configured/found/runnable
    CONFIG = "config"  # the runtime config is missing or invalid
    NGINX = "nginx"  # nginx rejected the change or could not be (re)started
    CAPACITY = "capacity"  # instance slots or ports are used up
    DATADIR = "datadir"  # a datadir is missing, busy or cannot be created
    CLIENT_NOT_READY = "client_not_ready"  # the client started but never answered JSON-RPC
    ALREADY_STARTED = "already_started"  # this runtime already runs an instance
    NOT_RUNNING = "not_running"  # a run command needs an instance and none runs
    INTERNAL = "internal"  # a bug: an unexpected exception inside the runtime

    @classmethod
    def parse(cls, value: object) -> ErrorKind:
        """The kind named by `value`; FAILED for anything unknown (a newer runtime's kind)."""
        try:
            return cls(str(value))
        except ValueError:
            return cls.FAILED


class ServiceError(Exception):
    """A failure to report to the supervisor (start or run): the message says what to do.

    Args:
        message: for people; says what happened and what to do.
        kind: for programs; defaults to the class's `default_kind`.
        context: extra facts as strings (e.g. ``client``, ``config_key``, ``log_tail``).
    """

    default_kind: ClassVar[ErrorKind] = ErrorKind.FAILED

    def __init__(
        self,
        message: str,
        *,
        kind: ErrorKind | None = None,
        context: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind if kind is not None else self.default_kind
        self.context: dict[str, str] = {str(k): str(v) for k, v in (context or {}).items()}

    def wire_context(self) -> dict[str, str]:
        """The `Response.Error.context` map: ``kind`` plus the error's own context."""
        return {**self.context, KIND_KEY: self.kind.value}

    def wire_text(self) -> str:
        """Message, then the trailer line carrying kind and context (for stderr)."""
        trailer = json.dumps(
            {"kind": self.kind.value, "context": self.context}, sort_keys=True, ensure_ascii=True
        )
        return f"{self.message.rstrip()}\n{WIRE_TAG} {trailer}\n"

    @classmethod
    def from_wire(cls, message: str, context: Mapping[str, str]) -> ServiceError:
        """Rebuild from a `Response.Error` (message + context map)."""
        ctx = {k: v for k, v in context.items() if k != KIND_KEY}
        return cls(message, kind=ErrorKind.parse(context.get(KIND_KEY)), context=ctx)

    @classmethod
    def from_text(cls, text: str) -> ServiceError:
        """Rebuild from stderr text; without a trailer line the kind is FAILED."""
        lines = text.rstrip("\n").split("\n")
        for i in range(len(lines) - 1, -1, -1):
            line = lines[i].strip()
            if not line.startswith(WIRE_TAG):
                continue
            try:
                data = json.loads(line[len(WIRE_TAG) :])
            except ValueError:
                break
            if not isinstance(data, dict):
                break
            raw = data.get("context")
            ctx = {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
            message = "\n".join(lines[:i] + lines[i + 1 :]).strip()
            return cls(message, kind=ErrorKind.parse(data.get("kind")), context=ctx)
        return cls(text.strip())

    def __repr__(self) -> str:
        return f"ServiceError({self.message!r}, kind={self.kind.value!r})"
