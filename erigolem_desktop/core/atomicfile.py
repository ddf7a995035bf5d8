"""Crash-safe small-file writes for the app: the runtime's one implementation, under its old name.

Kept as a name only (`atomic_write_text`), so existing imports keep working; the logic lives in
`erigolem_runtime.fsutil`.
"""

from __future__ import annotations

from erigolem_runtime.fsutil import atomic_write as atomic_write_text

__all__ = ["atomic_write_text"]
