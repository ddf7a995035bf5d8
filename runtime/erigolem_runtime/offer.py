"""What the provider advertises: the offer template, the plugin descriptor, and the self-test.

Offer properties a requestor can constrain on (all under ``golem.runtime.erigon.``):

- ``chains`` (list of str): chains this provider serves, e.g. ``(golem.runtime.erigon.chains=sepolia)``
- ``clients`` (list of str): Ethereum clients it runs (``erigon``, ``anvil``)
- ``chain-ids`` (list of int): EIP-155 ids of those chains (dev = 1337 for Erigon, 31337 for anvil)
- ``synced-chains`` (list of str): chains with a provider-kept synced datadir (fast start)
- ``warm-chains`` (list of str): chains a rental can start in ``"mode": "warm"``: an own
  rpcdaemon on the provider's synced Erigon, at chain head in seconds (see ``warm.py``),
  e.g. ``(golem.runtime.erigon.warm-chains=mainnet)``
- ``prune-mode`` (str): Erigon's ``--prune.mode`` (archive, full, minimal, blocks)
- ``apis`` (list of str): JSON-RPC namespaces served
- ``max-instances`` (int): how many instances this provider runs at once

The usage vector is ``[golem.usage.duration_sec, golem.usage.erigon.requests]``: the preset
prices time and requests served through nginx.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from erigolem_runtime import profiles
from erigolem_runtime.api import DURATION_COUNTER, REQUESTS_COUNTER, RUNTIME_NAME
from erigolem_runtime.api.files import atomic_write
from erigolem_runtime.config import RuntimeConfig
from erigolem_runtime.version import runtime_version, semver_of
from erigolem_runtime.warm import warm_chains, warm_problems

PROP = "golem.runtime.erigon."
DESCRIPTOR_FILE = "ya-runtime-erigon.json"
ANVIL_CHAIN_ID = 31337
CPU_COUNTER = "golem.usage.cpu_sec"
"""Named in the descriptor only so golemsp's ``--price CPU=…`` resolves (see plugin_descriptor)."""


def served_clients(config: RuntimeConfig) -> list[str]:
    """Clients with a configured binary that serve at least one offered chain."""
    out = []
    for name in profiles.CLIENTS:
        prof = profiles.PROFILES[name]
        if getattr(config.clients, name).binary and any(c in config.chains for c in prof.chains):
            out.append(name)
    return out


def served_chains(config: RuntimeConfig) -> list[str]:
    """Offered chains that some configured client can actually serve."""
    clients = served_clients(config)
    return [c for c in config.chains if any(c in profiles.PROFILES[n].chains for n in clients)]


def offer_template(config: RuntimeConfig | None) -> dict[str, Any]:
    """The ``offer-template`` JSON: usage vector plus what this provider serves.

    Without a config (none written yet) only the usage vector is published, with empty
    chain/client lists, so no requestor is matched to a provider that cannot serve it.
    """
    props: dict[str, Any] = {"golem.com.usage.vector": [DURATION_COUNTER, REQUESTS_COUNTER]}
    if config is None:
        props[PROP + "chains"] = []
        props[PROP + "clients"] = []
        return {"properties": props, "constraints": ""}
    clients = served_clients(config)
    chains = served_chains(config)
    chain_ids: list[int] = []
    for chain in chains:
        if "erigon" in clients and chain in profiles.ERIGON_CHAINS:
            chain_ids.append(profiles.CHAIN_IDS[chain])
        if "anvil" in clients and chain in profiles.ANVIL_CHAINS:
            chain_ids.append(ANVIL_CHAIN_ID)
    props.update(
        {
            PROP + "chains": chains,
            PROP + "clients": clients,
            PROP + "chain-ids": sorted(set(chain_ids)),
            PROP + "synced-chains": sorted(c for c in config.keep_datadirs if c in chains),
            PROP + "warm-chains": warm_chains(config.warm, chains if "erigon" in clients else []),
            PROP + "prune-mode": config.clients.erigon.prune_mode,
            PROP + "apis": list(profiles.ERIGON_HTTP_APIS),
            PROP + "max-instances": config.max_instances,
        }
    )
    return {"properties": props, "constraints": ""}


