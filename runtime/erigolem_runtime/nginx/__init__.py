"""nginx in front of the instances: one basic-auth location per instance, reloaded safely.

Split along its jobs:
- `layout`: every path (include dir from `erigolem_runtime.api.paths`, htpasswd, logs, registry);
- `templates`: the config text (common maps, upstream, location, private nginx.conf);
- `htpasswd`: password hashes and file modes;
- `control`: nginx process control (commands, the private master's pid, stop, workers);
- `modes`: private vs system nginx as one strategy object (`NginxMode`);
- `front`: the config transaction (`NginxFront`: register, write, test, reload, settle, roll
  back, reap).

Private mode: the runtime runs its own nginx master in `nginx.prefix` on loopback, shared by all
runtimes that use the same prefix. Rule against orphans: the master runs exactly while at least
one live instance is registered in `<prefix>/registry/`. Every add/remove first reaps instances
whose owner process is dead; the remove that leaves no live instance stops the master. Only an
owner killed with nothing running after it leaves the master up, until the next runtime using
the prefix adds or removes an instance or calls `reap_stale()` (or `stop_private_nginx()`).
A master killed hard (SIGKILL) leaves its workers serving on the listen port: the next start of
a master, a stop, or `local-config` ends them first (`control.reap_orphan_workers`), so the port
and the node URLs stay the same.
Files below the include dir: see `erigolem_runtime.api.paths`; plus `htpasswd_dir/<id>.htpasswd`
({SSHA} or apr1 hash, 0600) and `log_dir/<id>.access.log` (one line per request served; 401s
are not logged, so strangers cannot run up a requestor's bill).
"""

from erigolem_runtime.nginx.control import running_master_pid, stop_private_nginx
from erigolem_runtime.nginx.errors import NginxError
from erigolem_runtime.nginx.front import NginxFront
from erigolem_runtime.nginx.htpasswd import hash_password
from erigolem_runtime.nginx.templates import system_snippet

__all__ = [
    "NginxError",
    "NginxFront",
    "hash_password",
    "running_master_pid",
    "stop_private_nginx",
    "system_snippet",
]
