"""Logging of the runtime: a file under `<workdir>/logs/`, with passwords masked on the way out.

In service mode stdout belongs to the Runtime API frames and stderr goes to /dev/null under
ya-provider, so the log file is the only place a provider can read what happened.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

LOG_DIR_NAME = "logs"
LOG_FILE_NAME = "erigolem-runtime.log"

_SECRET = re.compile(
    r"""(?P<key>["']?(?:password|passwd|secret|token|authorization)["']?\s*[:=]\s*(?:basic\s+)?["']?)"""
    r"""(?P<value>[^"'\s,}]+)""",
    re.IGNORECASE,
)
_URL_CREDENTIALS = re.compile(r"(?P<scheme>\w+://)(?P<user>[^:/@\s]+):(?P<password>[^@/\s]+)@")


def redact(text: str) -> str:
    """Mask values that look like passwords/tokens (`"password": "..."`, `user:pw@host`)."""
    text = _SECRET.sub(lambda m: m.group("key") + "***", text)
    return _URL_CREDENTIALS.sub(lambda m: f"{m.group('scheme')}{m.group('user')}:***@", text)


class RedactingFilter(logging.Filter):
    """Rewrites every record's message through `redact` (defence in depth for all modules)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True


def log_path(workdir: Path) -> Path:
    return workdir / LOG_DIR_NAME / LOG_FILE_NAME


def setup_logging(workdir: Path | None, *, level: int = logging.INFO) -> Path | None:
    """Send the root logger to `<workdir>/logs/erigolem-runtime.log` (stderr without a workdir).

    Returns the log file path, or None when logging to stderr.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    path: Path | None = None
    new: logging.Handler
    if workdir is not None:
        path = log_path(workdir)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.close(fd)
        new = logging.FileHandler(path, encoding="utf-8")
    else:
        new = logging.StreamHandler()
    new.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s")
    )
    new.addFilter(RedactingFilter())
    root.addHandler(new)
    root.setLevel(level)
    return path