def plugin_descriptor(runtime_path: str, version: str) -> list[dict[str, Any]]:
    """The ya-provider plugin descriptor (a JSON array with one entry) for this runtime.

    ``version`` is written as SemVer whatever its form: ya-provider drops the whole descriptor
    file when the version does not parse as SemVer.
    """
    return [
        {
            "name": RUNTIME_NAME,
            "version": semver_of(version),
            "supervisor-path": "exe-unit",
            "runtime-path": runtime_path,
            "description": "Erigolem: private Ethereum JSON-RPC nodes (Erigon, anvil dev chain) "
            "behind nginx basic auth, one isolated instance per activity",
            "extra-args": ["--runtime-managed-image"],
            "properties": {},
            "config": {
                "counters": {
                    DURATION_COUNTER: {
                        "name": "duration",
                        "description": "Duration",
                        "price": True,
                    },
                    REQUESTS_COUNTER: {
                        "name": "requests",
                        "description": "JSON-RPC requests served",
                        "price": True,
                    },
                    # golemsp prices every runtime with CPU/Duration/"Init price"; ya-provider
                    # resolves those names through these counters and fails on an unknown one.
                    # CPU is not measured here and not in the usage vector, so its price is
                    # accepted and never charged.
                    CPU_COUNTER: {
                        "name": "cpu",
                        "description": "CPU time (not measured by this runtime: never charged)",
                        "price": False,
                    },
                }
            },
        }
    ]


def write_plugin_descriptor(plugins_dir: Path, runtime_path: str) -> Path:
    """Write ``ya-runtime-erigon.json`` into ``plugins_dir`` atomically (0644); its path."""
    plugins_dir = Path(plugins_dir)
    plugins_dir.mkdir(parents=True, exist_ok=True)
    target = plugins_dir / DESCRIPTOR_FILE
    text = json.dumps(plugin_descriptor(runtime_path, runtime_version()), indent=2) + "\n"
    atomic_write(target, text, mode=0o644)
    return target


def _runs(argv: list[str]) -> str | None:
    """None when ``argv`` exits 0 within 15 s, else what went wrong."""
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=15, check=False)
    except FileNotFoundError:
        return "not found"
    except PermissionError:
        return "not executable"
    except subprocess.TimeoutExpired:
        return "did not finish within 15 s"
    except OSError as exc:
        return exc.strerror or str(exc)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).decode("utf-8", "replace").strip().splitlines()
        return f"exited with code {proc.returncode}" + (f": {tail[-1][:200]}" if tail else "")
    return None


def _writable(path: Path, *, create: bool) -> str | None:
    """None when files can be created in ``path``; with ``create`` it is made and tried.

    Without ``create`` nothing is written: the nearest existing ancestor must be a writable
    directory (setup checks the config it is about to write this way).
    """
    if not create:
        probe = path
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        if not probe.is_dir():
            return f"{probe} is not a directory"
        return None if os.access(probe, os.W_OK | os.X_OK) else f"{probe} is not writable"
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".erigolem-selftest-"):
            pass
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


