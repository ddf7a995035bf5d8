"""Prove a setup works end to end: start a dev-chain node through the runtime, as exe-unit would.

The runtime is driven by the supervisor-side client (``erigolem_runtime.api.client.RuntimeClient``)
with the provider's own config (plus the dev chain and anvil, so the provider does not have to
offer ``dev``). The node is then reached through the *public URL*: 401 without credentials,
200 and the right chain id with them. The node is stopped whatever happens.
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import ssl
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from erigolem_runtime.api.client import RuntimeClient, RuntimeClientError
from erigolem_runtime.provider import ConfigError, atomic_write, load_config

from erigolem_provider.checks import nginx_down
from erigolem_provider.layout import Layout


@dataclass
class SelfTestResult:
    """Each check with its outcome; ``ok`` when all passed."""

    lines: list[str] = field(default_factory=list)
    ok: bool = False
    url: str | None = None
    hint: str = ""
    #: long diagnostics (runtime stderr and logs): for the log file and --verbose only
    details: list[str] = field(default_factory=list)

    def add(self, passed: bool, text: str) -> None:
        self.lines.append(f"[{'ok' if passed else 'FAIL':4}] {text}")

    @property
    def cause(self) -> str:
        """The first failed check, on one line: what went wrong first (the rest follows)."""
        for line in self.lines:
            if line.startswith("[FAIL]"):
                first = line.removeprefix("[FAIL]").strip().splitlines()[0]
                if first.endswith(":") and ". " in first:  # a lead-in to lines kept in the log
                    first = first[: first.rindex(". ") + 1]
                return first
        return "no check passed" if not self.ok else ""


def _post(url: str, auth: tuple[str, str] | None, timeout: float) -> tuple[int, bytes]:
    """POST eth_chainId; (HTTP status, body). Status 0 means no HTTP answer at all."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})
    req = urllib.request.Request(  # noqa: S310 - http(s) URL from the provider's own config
        url, data=body.encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    ctx = ssl.create_default_context() if url.startswith("https:") else None
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:  # noqa: S310
            return int(resp.status), bytes(resp.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read() if exc.fp else b""
    except (urllib.error.URLError, OSError) as exc:
        return 0, str(getattr(exc, "reason", exc)).encode()


async def run_self_test(
    config_path: Path,
    *,
    anvil_bin: str | None = None,
    runtime_command: list[str] | None = None,
    timeout: float = 90,  # noqa: ASYNC109 - passed on to the client's own timeouts
    progress: Callable[[str], None] | None = None,
) -> SelfTestResult:
    """Start a dev-chain instance with the provider's config and check it via the public URL."""
    say = progress or (lambda _m: None)
    result = SelfTestResult()
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        result.add(False, f"runtime config: {exc}")
        return result
    say("running the runtime's own test (what ya-provider runs at start-up)")
    try:
        probe = await RuntimeClient(
            Path(tempfile.gettempdir()), command=runtime_command, config_path=config_path
        ).test()
    except RuntimeClientError as exc:
        result.add(False, f"runtime test: {exc}")
        return result
    lines = probe.stderr.decode("utf-8", "replace").strip().splitlines()
    if probe.return_code != 0:
        result.add(
            False,
            f"runtime test failed (exit {probe.return_code}): ya-provider would refuse to "
            "start. " + ("; ".join(ln.removeprefix("erigolem-runtime: ") for ln in lines) or ""),
        )
        result.hint = "fix the runtime config as said, then run `erigolem-provider check`"
        return result
    result.add(True, "runtime test passed (ya-provider's start-up probe)")
    result.details += lines
    data = config.to_json()
    anvil = anvil_bin or data["clients"]["anvil"]["binary"] or shutil.which("anvil")
    if not anvil:
        result.add(
            False,
            "no anvil binary for the dev-chain test: pass --anvil-bin PATH (npm install "
            "@foundry-rs/anvil) and run `erigolem-provider self-test` again",
        )
        return result
    data["clients"]["anvil"]["binary"] = str(anvil)
    if "dev" not in data["chains"]:
        data["chains"] = [*data["chains"], "dev"]
    with tempfile.TemporaryDirectory(prefix="erigolem-selftest-") as tmp:
        tmp_path = Path(tmp)
        test_cfg = tmp_path / "selftest-config.json"
        test_cfg.write_text(json.dumps(data))
        test_cfg.chmod(0o600)
        client = RuntimeClient(tmp_path / "work", command=runtime_command, config_path=test_cfg)
        try:
            say("deploying the runtime")
            await client.deploy(timeout=30)
            say("starting a dev-chain node (anvil)")
            out = await client.start({"chain": "dev", "client": "anvil"}, timeout=timeout)
            url = str(out.get("url") or "")
            auth_obj: dict[str, Any] = out.get("auth") or {}
            user, password = str(auth_obj.get("user", "")), str(auth_obj.get("password", ""))
            result.url = url
            result.add(bool(url), f"node started: {url or 'no url in the start output'}")
            if not url.startswith(config.public_url):
                result.add(False, f"the node URL is not under the public URL {config.public_url}")
                return result
            say("checking the public URL without credentials")
            status, _ = await asyncio.to_thread(_post, url, None, 10)
            result.add(
                status == 401, f"without credentials: HTTP {status or 'no answer'} (want 401)"
            )
            say("checking the public URL with the node's credentials")
            deadline = time.monotonic() + 15
            while True:
                status, body = await asyncio.to_thread(_post, url, (user, password), 10)
                if status == 200 or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.3)
            chain_ok = False
            if status == 200:
                try:
                    chain_ok = str(json.loads(body).get("result", "")).startswith("0x")
                except ValueError:
                    chain_ok = False
            result.add(
                status == 200 and chain_ok,
                f"with credentials: HTTP {status or 'no answer'}"
                + (" and a chain id" if chain_ok else f" ({body[:120]!r})"),
            )
            result.ok = all(line.startswith("[ok") for line in result.lines)
        except RuntimeClientError as exc:
            _runtime_failure(result, "runtime", exc)
        finally:
            say("stopping the node")
            try:
                await client.shutdown()
            except RuntimeClientError as exc:
                _runtime_failure(result, "stopping the node", exc)
    if not result.ok and not result.hint:
        result.hint = (
            "is nginx running and reloaded (`sudo nginx -s reload`)? does the public host "
            "resolve to this machine? `erigolem-provider check` names what is wrong"
        )
    return result


def _runtime_failure(result: SelfTestResult, what: str, exc: RuntimeClientError) -> None:
    """One FAIL line with the error's own message; its stderr/log tail goes to the details."""
    result.add(False, f"{what}: {exc.args[0] if exc.args else exc}")
    if exc.stderr_tail:
        result.details.append(exc.stderr_tail)
    result.ok = False
    result.hint = result.hint or (
        "the runtime's stderr and logs are in the log file named below; `erigolem-provider "
        "check` names configuration problems"
    )


LOG_NAME = "self-test.log"

#: What setup says instead of its next steps when the self-test failed.
FAILED_AFTER_SETUP = (
    "Setup wrote its files, but the provider does not work yet: fix the cause above, then run "
    "`erigolem-provider self-test` (`erigolem-provider uninstall` undoes everything)."
)


def run_and_report(
    layout: Layout,
    *,
    anvil_bin: str | None = None,
    verbose: bool = False,
    say: Callable[[str], None] = print,
) -> SelfTestResult:
    """Run the self-test and tell the provider the outcome in a few lines.

    A failure prints one root-cause line, its hint and the log file holding everything
    (progress, every check, the runtime's stderr and logs); ``verbose`` prints all of it too.
    An nginx that is not running is found before any node is started.
    """
    log: list[str] = []

    def note(line: str) -> None:
        log.append(line)
        if verbose:
            say(line)

    say("Self-test: starting a dev-chain node through the runtime...")
    down = nginx_down(layout)
    if down is not None:
        result = SelfTestResult(hint=down[1])
        result.add(False, down[0])
    else:
        result = asyncio.run(
            run_self_test(
                layout.runtime_config_path, anvil_bin=anvil_bin, progress=lambda m: note(f"  {m}")
            )
        )
    if result.ok:
        for line in result.lines:
            say(line)
        say("Self-test passed.")
        return result
    for line in result.lines + result.details:
        note(line)
    log_path = _write_log(layout.state_dir / LOG_NAME, log)
    say(f"Self-test FAILED: {result.cause}")
    if result.hint:
        say(f"hint: {result.hint}")
    where = f"everything in {log_path}" if log_path else "the log could not be written"
    say(f"Details: {where}" + ("" if verbose else " (or run again with --verbose)"))
    return result


def _write_log(path: Path, lines: list[str]) -> Path | None:
    """Write the self-test log owner-only (it names paths and users); None when impossible."""
    try:
        atomic_write(path, "\n".join(lines) + "\n", 0o600, fsync=False)
    except OSError:
        return None
    return path
