"""``erigolem-provider check``: re-validate an existing setup and name what is wrong."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

from erigolem_runtime.api import DURATION_COUNTER, REQUESTS_COUNTER, RUNTIME_NAME
from erigolem_runtime.provider import (
    DESCRIPTOR_FILE,
    ConfigError,
    RuntimeConfig,
    check_config,
    disk_use,
    load_config,
)

from erigolem_provider import nginx_site, prereqs
from erigolem_provider.layout import Layout
from erigolem_provider.plan import Runner, run_command
from erigolem_provider.prereqs import Finding


def check_setup(layout: Layout, *, runner: Runner = run_command) -> list[Finding]:
    """Findings for every part setup wrote; errors say what is wrong and what to do."""
    out: list[Finding] = []
    if not layout.manifest_path.exists():
        out.append(
            Finding(
                "warning",
                "setup",
                f"no setup manifest at {layout.manifest_path}: run `erigolem-provider setup`",
            )
        )
    out += _check_runtime_config(layout)
    out += _check_descriptor(layout)
    running = check_nginx_running(layout)  # before `nginx -t`, which leaves an empty pid file
    out += _check_nginx(layout, runner)
    out += running
    out += _check_presets(layout)
    return out


def _check_runtime_config(layout: Layout) -> list[Finding]:
    try:
        config = load_config(layout.runtime_config_path)
    except ConfigError as exc:
        return [Finding("error", "runtime config", str(exc))]
    out = [Finding("ok", "runtime config", str(layout.runtime_config_path))]
    if config.nginx.mode != "system":
        out.append(
            Finding(
                "warning",
                "runtime config",
                "nginx.mode is not system: rented nodes are not published through your nginx",
            )
        )
    report = check_config(config)
    # errors are what the runtime's `test` refuses (ya-provider would not start); warnings not
    out += [Finding("error", "runtime test", p) for p in report.errors]
    out += [Finding("warning", "runtime", p) for p in report.warnings]
    out.append(_disk_finding(config))
    return out


def _gb(n: int) -> str:
    return f"{n / 1e9:.1f} GB"


def _disk_finding(config: RuntimeConfig) -> Finding:
    """Disk use of instance datadirs under data_dir (live, left by dead runtimes, kept)."""
    use = disk_use(config)
    parts = [f"{use.live} running node datadir(s) {_gb(use.live_bytes)}"]
    parts += [f"kept {chain} {_gb(n)}" for chain, n in sorted(use.kept_bytes.items())]
    if use.free_bytes is not None:
        parts.append(f"{_gb(use.free_bytes)} free")
    text = f"{config.data_dir}: " + ", ".join(parts)
    if use.dead:
        return Finding(
            "warning",
            "disk",
            f"{text}; {use.dead} datadir(s) left by killed runtimes hold {_gb(use.dead_bytes)} "
            "(removed at the next node start; never a kept datadir)",
        )
    return Finding("ok", "disk", text)


def _read_json(path: Path, what: str, *, missing: str, unreadable: str) -> object | Finding:
    """The parsed JSON in path, or an error Finding naming the fault and the advice for it."""
    try:
        data: object = json.loads(path.read_text())
    except FileNotFoundError:
        return Finding("error", what, f"{path} is missing: {missing}")
    except (OSError, ValueError) as exc:
        return Finding("error", what, f"{path} is unreadable ({exc}): {unreadable}")
    return data


def _check_descriptor(layout: Layout) -> list[Finding]:
    path = layout.plugins_dir / DESCRIPTOR_FILE
    data = _read_json(
        path, "plugin descriptor", missing="run setup again", unreadable="run setup again"
    )
    if isinstance(data, Finding):
        return [data]
    ours = (
        [d for d in data if isinstance(d, dict) and d.get("name") == RUNTIME_NAME]
        if isinstance(data, list)
        else []
    )
    if not ours:
        return [
            Finding(
                "error",
                "plugin descriptor",
                f"{path} has no runtime named {RUNTIME_NAME}: run setup again",
            )
        ]
    out: list[Finding] = []
    runtime = Path(str(ours[0].get("runtime-path", "")))
    if not runtime.is_absolute():
        runtime = path.parent / runtime
    if not (runtime.is_file() and os.access(runtime, os.X_OK)):
        out.append(
            Finding(
                "error",
                "plugin descriptor",
                f"runtime-path {runtime} is missing or not executable: reinstall "
                "erigolem-runtime, then run setup again",
            )
        )
    else:
        out.append(Finding("ok", "plugin descriptor", f"{path} -> {runtime}"))
    supervisor = Path(str(ours[0].get("supervisor-path", "exe-unit")))
    if not supervisor.is_absolute():
        supervisor = path.parent / supervisor
    if not supervisor.exists():
        out.append(
            Finding(
                "error",
                "exe-unit",
                f"{supervisor} not found: ya-provider refuses descriptors whose supervisor is "
                f"missing and does not start; {prereqs.GOLEM_INSTALL_HINT}",
            )
        )
    else:
        out.append(Finding("ok", "exe-unit", str(supervisor)))
    return out


def _check_nginx(layout: Layout, runner: Runner) -> list[Finding]:
    out: list[Finding] = []
    block = layout.server_block_path
    if not block.exists():
        return [Finding("error", "nginx", f"server block {block} is missing: run setup again")]
    files = nginx_site.included_files(layout.nginx_main_conf, layout.nginx_conf_dir)
    if block not in files:
        out.append(
            Finding(
                "error",
                "nginx",
                f"{layout.nginx_main_conf} no longer includes {block}: run setup again (it adds "
                "one include line)",
            )
        )
    ours = nginx_site.listens([block])
    for lst in ours[:1]:
        for clash in nginx_site.foreign_listeners(layout, lst.address, lst.port):
            out.append(
                Finding(
                    "error",
                    "nginx",
                    f"another server also listens on port {lst.port} ({clash.file}:{clash.line}): "
                    "disable it or run setup with another --port",
                )
            )
    try:
        test_cmd = json.loads(layout.runtime_config_path.read_text())["nginx"]["test_command"]
    except (OSError, ValueError, KeyError, TypeError):
        test_cmd = None
    if test_cmd:
        proc = runner(test_cmd, {})
        if proc.returncode != 0:
            out.append(
                Finding(
                    "error",
                    "nginx -t",
                    f"the nginx configuration is invalid: {(proc.stderr or proc.stdout).strip()[-400:]}",
                )
            )
        else:
            out.append(Finding("ok", "nginx -t", "configuration is valid"))
    return out


def _check_presets(layout: Layout) -> list[Finding]:
    path = layout.presets_path
    data = _read_json(
        path,
        "pricing",
        missing="run setup again",
        unreadable="fix or remove it, then run setup again",
    )
    if isinstance(data, Finding):
        return [data]
    presets = [
        p
        for p in (data.get("presets", []) if isinstance(data, dict) else [])
        if isinstance(p, dict) and p.get("exeunit-name") == RUNTIME_NAME
    ]
    active = set(data.get("active") or []) if isinstance(data, dict) else set()
    live = [p for p in presets if p.get("name") in active]
    if live and not any(p.get("name") == RUNTIME_NAME for p in live):
        return [
            Finding(
                "error",
                "pricing",
                f"the active preset for runtime {RUNTIME_NAME} is named "
                f"{live[0].get('name')!r}, not {RUNTIME_NAME!r}: golemsp then treats the node "
                "as not set up and re-prices every runtime at `golemsp run`; run setup again "
                f"(it writes preset {RUNTIME_NAME!r})",
            )
        ]
    live = [p for p in live if p.get("name") == RUNTIME_NAME] or live
    if not live:
        return [
            Finding(
                "error",
                "pricing",
                f"no active preset for runtime {RUNTIME_NAME} in {path}: run setup again "
                "(or `ya-provider preset activate NAME`)",
            )
        ]
    coeffs = live[0].get("usage-coeffs") or {}
    missing = [k for k in (DURATION_COUNTER, REQUESTS_COUNTER) if k not in coeffs]
    if missing:
        return [
            Finding(
                "error",
                "pricing",
                f"preset {live[0].get('name')} does not price {', '.join(missing)}: run setup again",
            )
        ]
    return [Finding("ok", "pricing", f"preset {live[0].get('name')} active")]


def _nginx_settings(layout: Layout) -> dict[str, object]:
    """The ``nginx`` section of the runtime config as written ({} when unreadable)."""
    try:
        nginx = json.loads(layout.runtime_config_path.read_text())["nginx"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return nginx if isinstance(nginx, dict) else {}


#: Linux's largest possible pid (``/proc/sys/kernel/pid_max`` is at most 2**22).
PID_MAX = 2**22


def master_pid(pid_file: Path) -> tuple[int | None, str]:
    """The live nginx master's pid from ``pid_file``, or None and why not."""
    try:
        raw = pid_file.read_text().strip()
    except FileNotFoundError:
        return None, f"{pid_file} does not exist"
    except OSError as exc:
        return None, f"{pid_file} is unreadable ({exc.strerror})"
    if not raw:
        return None, f"{pid_file} is empty (`nginx -t` leaves it so; no master wrote its pid)"
    if not raw.isdigit() or not 0 < int(raw) <= PID_MAX:
        return None, f"{pid_file} holds no pid ({raw[:20]!r})"
    pid = int(raw)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None, f"{pid_file} names pid {pid}, which is not running (a stale pid file)"
    except PermissionError:
        pass  # alive, owned by someone else
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        comm = ""
    if comm != "nginx":
        return None, f"{pid_file} names pid {pid}, which is {comm or 'unknown'}, not nginx"
    return pid, ""


