"""Pre-flight before a Golem start: yagna reachable, app key accepted, funds, gftp installed.

Each check gives one plain line saying what is wrong and what to do, so the Start dialog can
list them all at once instead of the first error only. Everything is awaited on the loop
(aiohttp for yagna's REST `/me`, an asyncio subprocess for `yagna payment status`), so the
window never waits. yagna's REST API has no balance call; the funds come from its CLI, which
reaches the daemon over its GSB (`GSB_URL` when set, else yagna's default). A funds check that
cannot run (no `yagna` on PATH) is a warning, not a refusal: yagna will say so at the start.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import Enum

import aiohttp
from erigolem_runtime.api.process import child_environment

from erigolem_desktop.core.backends.golem import errors
from erigolem_desktop.core.backends.golem.config import GolemConfig

STATUS_TIMEOUT = 20.0  # seconds for `yagna payment status` (the driver asks its chain RPC)


class Outcome(Enum):
    """How one check ended: ok, failed (blocks the start), unknown (a warning only)."""

    OK = "ok"
    FAILED = "failed"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Check:
    """One pre-flight line: which part, how it ended, and the sentence to show."""

    name: str
    outcome: Outcome
    text: str

    @property
    def failed(self) -> bool:
        return self.outcome is Outcome.FAILED


@dataclass
class Preflight:
    """All checks of one pre-flight; `ready` when none failed."""

    checks: list[Check] = field(default_factory=list)
    identity: str = ""

    @property
    def ready(self) -> bool:
        return not any(c.failed for c in self.checks)

    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.failed]


def _fail(name: str, exc: errors.GolemError) -> Check:
    return Check(name, Outcome.FAILED, f"{exc.message} {exc.hint}".strip())


async def _ask_me(config: GolemConfig) -> tuple[Check, Check, str]:
    """The yagna and app key lines from one GET /me (401 means: reachable, key refused)."""
    headers = {"Authorization": f"Bearer {config.app_key}"} if config.app_key else {}
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
            session.get(f"{config.api_url}/me", headers=headers) as resp,
        ):
            body = await resp.text()
            status = resp.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        down = _fail(
            "yagna", errors.YagnaNotRunning(config.api_url, str(exc) or type(exc).__name__)
        )
        key = (
            Check(
                "app key", Outcome.UNKNOWN, "The app key was not checked: yagna is not reachable."
            )
            if config.app_key
            else _fail("app key", errors.MissingAppKey())
        )
        return down, key, ""
    up = Check("yagna", Outcome.OK, f"yagna answers at {config.api_url}.")
    if not config.app_key:
        return up, _fail("app key", errors.MissingAppKey()), ""
    if status == 401:
        return up, _fail("app key", errors.WrongAppKey(config.api_url)), ""
    if status != 200:
        return up, _fail("app key", errors.from_status(config.api_url, status, body)), ""
    try:
        identity = str(json.loads(body)["identity"])
    except (ValueError, KeyError, TypeError):
        bad = errors.GolemError(
            f"{config.api_url} does not answer like yagna.",
            "Check the yagna API URL in Settings / YAGNA_API_URL.",
        )
        return _fail("yagna", bad), Check("app key", Outcome.UNKNOWN, "Not checked."), ""
    return up, Check("app key", Outcome.OK, f"The app key is accepted (node {identity})."), identity


def _amount(value: object) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


async def check_funds(config: GolemConfig, *, engine_running: bool = False) -> Check:
    """Whether yagna holds enough on the payment network for the app's allocation, and gas."""
    network = config.payment_network
    look = f"`yagna payment status --network {network}`"
    yagna = shutil.which("yagna")
    if yagna is None:
        return Check(
            "funds",
            Outcome.UNKNOWN,
            f"The funds were not checked: the yagna program is not on PATH. Check them with {look}.",
        )
    try:
        proc = await asyncio.create_subprocess_exec(
            yagna,
            "payment",
            "status",
            "--network",
            network,
            "--driver",
            config.payment_driver,
            "--json",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=child_environment(keep=("GSB_URL", "YAGNA_DATADIR")),
        )
    except OSError as exc:
        return Check("funds", Outcome.UNKNOWN, f"The funds were not checked ({exc}). Try {look}.")
    try:
        out, err = await asyncio.wait_for(proc.communicate(), STATUS_TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return Check(
            "funds",
            Outcome.UNKNOWN,
            f"{look} did not answer within {STATUS_TIMEOUT:.0f} s; the {network} network's "
            "Ethereum RPC may be slow. Check the balance yourself before a long start.",
        )
    if proc.returncode != 0:
        first = next((line for line in err.decode(errors="replace").splitlines() if line), "")
        return Check(
            "funds",
            Outcome.FAILED,
            f"yagna cannot read its balance on {network} ({first[:200]}). Make sure the "
            f"{network} network's Ethereum RPC is reachable, then check with {look}.",
        )
    try:
        status = json.loads(out)
        amount = _amount(status["amount"])
        reserved = _amount(status.get("reserved", "0")) or Decimal(0)
        gas = _amount(status.get("gas", {}).get("balance", "0"))
        token = str(status.get("token", config.payment_token.upper()))
        gas_name = str(status.get("gas", {}).get("currency_short_name", "ETH"))
    except (ValueError, KeyError, TypeError, AttributeError):
        return Check("funds", Outcome.UNKNOWN, f"{look} answered in a form this app cannot read.")
    if amount is None:
        return Check("funds", Outcome.UNKNOWN, f"{look} gave no amount.")
    free = amount - reserved
    fund = (
        "buy GLM and ETH for gas"
        if network in ("mainnet", "polygon")
        else f"`yagna payment fund --network {network}`"
    )
    if not engine_running and free < config.budget_glm:
        return Check(
            "funds",
            Outcome.FAILED,
            f"yagna has {free} {token} free on {network} (of {amount}, {reserved} reserved); "
            f"the app reserves {config.budget_glm} {token} for its nodes. Top it up ({fund}) "
            "or lower the Golem budget in Settings.",
        )
    if gas is not None and gas <= 0:
        return Check(
            "funds",
            Outcome.FAILED,
            f"yagna has no {gas_name} on {network} to pay the providers' transfers with. "
            f"Top it up ({fund}).",
        )
    return Check(
        "funds", Outcome.OK, f"{free} {token} free on {network}, {gas} {gas_name} for gas."
    )


def check_gftp() -> Check:
    """gftp on PATH (yapapi starts `gftp server` when the engine starts)."""
    try:
        errors.check_gftp()
    except errors.GftpMissing as exc:
        return _fail("gftp", exc)
    return Check("gftp", Outcome.OK, "gftp is installed.")


async def run_preflight(config: GolemConfig, *, engine_running: bool = False) -> Preflight:
    """Every check, in the order a user fixes them: yagna, app key, funds, gftp."""
    daemon, key, identity = await _ask_me(config)
    report = Preflight([daemon, key], identity)
    if daemon.outcome is Outcome.OK and key.outcome is Outcome.OK:
        report.checks.append(await check_funds(config, engine_running=engine_running))
    else:
        report.checks.append(
            Check("funds", Outcome.UNKNOWN, "The funds were not checked: yagna must answer first.")
        )
    report.checks.append(check_gftp())
    return report
