"""Parsing what the runtime prints (start output, `run` JSON): one check both supervisors share."""

from __future__ import annotations

import json
from typing import Any

from erigolem_runtime.logsetup import redact


class OutputError(ValueError):
    """The runtime's stdout is not the JSON object promised; the message says which part."""


def parse_output(text: str | None, what: str, *, node: bool = False) -> dict[str, Any]:
    """One JSON object printed by the runtime (start output, `run status`, any `run` JSON).

    With `node`, also require the node fields clients rely on: `url` and `auth.user/password`.
    Both supervisors (RuntimeClient, the Golem service) parse through here so they agree on
    what a valid answer is; each wraps OutputError in its own error type. Turn the dict into a
    typed `NodeStatus` with `NodeStatus.from_json`.
    """
    if not text or not text.strip():
        raise OutputError(f"the runtime printed nothing for {what}")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise OutputError(
            f"the runtime's {what} is not JSON ({exc}): {redact(text[:200])!r}"
        ) from exc
    if not isinstance(data, dict):
        raise OutputError(f"the runtime's {what} is not a JSON object: {redact(text[:200])!r}")
    if node:
        auth = data.get("auth")
        if not isinstance(data.get("url"), str) or not isinstance(auth, dict):
            raise OutputError(f"the runtime's {what} has no url/auth")
        if not isinstance(auth.get("user"), str) or not isinstance(auth.get("password"), str):
            raise OutputError(f"the runtime's {what} has no user/password")
    return data