def _pid_file(layout: Layout, settings: dict[str, object]) -> Path | None:
    """The nginx master's pid file: the runtime config's ``pid_file``, else nginx.conf's."""
    raw_pid = settings.get("pid_file")
    return Path(raw_pid) if isinstance(raw_pid, str) else nginx_site.master_pid_file(layout, None)


def _start_hint(layout: Layout, settings: dict[str, object]) -> str:
    """How to start the nginx master (the config's test command without -t/-q)."""
    test_cmd = settings.get("test_command")
    start = (
        [str(a) for a in test_cmd if a not in ("-t", "-q")]
        if isinstance(test_cmd, list) and test_cmd
        else ["nginx"]
    )
    how = shlex.join(start)
    return (
        f"start it with `sudo systemctl start nginx` (or `sudo {how}`)"
        if layout.root is None
        else f"start it with `{how}`"
    )


def nginx_down(layout: Layout) -> tuple[str, str] | None:
    """``(what is wrong, how to fix it)`` when the nginx master is not running, else None.

    None also when no pid file is known (nothing to say for sure); see check_nginx_running.
    """
    settings = _nginx_settings(layout)
    pid_file = _pid_file(layout, settings)
    if pid_file is None:
        return None
    pid, why = master_pid(pid_file)
    if pid is not None:
        return None
    return f"nginx is not running: {why}", _start_hint(layout, settings)


def check_nginx_running(layout: Layout) -> list[Finding]:
    """The nginx master that serves our server block runs: pid file -> live nginx process."""
    settings = _nginx_settings(layout)
    pid_file = _pid_file(layout, settings)
    if pid_file is None:
        return [
            Finding(
                "warning",
                "nginx running",
                "cannot tell whether nginx runs: no pid file is known (add a `pid` directive "
                f"to {layout.nginx_main_conf} and run setup again)",
            )
        ]
    pid, why = master_pid(pid_file)
    if pid is not None:
        return [Finding("ok", "nginx running", f"master pid {pid} ({pid_file})")]
    return [
        Finding(
            "error",
            "nginx running",
            f"nginx is not running: {why}; rented nodes cannot be reached and the self-test "
            f"fails: {_start_hint(layout, settings)}, then run `erigolem-provider check` again",
        )
    ]