@dataclass
class ConfigReport:
    """What ``test`` and ``check`` found: errors stop the runtime serving, warnings do not.

    ya-provider runs ``exe-unit … test`` for every runtime at start-up and aborts when one
    fails, taking the provider's other runtimes down with it; so only ``errors`` fail ``test``,
    and ``erigolem-provider check`` shows both.
    """

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def check_config(config: RuntimeConfig, *, create_dirs: bool = True) -> ConfigReport:
    """Check a runtime config against this machine; see :class:`ConfigReport`.

    Errors: no offered chain can be served; a client serving an offered chain is missing or
    does not answer ``--version``; nginx does not run; the reload command is missing; the
    state/data dirs are not writable; an advertised kept datadir is missing; the port range
    cannot hold one instance, or holds the nginx port. Warnings: a configured client that
    serves none of the offered chains, an offered chain no client serves (it is not
    advertised), a port range too small for ``max_instances`` (later starts wait or fail), a
    warm chain whose rpcdaemon, datadir or private API is missing (warm starts would fail).
    ``create_dirs=False`` checks the dirs without creating anything.
    """
    rep = ConfigReport()
    any_client = False
    for name in profiles.CLIENTS:
        prof = profiles.PROFILES[name]
        binary = getattr(config.clients, name).binary
        wanted = [c for c in config.chains if c in prof.chains]
        if not binary:
            continue
        any_client = True
        # a client no offered chain needs cannot stop serving: its faults are warnings
        sink = rep.errors if wanted else rep.warnings
        if not wanted:
            rep.warnings.append(
                f"{name} is configured but none of its chains ({', '.join(prof.chains)}) is in "
                "chains: it is not offered (add one of them to chains, or remove "
                f"{prof.binary_key})"
            )
        try:
            path = profiles.resolve_binary(prof, binary)
        except profiles.MissingBinary as exc:
            sink.append(str(exc))
            continue
        err = _runs([str(path), "--version"])
        if err:
            sink.append(
                f"{name} binary {path} does not run ({err}): fix {prof.binary_key} in the "
                "runtime config or reinstall it"
            )
        elif name == "erigon":
            prune = config.clients.erigon.prune_mode
            problem = profiles.prune_mode_problem(prune, profiles.erigon_version(path))
            if problem is not None:
                sink.append(problem)
    if not any_client:
        rep.errors.append(
            "no Ethereum client configured: set clients.erigon.binary (and/or "
            "clients.anvil.binary for the dev chain) in the runtime config"
        )
    clients = served_clients(config)
    for chain in config.chains:
        if chain not in profiles.ALL_CHAINS:
            rep.warnings.append(
                f"chains lists {chain!r}, which no client serves (it is not offered): use one "
                f"of {', '.join(profiles.ALL_CHAINS)}"
            )
        elif not any(chain in profiles.PROFILES[c].chains for c in clients):
            needs = [c for c in profiles.CLIENTS if chain in profiles.PROFILES[c].chains]
            rep.warnings.append(
                f"chain {chain} is listed but no configured client serves it (it is not "
                "offered): set " + " or ".join(f"clients.{c}.binary" for c in needs)
            )
    if any_client and not served_chains(config):
        rep.errors.append(
            "no offered chain can be served: chains ("
            + (", ".join(config.chains) or "empty")
            + ") and the configured clients have nothing in common"
        )
    nginx_bin = config.nginx.binary
    if config.nginx.mode == "private" or shutil.which(nginx_bin):
        err = _runs([nginx_bin, "-v"])
        if err:
            rep.errors.append(
                f"nginx ({nginx_bin}) does not run ({err}): install nginx (Debian: apt-get "
                "install nginx-light) or fix nginx.binary in the runtime config"
            )
    if config.nginx.mode == "system" and config.nginx.reload_command:
        reload_bin = config.nginx.reload_command[0]
        if not (shutil.which(reload_bin) or Path(reload_bin).is_file()):
            rep.errors.append(
                f"nginx.reload_command starts with {reload_bin!r}, which is not found: fix "
                "nginx.reload_command in the runtime config"
            )
    for key, directory in (("state_dir", config.state_dir), ("data_dir", config.data_dir)):
        err = _writable(directory, create=create_dirs)
        if err:
            rep.errors.append(f"{key} {directory} is not writable ({err}): fix {key} or its rights")
    # warm mode is extra: a private rental of that chain still works, so only warnings
    rep.warnings.extend(warm_problems(config.warm, served_chains(config)))
    for chain, kept in config.keep_datadirs.items():
        if not kept.is_dir():
            rep.errors.append(
                f"keep_datadirs.{chain} = {kept} is not a directory: create it or remove the key"
            )
    per_instance = max(
        (len(profiles.PROFILES[c].port_names) for c in clients), default=len(profiles.ANVIL_PORTS)
    )
    if len(config.ports) < per_instance:
        rep.errors.append(
            f"the port range ports.first..ports.last ({config.ports.first}..{config.ports.last}) "
            f"holds {len(config.ports)} ports, one instance needs {per_instance}: widen it"
        )
    elif len(config.ports) < per_instance * config.max_instances:
        rep.warnings.append(
            f"the port range holds {len(config.ports)} ports, {config.max_instances} instances "
            f"(max_instances) need up to {per_instance * config.max_instances}: widen "
            "ports.first..ports.last or lower max_instances (starts beyond the range fail)"
        )
    if config.nginx.mode == "private" and config.nginx.listen is not None:
        nginx_port = config.nginx.listen_port
        if config.ports.first <= nginx_port <= config.ports.last:
            rep.errors.append(
                f"nginx.listen port {nginx_port} lies inside ports.first..ports.last: move one"
            )
    return rep


def self_test(config: RuntimeConfig) -> list[str]:
    """What stops the runtime serving (the errors of :func:`check_config`); empty = all good."""
    return check_config(config).errors
