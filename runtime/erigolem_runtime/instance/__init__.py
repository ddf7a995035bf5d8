"""`NodeService`: one isolated Ethereum node per runtime process (the Service behind `start`).

An instance owns: its client process (own process group, killed with the runtime by
``PR_SET_PDEATHSIG``), a port lease, a data directory (fresh, or the provider's kept datadir for
that chain), an nginx location with its own password file, and a slot among the host's
``max_instances``. ``start`` builds all of it or, on any failure, undoes what it built; ``shutdown``
tears it down in the order that closes the door first (nginx), then stops the process.
"""

from erigolem_runtime.instance.service import NodeService, reap_stale_nginx
from erigolem_runtime.instance.slots import DatadirLock, InstanceSlots

__all__ = ["DatadirLock", "InstanceSlots", "NodeService", "reap_stale_nginx"]
