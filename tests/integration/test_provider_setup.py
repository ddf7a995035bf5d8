"""The provider wizard end to end into a temporary root: real files, real `nginx -t`, real nginx
and anvil for the self-test, uninstall restoring the exact tree, and the bad-input paths."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from erigolem_provider.cli import main
from erigolem_runtime.config import load_config

from tests.support.binaries import REPO, anvil_path, fake_erigon_binary, free_port

pytestmark = pytest.mark.integration


def snapshot(root: Path) -> dict[str, tuple[str, str, int]]:
    """Every path under root (except the nginx prefix's logs/pid) -> (kind, sha256, mode)."""
    out: dict[str, tuple[str, str, int]] = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if rel.startswith("ngx"):
            continue
        st = p.lstat()
        if p.is_dir():
            out[rel] = ("dir", "", st.st_mode & 0o7777)
        else:
            out[rel] = ("file", hashlib.sha256(p.read_bytes()).hexdigest(), st.st_mode & 0o7777)
    return out


def write_main_conf(root: Path, *, include: bool = True, extra: str = "") -> Path:
    """A minimal main nginx.conf under root (like Debian's: includes conf.d inside http)."""
    conf_dir = root / "etc/nginx"
    conf_dir.mkdir(parents=True, exist_ok=True)
    prefix = root / "ngx"
    (prefix / "logs").mkdir(parents=True, exist_ok=True)
    inc = f"    include {conf_dir}/conf.d/*.conf;\n" if include else ""
    text = (
        "user root root;\n"
        "worker_processes 1;\n"
        "daemon off;\n"
        f"pid {prefix}/nginx.pid;\n"
        "events { worker_connections 64; }\n"
        "http {\n"
        f"    access_log {prefix}/logs/access.log;\n"
        f"    client_body_temp_path {prefix}/tmp_body;\n"
        f"    proxy_temp_path {prefix}/tmp_proxy;\n"
        f"{inc}{extra}"
        "}\n"
    )
    path = conf_dir / "nginx.conf"
    path.write_text(text)
    return path


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "root"
    write_main_conf(r)
    return r


def base_args(root: Path, port: int, anvil: Path | None = None) -> list[str]:
    """setup flags into ``root``; anvil serves the dev chain (found or given), no Erigon."""
    anvil = anvil or anvil_path()
    args = [
        "setup",
        "--non-interactive",
        "--root",
        str(root),
        "--host",
        "127.0.0.1",
        "--listen-address",
        "127.0.0.1",
        "--port",
        str(port),
        "--chains",
        "dev,sepolia",
        "--nginx-prefix",
        str(root / "ngx"),
        "--runtime-path",
        str(REPO / ".venv/bin/erigolem-runtime"),
        "--allow-missing-exe-unit",  # no Golem installed under the test root
    ]
    if anvil is not None:
        args += ["--anvil-bin", str(anvil)]
    return args


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    rc = main(args)
    cap = capsys.readouterr()
    return rc, cap.out + cap.err


def test_setup_writes_valid_files_is_idempotent_and_uninstalls_to_the_same_tree(
    root: Path, anvil_bin: Path, nginx_bin: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(root)
    port = free_port()
    rc, out = run_cli([*base_args(root, port, anvil_bin), "--skip-self-test"], capsys)
    assert rc == 0, out
    assert "Setup applied" in out

    home = next((root / "root").glob(".local")) if (root / "root").exists() else None
    assert home is not None
    # plugin descriptor: a JSON array, runtime erigon, runtime-path to the installed runtime
    desc = json.loads((root / "root/.local/lib/yagna/plugins/ya-runtime-erigon.json").read_text())
    assert isinstance(desc, list)
    assert desc[0]["name"] == "erigon"
    assert desc[0]["supervisor-path"] == "exe-unit"
    assert desc[0]["extra-args"] == ["--runtime-managed-image"]
    assert Path(desc[0]["runtime-path"]).is_file()
    counters = desc[0]["config"]["counters"].values()
    assert {v["name"] for v in counters if v["price"]} == {"duration", "requests"}
    assert {v["name"] for v in counters if not v["price"]} == {"cpu"}  # for golemsp's CPU=…
    # presets.json V1 with our preset active and both counters priced
    presets = json.loads((root / "root/.local/share/ya-provider/presets.json").read_text())
    assert presets["ver"] == "V1"
    assert presets["active"] == ["erigon"]
    (preset,) = presets["presets"]
    assert preset["exeunit-name"] == "erigon"
    assert preset["pricing-model"] == "linear"
    assert preset["usage-coeffs"]["golem.usage.duration_sec"] == pytest.approx(0.1 / 3600)
    assert preset["usage-coeffs"]["golem.usage.erigon.requests"] == pytest.approx(0.01 / 1000)
    # runtime config: loads with the runtime's own validator, system mode, our include dir
    cfg_path = root / "root/.local/share/erigolem-runtime/erigolem-runtime.json"
    assert cfg_path.stat().st_mode & 0o777 == 0o600
    cfg = load_config(cfg_path)
    assert cfg.nginx.mode == "system"
    assert cfg.nginx.include_dir == root / "etc/nginx/erigolem"
    assert cfg.nginx.pid_file == root / "ngx/nginx.pid"  # so reloads wait out old workers
    assert cfg.public_url == f"http://127.0.0.1:{port}"
    assert cfg.chains == ("dev", "sepolia")
    # server block: real nginx -t with the main config including it
    block = (root / "etc/nginx/conf.d/erigolem-provider.conf").read_text()
    assert f"listen 127.0.0.1:{port};" in block
    assert f"include {root}/etc/nginx/erigolem/server/*.conf;" in block
    assert "X-Content-Type-Options" in block
    proc = subprocess.run(
        [
            str(nginx_bin),
            "-t",
            "-p",
            f"{root}/ngx/",
            "-c",
            str(root / "etc/nginx/nginx.conf"),
            "-e",
            str(root / "ngx/logs/error.log"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    # main nginx.conf already included conf.d: untouched
    assert "erigolem" not in (root / "etc/nginx/nginx.conf").read_text()

    after_first = snapshot(root)
    rc, out = run_cli([*base_args(root, port, anvil_bin), "--skip-self-test"], capsys)
    assert rc == 0, out
    assert "unchanged" in out
    assert snapshot(root) == after_first

    rc, out = run_cli(["check", "--root", str(root)], capsys)
    assert "nginx -t: configuration is valid" in out
    assert "pricing: preset erigon active" in out

    rc, out = run_cli(["uninstall", "--root", str(root)], capsys)
    assert rc == 0, out
    assert snapshot(root) == before


def test_missing_include_adds_one_line_shown_first_and_restored(
    tmp_path: Path, nginx_bin: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "root"
    main_conf = write_main_conf(root, include=False)
    original = main_conf.read_text()
    before = snapshot(root)
    port = free_port()
    rc, out = run_cli([*base_args(root, port), "--dry-run"], capsys)
    assert rc == 0, out
    assert "setup adds ONE include line" in out
    assert f"+    include {root}/etc/nginx/conf.d/erigolem-provider.conf;" in out
    assert snapshot(root) == before  # dry run wrote nothing

    rc, out = run_cli([*base_args(root, port), "--skip-self-test"], capsys)
    assert rc == 0, out
    new = main_conf.read_text()
    added = [ln for ln in new.splitlines() if ln not in original.splitlines()]
    assert len(added) == 1
    assert "erigolem-provider.conf" in added[0]
    rc, out = run_cli(["uninstall", "--root", str(root)], capsys)
    assert rc == 0
    assert main_conf.read_text() == original
    assert snapshot(root) == before


def test_bad_inputs_give_clear_messages_and_write_nothing(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(root)
    port = free_port()

    def fails(extra: list[str], expected: str, port_: int = port) -> None:
        args = base_args(root, port_)
        rc, out = run_cli([*args, *extra, "--skip-self-test"], capsys)
        assert rc == 2, out
        assert expected in out, out
        assert "Nothing was written" in out
        assert snapshot(root) == before

    fails(["--host", "bad_host!.example"], "is not a valid host name")
    fails(["--nginx-bin", "/nonexistent/nginx"], "/nonexistent/nginx does not exist")
    fails(["--chains", "mainnet,foochain"], "unknown chain(s) foochain")
    fails(["--tls-cert", "/nonexistent/cert.pem"], "give both the certificate and its key")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        fails([], f"port {taken} is already in use", taken)
    foreign = root / "etc/nginx/conf.d/other.conf"
    foreign.parent.mkdir()
    foreign.write_text(f"server {{\n    listen {port} default_server;\n}}\n")
    before = snapshot(root)
    fails([], f"another nginx server already listens on port {port} ({foreign}:2)")


def test_read_only_directory_is_reported_before_anything_is_written(
    root: Path, tmp_path: Path
) -> None:
    """Runs the CLI without CAP_DAC_OVERRIDE so a 0555 directory is read-only even for root."""
    ro = root / "ro-plugins"
    ro.mkdir()
    ro.chmod(0o555)
    before = snapshot(root)
    argv = [
        sys.executable,
        "-m",
        "erigolem_provider",
        *base_args(root, free_port()),
        "--skip-self-test",
        "--plugins-dir",
        str(ro / "plugins"),
    ]
    if os.geteuid() == 0:
        argv = [
            "setpriv",
            "--bounding-set=-dac_override,-dac_read_search",
            "--inh-caps=-dac_override,-dac_read_search",
            *argv,
        ]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    assert f"cannot write {ro}/plugins" in out
    assert "read-only" in out
    assert snapshot(root) == before
    assert list(ro.iterdir()) == []


@pytest.fixture
def nginx_master(root: Path, nginx_bin: Path) -> Iterator[Path]:
    """A real nginx master on the root's main config (stands in for the system nginx)."""
    conf = root / "etc/nginx/nginx.conf"
    base = [
        str(nginx_bin),
        "-p",
        f"{root}/ngx/",
        "-c",
        str(conf),
        "-e",
        str(root / "ngx/logs/error.log"),
    ]
    proc = subprocess.Popen(base, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while (
            not (root / "ngx/nginx.pid").exists()
            or not (root / "ngx/nginx.pid").read_text().strip()
        ):
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "nginx did not start"
            time.sleep(0.05)
        yield conf
    finally:
        proc.send_signal(signal.SIGQUIT)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()


@pytest.mark.slow
def test_self_test_reaches_a_dev_node_through_the_public_url(
    root: Path, nginx_master: Path, anvil_bin: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(root)
    port = free_port()
    rc, out = run_cli(base_args(root, port, anvil_bin), capsys)
    assert "without credentials: HTTP 401 (want 401)" in out, out
    assert "with credentials: HTTP 200 and a chain id" in out, out
    assert "Self-test passed." in out
    assert rc == 0
    # the test node is gone: only the runtime's shared file is left, no node location
    left = list((root / "etc/nginx/erigolem/server").glob("*.conf"))
    assert [p.name for p in left if not p.name.startswith("_")] == []
    rc, out = run_cli(["uninstall", "--root", str(root)], capsys)
    assert rc == 0, out
    assert snapshot(root) == before


def test_root_refuses_a_main_config_that_points_at_the_system_nginx(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A copied Debian nginx.conf: `nginx -t` and the reload would act on the system nginx."""
    root = tmp_path / "root"
    conf_dir = root / "etc/nginx"
    (conf_dir / "conf.d").mkdir(parents=True)
    (conf_dir / "nginx.conf").write_text(
        "pid /run/nginx.pid;\nevents {}\nhttp {\n    include /etc/nginx/conf.d/*.conf;\n}\n"
    )
    before = snapshot(root)
    rc, out = run_cli([*base_args(root, free_port()), "--skip-self-test"], capsys)
    assert rc == 2, out
    assert f"names paths outside the root {root}" in out
    assert "(pid /run/nginx.pid; include /etc/nginx/conf.d/*.conf)" in out
    assert "would signal the system nginx" in out
    assert "--dry-run" in out
    assert "Nothing was written" in out
    assert snapshot(root) == before


def test_check_names_an_nginx_that_is_not_running_and_how_to_start_it(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, out = run_cli([*base_args(root, free_port()), "--skip-self-test"], capsys)
    assert rc == 0, out
    pid_file = root / "ngx/nginx.pid"
    gone = subprocess.Popen(["true"])
    gone.wait()
    # `nginx -t` leaves an empty pid file: what the failed reload complained about
    cases = {
        None: f"{pid_file} is empty (`nginx -t` leaves it so",
        "nonsense": f"{pid_file} holds no pid ('nonsense')",
        "": f"nginx is not running: {pid_file} does not exist",
        "4194999999": f"{pid_file} holds no pid ('4194999999')",
        str(gone.pid): f"names pid {gone.pid}, which is not running (a stale pid file)",
        str(os.getpid()): f"which is {Path('/proc/self/comm').read_text().strip()}, not nginx",
    }
    for content, expected in cases.items():
        if content is not None:
            pid_file.unlink(missing_ok=True)
            if content:
                pid_file.write_text(content)
        rc, out = run_cli(["check", "--root", str(root)], capsys)
        assert rc == 2, out
        assert expected in out, out
        assert f"start it with `{nginx_path_of(root)} -p {root}/ngx/ -c " in out, out
        assert "Setup looks good" not in out


def nginx_path_of(root: Path) -> str:
    """The nginx binary setup wrote into the runtime config under ``root``."""
    cfg = json.loads(
        (root / "root/.local/share/erigolem-runtime/erigolem-runtime.json").read_text()
    )
    return str(cfg["nginx"]["binary"])


def test_check_sees_a_running_nginx_master(
    root: Path, nginx_master: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, out = run_cli([*base_args(root, free_port()), "--skip-self-test"], capsys)
    assert rc == 0, out
    rc, out = run_cli(["check", "--root", str(root)], capsys)
    pid = (root / "ngx/nginx.pid").read_text().strip()
    assert f"nginx running: master pid {pid}" in out, out
    assert "nginx is not running" not in out


def test_failed_self_test_prints_the_cause_not_the_logs_and_no_next_steps(
    root: Path, anvil_bin: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """nginx is not running (the newcomer's case): one cause line, the hint, the log file."""
    rc, out = run_cli(base_args(root, free_port(), anvil_bin), capsys)
    assert rc == 1, out
    tail = out[out.index("Self-test:") :].splitlines()
    assert tail[1] == (
        f"Self-test FAILED: nginx is not running: {root}/ngx/nginx.pid is empty (`nginx -t` "
        "leaves it so; no master wrote its pid)"
    )
    assert tail[2].startswith("hint: start it with `")
    log = root / "root/.local/share/erigolem-provider/self-test.log"
    assert tail[3] == f"Details: everything in {log} (or run again with --verbose)"
    assert len(tail) == 5  # ... and what setup says instead of its next steps
    assert "does not work yet" in tail[4]
    assert "Next:" not in out
    assert log.stat().st_mode & 0o777 == 0o600
    assert "nginx is not running" in log.read_text()


@pytest.mark.slow
def test_self_test_runtime_failure_is_one_line_and_verbose_shows_the_rest(
    root: Path, nginx_master: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The runtime cannot start the node (anvil is /bin/false): its stderr stays in the log."""
    rc, out = run_cli([*base_args(root, free_port()), "--skip-self-test"], capsys)
    assert rc == 0, out
    rc, out = run_cli(["self-test", "--root", str(root), "--anvil-bin", "/bin/false"], capsys)
    assert rc == 1, out
    lines = out.splitlines()
    assert len(lines) == 4, out
    assert lines[1].startswith("Self-test FAILED: runtime: start failed: anvil did not become")
    assert lines[1].endswith("exited before its JSON-RPC port answered.")  # no dangling lead-in
    assert lines[2].startswith("hint: the runtime's stderr and logs are in the log file")
    log = (root / "root/.local/share/erigolem-provider/self-test.log").read_text()
    assert len(log.splitlines()) > len(lines)
    assert "deploying the runtime" in log
    rc, verbose = run_cli(
        ["self-test", "--root", str(root), "--anvil-bin", "/bin/false", "--verbose"], capsys
    )
    assert rc == 1
    assert "deploying the runtime" in verbose
    assert lines[1] in verbose
    assert "(or run again with --verbose)" not in verbose


def runtime_test(config: Path) -> subprocess.CompletedProcess[str]:
    """`erigolem-runtime test` as ya-provider runs it at start-up, on ``config``."""
    return subprocess.run(
        [str(REPO / ".venv/bin/erigolem-runtime"), "test"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "ERIGOLEM_RUNTIME_CONFIG": str(config)},
    )


def test_setup_for_real_chains_passes_its_own_test_and_check(
    root: Path, tmp_path: Path, nginx_master: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`setup --chains hoodi` with anvil found: ya-provider's start-up `test` and `check` pass.

    Before, anvil was configured although dev is not offered, and `test` (so ya-provider's
    start-up) failed with "anvil is configured but none of its chains (dev) is in chains".
    """
    erigon = fake_erigon_binary(tmp_path, "3.1.2")
    install_exe_unit(root)
    args = [*base_args(root, free_port()), "--chains", "hoodi", "--erigon-bin", str(erigon)]
    rc, out = run_cli([*args, "--skip-self-test"], capsys)
    assert rc == 0, out
    cfg_path = root / "root/.local/share/erigolem-runtime/erigolem-runtime.json"
    cfg = json.loads(cfg_path.read_text())
    assert cfg["chains"] == ["hoodi"]
    assert cfg["clients"]["anvil"]["binary"] is None  # dev is not offered
    proc = runtime_test(cfg_path)
    assert proc.returncode == 0, proc.stderr
    assert "self-test OK" in proc.stdout
    rc, out = run_cli(["check", "--root", str(root)], capsys)
    assert "[ERROR" not in out, out
    assert rc == 0, out
    assert "Setup looks good." in out


def test_setup_refuses_a_config_its_own_test_refuses(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """hoodi without an Erigon binary serves nothing: `test` would fail, so setup writes nothing."""
    before = snapshot(root)
    rc, out = run_cli(
        [*base_args(root, free_port()), "--chains", "hoodi", "--skip-self-test"], capsys
    )
    assert rc == 2, out
    assert "without it this provider serves no chain" in out
    assert "Nothing was written" in out
    assert snapshot(root) == before


def test_a_port_range_warning_does_not_fail_test_but_shows_in_check(
    root: Path, nginx_master: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A soft port-range shortfall is a warning: fatal in `test` it would stop every runtime."""
    rc, out = run_cli([*base_args(root, free_port()), "--skip-self-test"], capsys)
    assert rc == 0, out
    cfg_path = root / "root/.local/share/erigolem-runtime/erigolem-runtime.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["ports"] = {"first": 40000, "last": 40005}  # anvil needs 1 port per instance
    cfg["max_instances"] = 10
    cfg_path.write_text(json.dumps(cfg))
    proc = runtime_test(cfg_path)
    assert proc.returncode == 0, proc.stderr
    assert "self-test warning: the port range holds 6 ports, 10 instances" in proc.stderr
    install_exe_unit(root)
    rc, out = run_cli(["check", "--root", str(root)], capsys)
    assert "the port range holds 6 ports" in out
    assert "[ERROR" not in out, out


def test_self_test_runs_the_runtimes_own_test_first(
    root: Path, nginx_master: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A config `test` refuses fails the self-test up front, saying ya-provider would not start."""
    rc, out = run_cli([*base_args(root, free_port()), "--skip-self-test"], capsys)
    assert rc == 0, out
    cfg_path = root / "root/.local/share/erigolem-runtime/erigolem-runtime.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["ports"] = {"first": 40000, "last": 40000}
    cfg["chains"] = ["sepolia"]  # anvil serves none of it, no erigon
    cfg_path.write_text(json.dumps(cfg))
    rc, out = run_cli(["self-test", "--root", str(root)], capsys)
    assert rc == 1, out
    assert "runtime test failed (exit 1): ya-provider would refuse to start" in out, out
    assert "no offered chain can be served" in out


def install_exe_unit(root: Path) -> Path:
    """Stand-in for yagna's exe-unit in the plugins dir (only its presence is checked here)."""
    exe_unit = root / "root/.local/lib/yagna/plugins/exe-unit"
    exe_unit.parent.mkdir(parents=True, exist_ok=True)
    exe_unit.write_text("#!/bin/sh\n# stands for yagna's exe-unit\nexit 0\n")
    exe_unit.chmod(0o755)
    return exe_unit


def test_plugins_dir_without_exe_unit_is_refused_unless_asked(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """ya-provider refuses a descriptor whose exe-unit is missing: setup stops, or warns with
    the explicit flag; `check` reports it as an error until exe-unit is there."""
    before = snapshot(root)
    args = [a for a in base_args(root, free_port()) if a != "--allow-missing-exe-unit"]
    rc, out = run_cli([*args, "--skip-self-test"], capsys)
    assert rc == 2, out
    plugins = root / "root/.local/lib/yagna/plugins"
    assert f"{plugins}/exe-unit not found: ya-provider refuses a plugin descriptor" in out
    assert "pass --allow-missing-exe-unit" in out
    assert snapshot(root) == before
    rc, out = run_cli([*args, "--allow-missing-exe-unit", "--skip-self-test"], capsys)
    assert rc == 0, out
    assert "writing it anyway (--allow-missing-exe-unit)" in out
    rc, out = run_cli(["check", "--root", str(root)], capsys)
    assert f"[ERROR] exe-unit: {plugins}/exe-unit not found" in out, out
    install_exe_unit(root)
    rc, out = run_cli(["check", "--root", str(root)], capsys)
    assert f"exe-unit: {plugins}/exe-unit" in out
    assert "exe-unit not found" not in out
