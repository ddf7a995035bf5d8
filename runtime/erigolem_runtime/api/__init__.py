"""The runtime's API: the only part of `erigolem_runtime` the desktop and provider tools import.

(The runtime's CLI entry point, `erigolem_runtime.cli.run_cli`, aside: the frozen app bundle
runs it as the runtime executable.) Submodules, each the one place for its job:

- `service`: the Service seam `server.py` calls, `RunOutcome`, counter and runtime names;
- `status`: the typed `NodeStatus` (start output / `run status`) and `RuntimeState`;
- `errors`: `ServiceError` with an `ErrorKind` and context that survive the wire;
- `output`: parsing what the runtime prints (`parse_output`);
- `paths`: the config file location and the nginx include-dir layout;
- `process`: /proc parsing, start-time tokens, process-group signalling;
- `files`: crash-safe file writes (`atomic_write`);
- `client`: `RuntimeClient`, the supervisor-side client (Local backend, provider self-test).

The names below are re-exported for convenience; other issues extend these modules (new
status fields, error kinds, process readers): add them there, not in a new module.
"""

from erigolem_runtime.api.errors import ErrorKind, ServiceError
from erigolem_runtime.api.output import OutputError, parse_output
from erigolem_runtime.api.service import (
    DURATION_COUNTER,
    REQUESTS_COUNTER,
    RUNTIME_NAME,
    RunOutcome,
    Service,
)
from erigolem_runtime.api.status import (
    Auth,
    NodeStatus,
    RuntimeState,
    SyncInfo,
    SyncStage,
    UsageBucket,
    UsageStats,
)

__all__ = [
    "DURATION_COUNTER",
    "REQUESTS_COUNTER",
    "RUNTIME_NAME",
    "Auth",
    "ErrorKind",
    "NodeStatus",
    "OutputError",
    "RunOutcome",
    "RuntimeState",
    "Service",
    "ServiceError",
    "SyncInfo",
    "SyncStage",
    "UsageBucket",
    "UsageStats",
    "parse_output",
]
