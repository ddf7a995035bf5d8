"""The setup wizard as a GUI-agnostic state machine (Electrum's ``wizard.py`` is the model).

Steps are data: an id, a title, an explanation, the answer fields they own, a validator and the
next step. Front ends (terminal prompts, Qt pages, ``--non-interactive``) only show a step, set
answers and call :meth:`SetupWizard.next` / :meth:`SetupWizard.back`; validation, the plan and
apply live here. Validators call the probes in ``prereqs``/``nginx_site`` and never write.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from erigolem_runtime.provider import (
    DESCRIPTOR_FILE,
    ERIGON_CHAINS,
    ERIGON_PORTS,
    PRUNE_MODES,
    AnvilConfig,
    ClientsConfig,
    ConfigError,
    ErigonConfig,
    NginxConfig,
    PortRange,
    RuntimeConfig,
    WarmConfig,
    check_config,
    config_text,
    nat_problem,
    parse_warm,
    plugin_descriptor,
    runtime_version,
    validated,
)

from erigolem_provider import nginx_site, prereqs
from erigolem_provider.answers import Answers
from erigolem_provider.layout import Layout, default_runtime_path
from erigolem_provider.plan import (
    ApplyResult,
    Command,
    FileWrite,
    MakeDir,
    Plan,
    PlanError,
    apply_plan,
    preflight,
)
from erigolem_provider.prereqs import Finding
from erigolem_provider.pricing import (
    PresetsError,
    Pricing,
    merged_presets,
    preset_exists,
    preset_matches,
    ya_provider_commands,
)

StepId = str


class StepInvalid(Exception):
    """``next()`` was refused: the step has errors (listed in ``findings``)."""

    def __init__(self, step: StepId, findings: list[Finding]) -> None:
        self.step = step
        self.findings = findings
        super().__init__(
            f"step {step}: " + "; ".join(f.message for f in findings if f.level == "error")
        )


@dataclass(frozen=True)
class Step:
    """One wizard page: what it explains, which answers it owns, how it validates, what's next."""

    id: StepId
    title: str
    intro: str
    fields: tuple[str, ...]
    validate: Callable[[SetupWizard], list[Finding]]
    next: StepId | None


# --------------------------------------------------------------------------------- validators


def _resolved(name: str, explicit: str | None) -> str | None:
    return prereqs.which(name, explicit)


def validate_prereqs(wz: SetupWizard) -> list[Finding]:
    a = wz.answers
    return (
        prereqs.check_binaries(
            yagna=a.yagna_bin,
            ya_provider=a.ya_provider_bin,
            golemsp=a.golemsp_bin,
            nginx=a.nginx_bin,
            erigon=a.erigon_bin,
            runtime=a.runtime_path or default_runtime_path(),
        )
        + _anvil_finding(a)
        + _exe_unit_finding(wz)
    )


def _exe_unit_finding(wz: SetupWizard) -> list[Finding]:
    """The plugins dir must hold exe-unit: ya-provider refuses a descriptor whose supervisor
    is missing (and does not start), so only an explicit flag lets setup write one anyway."""
    supervisor = wz.layout.plugins_dir / "exe-unit"
    if supervisor.is_file() and os.access(supervisor, os.X_OK):
        return [Finding("ok", "exe-unit", str(supervisor))]
    what = (
        f"{supervisor} not found: ya-provider refuses a plugin descriptor whose supervisor "
        "is missing and would not start"
    )
    if wz.answers.allow_missing_exe_unit:
        return [
            Finding(
                "warning",
                "exe-unit",
                f"{what}; writing it anyway (--allow-missing-exe-unit): "
                f"{prereqs.GOLEM_INSTALL_HINT}",
                "allow_missing_exe_unit",
            )
        ]
    return [
        Finding(
            "error",
            "exe-unit",
            f"{what}. Point --plugins-dir at the directory holding exe-unit, or "
            f"{prereqs.GOLEM_INSTALL_HINT[0].lower()}{prereqs.GOLEM_INSTALL_HINT[1:]}; to "
            "prepare the files before Golem is installed, pass --allow-missing-exe-unit",
            "allow_missing_exe_unit",
        )
    ]


def _anvil_finding(a: Answers) -> list[Finding]:
    path = _resolved("anvil", a.anvil_bin)
    if path:
        return [Finding("ok", "anvil", f"{path} (dev chain, used by the self-test)")]
    if a.anvil_bin:
        return [
            Finding(
                "error", "anvil", f"{a.anvil_bin} does not exist or is not executable", "anvil_bin"
            )
        ]
    return [
        Finding(
            "warning",
            "anvil",
            "not found: the self-test needs it (npm install @foundry-rs/anvil, or pass "
            "--anvil-bin PATH); the dev chain is not offered without it",
            "anvil_bin",
        )
    ]


def validate_runtime(wz: SetupWizard) -> list[Finding]:
    a = wz.answers
    out: list[Finding] = []
    bad = [c for c in a.chains if c not in ERIGON_CHAINS]
    if not a.chains:
        out.append(Finding("error", "chains", "choose at least one chain to offer", "chains"))
    if bad:
        out.append(
            Finding(
                "error",
                "chains",
                f"unknown chain(s) {', '.join(bad)}: choose from {', '.join(ERIGON_CHAINS)}",
                "chains",
            )
        )
    if a.prune_mode not in PRUNE_MODES:
        out.append(
            Finding(
                "error",
                "prune mode",
                f"{a.prune_mode!r} is not one of {', '.join(PRUNE_MODES)}",
                "prune_mode",
            )
        )
    if not 1 <= a.max_instances <= 1000:
        out.append(Finding("error", "instances", "maximum nodes must be 1..1000", "max_instances"))
    if not (1024 <= a.port_first <= a.port_last <= 65535):
        out.append(
            Finding(
                "error",
                "port range",
                f"{a.port_first}-{a.port_last} is not a range within 1024-65535 (first <= last)",
                "port_first",
            )
        )
    else:
        need = a.max_instances * len(ERIGON_PORTS)
        if a.port_last - a.port_first + 1 < need:
            out.append(
                Finding(
                    "error",
                    "port range",
                    f"{a.max_instances} nodes need {need} ports, the range holds "
                    f"{a.port_last - a.port_first + 1}: widen it or lower the maximum",
                    "port_last",
                )
            )
        if a.port_first <= a.port <= a.port_last:
            out.append(
                Finding(
                    "error",
                    "port range",
                    f"the public port {a.port} lies inside the client port range: move one",
                    "port_first",
                )
            )
    out.extend(validate_warm(wz))
    if a.erigon_nat is not None and (problem := nat_problem(a.erigon_nat)) is not None:
        out.append(Finding("error", "Erigon NAT", f"{a.erigon_nat!r}: {problem}", "erigon_nat"))
    data_dir = wz.data_dir
    if not nginx_site.safe_path(data_dir):
        out.append(
            Finding("error", "data directory", f"{data_dir}: use a plain absolute path", "data_dir")
        )
    if not bad and a.chains and a.prune_mode in PRUNE_MODES:
        out.extend(prereqs.check_disk(data_dir, [c for c in a.chains if c != "dev"], a.prune_mode))
    erigon_chains = [c for c in a.chains if c != "dev"]
    if erigon_chains and not _resolved("erigon", a.erigon_bin):
        # with nothing else to serve, the runtime's `test` fails and ya-provider would not start
        dev_served = "dev" in a.chains and _resolved("anvil", a.anvil_bin) is not None
        out.append(
            Finding(
                "warning" if dev_served else "error",
                "erigon",
                f"no Erigon binary: {', '.join(erigon_chains)} cannot start until you pass "
                "--erigon-bin PATH (and run setup again)"
                + ("" if dev_served else "; without it this provider serves no chain"),
                "erigon_bin",
            )
        )
    return out


WARM_EXAMPLE = "mainnet=127.0.0.1:9090,/data/erigon"


def warm_entries(entries: list[str]) -> dict[str, dict[str, str]]:
    """`CHAIN=127.0.0.1:PORT,DATADIR` entries as the runtime config's `warm.chains` JSON.

    ValueError names the entry and the form; the values themselves are checked by the
    runtime's own reader (`parse_warm`).
    """
    chains: dict[str, dict[str, str]] = {}
    for entry in entries:
        chain, eq, rest = entry.partition("=")
        addr, comma, datadir = rest.partition(",")
        chain, addr, datadir = chain.strip(), addr.strip(), datadir.strip()
        if not (eq and comma and chain and addr and datadir):
            raise ValueError(
                f"--warm-chain {entry!r}: use CHAIN=127.0.0.1:PORT,DATADIR (the warm Erigon's "
                f"--private.api.addr and --datadir), e.g. {WARM_EXAMPLE}"
            )
        if not datadir.startswith("/"):
            raise ValueError(
                f"--warm-chain {entry!r}: the datadir {datadir!r} must be an absolute path "
                "(the --datadir the warm Erigon runs on)"
            )
        if chain in chains:
            raise ValueError(f"--warm-chain: {chain} is given twice; keep one entry per chain")
        chains[chain] = {"private_api": addr, "datadir": datadir}
    return chains


def validate_warm(wz: SetupWizard) -> list[Finding]:
    """The warm answers, read by the runtime's own `warm` reader, and offered chains only."""
    a = wz.answers
    if not a.warm_chain:
        if a.warm_rpcdaemon is None:
            return []
        return [
            Finding(
                "warning",
                "warm",
                "--warm-rpcdaemon is set but no --warm-chain: warm mode stays off",
                "warm_chain",
            )
        ]
    try:
        warm = wz.warm_config()
    except (ValueError, ConfigError) as exc:
        return [Finding("error", "warm", str(exc), "warm_chain")]
    out: list[Finding] = []
    for chain, entry in warm.chains.items():
        if chain == "dev" or chain not in a.chains:
            out.append(
                Finding(
                    "error",
                    "warm",
                    f"warm chain {chain} is not an offered Erigon chain (chains: "
                    f"{', '.join(a.chains)}): add it to --chains, or drop its --warm-chain",
                    "warm_chain",
                )
            )
        if not nginx_site.safe_path(entry.datadir):
            out.append(
                Finding(
                    "error",
                    "warm",
                    f"--warm-chain {chain}: datadir {entry.datadir}: use a plain absolute path",
                    "warm_chain",
                )
            )
    rpcdaemon = warm.rpcdaemon or ""
    if not (os.path.isfile(rpcdaemon) and os.access(rpcdaemon, os.X_OK)):
        out.append(
            Finding(
                "error",
                "warm",
                f"rpcdaemon {rpcdaemon} does not exist or is not executable: pass "
                "--warm-rpcdaemon PATH (the rpcdaemon built with your Erigon)",
                "warm_rpcdaemon",
            )
        )
    if not out:
        served = ", ".join(f"{c} ({w.private_api})" for c, w in warm.chains.items())
        out.append(Finding("ok", "warm", f"{served} via {rpcdaemon}"))
    return out


def validate_nginx(wz: SetupWizard) -> list[Finding]:
    a = wz.answers
    out: list[Finding] = []
    if not nginx_site.valid_host(a.host):
        out.append(
            Finding(
                "error",
                "host",
                f"{a.host!r} is not a valid host name: use a DNS name like node.example.org "
                "or an IPv4 address",
                "host",
            )
        )
    if not 1 <= a.port <= 65535:
        out.append(Finding("error", "port", f"port {a.port} is not within 1-65535", "port"))
    if a.listen_address and not nginx_site.IPV4_RE.match(a.listen_address):
        out.append(
            Finding(
                "error",
                "listen address",
                f"{a.listen_address!r} is not an IPv4 address (leave empty for all interfaces)",
                "listen_address",
            )
        )
    if bool(a.tls_cert) != bool(a.tls_key):
        out.append(
            Finding(
                "error",
                "TLS",
                "give both the certificate and its key, or neither for plain HTTP",
                "tls_cert" if not a.tls_cert else "tls_key",
            )
        )
    for name, p in (("tls_cert", a.tls_cert), ("tls_key", a.tls_key)):
        if p is not None and not Path(p).is_file():
            out.append(Finding("error", "TLS", f"{p} does not exist", name))
        elif p is not None and not nginx_site.safe_path(Path(p)):
            out.append(Finding("error", "TLS", f"{p}: use a plain absolute path", name))
    if any(f.level == "error" for f in out):
        return out
    try:
        wz.main_conf_change()
    except nginx_site.NginxConfError as exc:
        out.append(Finding("error", "nginx.conf", str(exc), "nginx_conf"))
        return out
    escapes, no_pid = nginx_site.escapes_root(wz.layout, a.nginx_prefix)
    if escapes:
        out.append(
            Finding(
                "error",
                "--root",
                f"{wz.layout.nginx_main_conf} names paths outside the root {wz.layout.root} "
                f"({'; '.join(escapes)}): `nginx -t` would check the system config and the "
                "reload would signal the system nginx. --root only redirects the files setup "
                "writes; rewrite those paths under the root, or preview a real setup with "
                "--dry-run instead",
                "nginx_conf",
            )
        )
        return out
    if no_pid:
        out.append(
            Finding(
                "warning",
                "--root",
                f"{wz.layout.nginx_main_conf} has {no_pid}: the reload after applying would "
                "signal the system nginx (if one runs); add `pid <root>/...;` to it",
                "nginx_conf",
            )
        )
    clashes = nginx_site.foreign_listeners(wz.layout, a.listen_address, a.port)
    for c in clashes:
        out.append(
            Finding(
                "error",
                "port",
                f"another nginx server already listens on port {a.port} ({c.file}:{c.line}): "
                "choose another --port, or disable that server",
                "port",
            )
        )
    ours = wz.layout.server_block_path.exists() and f":{a.port}" in _listen_ports_text(
        wz.layout.server_block_path
    )
    if not clashes and not ours and not prereqs.port_free(a.listen_address, a.port):
        out.append(
            Finding(
                "error",
                "port",
                f"port {a.port} is already in use on {a.listen_address or 'this machine'} by "
                "another program: choose another --port or stop that program",
                "port",
            )
        )
    if not any(f.level == "error" for f in out):
        out.append(prereqs.reachability_hint(a.host, a.port, bool(a.tls_cert)))
    return out


def _listen_ports_text(path: Path) -> str:
    try:
        return " ".join(f":{lst.port}" for lst in nginx_site.listens([path]))
    except OSError:
        return ""


def validate_pricing(wz: SetupWizard) -> list[Finding]:
    a = wz.answers
    out = [Finding("error", "pricing", msg, name) for name, msg in wz.pricing.problems()]
    if not out and a.initial_price == a.price_per_hour == a.price_per_1k_requests == 0:
        out.append(Finding("warning", "pricing", "all prices are 0: you will earn nothing"))
    if not out:
        try:
            merged_presets(wz.layout.presets_path, wz.pricing)
        except PresetsError as exc:
            out.append(Finding("error", "presets.json", str(exc)))
    return out


def validate_review(wz: SetupWizard) -> list[Finding]:
    try:
        plan = wz.plan()
    except (PlanError, ConfigError, ValueError, nginx_site.NginxConfError, PresetsError) as exc:
        return [Finding("error", "plan", str(exc))]
    problems = preflight(plan, [wz.layout.manifest_path])
    return [Finding("error", "write access", p) for p in problems] + runtime_test_findings(wz)


def runtime_test_findings(wz: SetupWizard) -> list[Finding]:
    """The runtime's own ``test`` on the config setup is about to write (nothing is written).

    ya-provider runs that test at start-up and aborts on failure, so its errors stop setup;
    its warnings are shown (``check`` shows them again later).
    """
    try:
        config = wz.runtime_config()
    except ConfigError as exc:
        return [Finding("error", "runtime config", str(exc))]
    report = check_config(config, create_dirs=False)
    return [
        Finding(
            "error",
            "runtime test",
            f"{p} (the runtime's `test` would fail and ya-provider would not start)",
        )
        for p in report.errors
    ] + [Finding("warning", "runtime", p) for p in report.warnings]


def _no_checks(_wz: SetupWizard) -> list[Finding]:
    return []


STEPS: dict[StepId, Step] = {
    s.id: s
    for s in (
        Step(
            "prereqs",
            "Prerequisites",
            "Setup looks for the programs a provider needs: the Golem provider (yagna, "
            "ya-provider, golemsp), nginx, Erigon and the erigolem-runtime itself. Missing "
            "Golem parts are warnings: the files can be prepared before Golem is installed.",
            (
                "nginx_bin",
                "erigon_bin",
                "anvil_bin",
                "yagna_bin",
                "ya_provider_bin",
                "runtime_path",
                "allow_missing_exe_unit",
            ),
            validate_prereqs,
            "runtime",
        ),
        Step(
            "runtime",
            "Runtime",
            "What you offer: chains, Erigon's prune mode, how many nodes may run at once, the "
            "ports they may use and where chain data goes. Setup writes the runtime config and "
            "registers the runtime with yagna (plugin descriptor). Optionally, warm mode: "
            "renters get an own rpcdaemon on an Erigon you already run and keep synced (setup "
            "never starts or stops that Erigon).",
            (
                "chains",
                "prune_mode",
                "max_instances",
                "port_first",
                "port_last",
                "erigon_nat",
                "data_dir",
                "warm_rpcdaemon",
                "warm_chain",
            ),
            validate_runtime,
            "nginx",
        ),
        Step(
            "nginx",
            "Public address (nginx)",
            "Requestors reach their node at https://HOST:PORT/<node>/ through nginx, with a "
            "password per node. Setup writes its own server block; it never rewrites your "
            "nginx.conf, and adds at most one include line to it (shown before anything is "
            "written).",
            ("host", "port", "listen_address", "tls_cert", "tls_key"),
            validate_nginx,
            "pricing",
        ),
        Step(
            "pricing",
            "Pricing",
            "Your price for a node: a start price, a price per hour and per 1000 requests, in "
            "GLM. Setup creates and activates the ya-provider preset erigon (named after the "
            "runtime, as golemsp expects).",
            ("initial_price", "price_per_hour", "price_per_1k_requests"),
            validate_pricing,
            "review",
        ),
        Step(
            "review",
            "Review",
            "Every change setup will make. Nothing has been written yet.",
            (),
            validate_review,
            "apply",
        ),
        Step(
            "apply",
            "Apply and self-test",
            "Setup writes the files (backing up what it replaces), checks the nginx config, "
            "reloads nginx, then starts a dev-chain node through the public URL to prove it "
            "works.",
            (),
            _no_checks,
            "summary",
        ),
        Step("summary", "Done", "What was set up and what to do next.", (), _no_checks, None),
    )
}
FIRST_STEP: StepId = "prereqs"


# ----------------------------------------------------------------------------------- wizard


@dataclass
class SetupWizard:
    """Holds the answers and the current step; builds the plan and applies it."""

    layout: Layout
    answers: Answers = field(default_factory=Answers)
    current: StepId = FIRST_STEP
    history: list[StepId] = field(default_factory=list)
    applied: ApplyResult | None = None

    # navigation -------------------------------------------------------------------------------
    @property
    def step(self) -> Step:
        return STEPS[self.current]

    def findings(self, step_id: StepId | None = None) -> list[Finding]:
        """The step's checks against the current answers (probes run; nothing is written)."""
        return STEPS[step_id or self.current].validate(self)

    def can_next(self) -> bool:
        return self.step.next is not None and not any(f.level == "error" for f in self.findings())

    def next(self) -> StepId:
        """Validate the current step and move on; raises StepInvalid with the errors."""
        findings = self.try_next()
        errors = [f for f in findings if f.level == "error"]
        if errors:
            raise StepInvalid(self.current, errors)
        return self.current

    def try_next(self) -> list[Finding]:
        """Validate the current step once (probes run) and move on unless it has errors.

        Returns every finding of the step (oks and warnings too), so a front end shows what
        was checked without running the probes a second time.
        """
        target = self.step.next
        if target is None:
            return [Finding("error", "wizard", "this is the last step")]
        findings = self.findings()
        if not any(f.level == "error" for f in findings):
            self.history.append(self.current)
            self.current = target
        return findings

    def back(self) -> StepId:
        if self.history:
            self.current = self.history.pop()
        return self.current

    def validate_all(self) -> list[Finding]:
        """Findings of every input step and the review, in order (non-interactive mode)."""
        out: list[Finding] = []
        for sid in ("prereqs", "runtime", "nginx", "pricing"):
            out.extend(self.findings(sid))
        if not any(f.level == "error" for f in out):
            out.extend(self.findings("review"))
        return out

    # derived values -----------------------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        return self.answers.data_dir or self.layout.runtime_data_dir / "data"

    @property
    def pricing(self) -> Pricing:
        a = self.answers
        return Pricing(a.initial_price, a.price_per_hour, a.price_per_1k_requests)

    @property
    def site(self) -> nginx_site.SiteSettings:
        a = self.answers
        return nginx_site.SiteSettings(a.host, a.port, a.listen_address, a.tls_cert, a.tls_key)

    def main_conf_change(self) -> str | None:
        return nginx_site.main_conf_with_include(self.layout)

    def nginx_bin(self) -> str:
        return _resolved("nginx", self.answers.nginx_bin) or self.answers.nginx_bin or "nginx"

    def runtime_config(self) -> RuntimeConfig:
        """The runtime config (``nginx.mode = system`` pointing at our include dir), validated.

        Built as the runtime's typed config and put through the runtime's own validator, so
        setup never writes a file the runtime would refuse to read (ConfigError says why).
        """
        a = self.answers
        layout = self.layout
        test_cmd, reload_cmd = nginx_site.nginx_commands(self.nginx_bin(), layout, a.nginx_prefix)
        # anvil only serves the dev chain: configured without it, `test` would refuse the config
        anvil = self.anvil_bin() if "dev" in a.chains else None
        erigon = _resolved("erigon", a.erigon_bin) or (str(a.erigon_bin) if a.erigon_bin else None)
        check_url = None if a.tls_cert else f"http://{a.listen_address or '127.0.0.1'}:{a.port}"
        config = RuntimeConfig(
            public_url=a.public_url,
            nginx=NginxConfig(
                mode="system",
                binary=self.nginx_bin(),
                include_dir=layout.nginx_erigolem_dir,
                htpasswd_dir=layout.htpasswd_dir,
                log_dir=layout.runtime_data_dir / "access-logs",
                reload_command=tuple(reload_cmd),
                test_command=tuple(test_cmd),
                check_url=check_url,
                pid_file=nginx_site.master_pid_file(layout, a.nginx_prefix),
                htpasswd_group=a.htpasswd_group or None,
            ),
            ports=PortRange(a.port_first, a.port_last),
            state_dir=layout.runtime_data_dir / "state",
            data_dir=self.data_dir,
            clients=ClientsConfig(
                anvil=AnvilConfig(binary=anvil),
                erigon=ErigonConfig(binary=erigon, prune_mode=a.prune_mode, nat=a.erigon_nat),
            ),
            chains=tuple(dict.fromkeys(a.chains)),
            max_instances=a.max_instances,
            warm=self.warm_config() if a.warm_chain else WarmConfig(),
        )
        return validated(config, "the generated runtime config")

    def warm_config(self) -> WarmConfig:
        """The warm section from the answers, through the runtime's own reader.

        ValueError for an entry not of the form CHAIN=ADDR,DATADIR; ConfigError (naming the
        key and the fix) for what the runtime would refuse.
        """
        a = self.answers
        rpcdaemon = _resolved("rpcdaemon", str(a.warm_rpcdaemon) if a.warm_rpcdaemon else None)
        data = {
            "rpcdaemon": rpcdaemon or (str(a.warm_rpcdaemon) if a.warm_rpcdaemon else None),
            "chains": warm_entries(a.warm_chain),
        }
        if data["rpcdaemon"] is None:
            raise ValueError(
                "warm chains need the rpcdaemon executable: pass --warm-rpcdaemon PATH (the "
                "rpcdaemon built with your Erigon), or put rpcdaemon on PATH"
            )
        return parse_warm(data, where="the warm answers (--warm-rpcdaemon, --warm-chain)")

    def anvil_bin(self) -> str | None:
        """The anvil binary found for the dev chain and the self-test (None when none is)."""
        return _resolved("anvil", self.answers.anvil_bin)

    def runtime_path(self) -> str:
        return str(self.answers.runtime_path or default_runtime_path())

    # plan / apply ------------------------------------------------------------------------------
    def plan(self) -> Plan:
        """Every directory, file and command of this setup (nothing is written here)."""
        layout = self.layout
        a = self.answers
        plan = Plan()
        config = self.runtime_config()
        erigolem = layout.nginx_erigolem_dir
        plan.dirs += [
            MakeDir(layout.plugins_dir, "yagna plugins directory"),
            MakeDir(layout.runtime_config_path.parent, "runtime config directory"),
            MakeDir(layout.runtime_data_dir / "state", "runtime state (port leases, instances)"),
            MakeDir(
                layout.runtime_data_dir / "access-logs", "per-node access logs (request counter)"
            ),
            MakeDir(self.data_dir, "chain data"),
            MakeDir(layout.server_block_path.parent, "nginx conf.d"),
            MakeDir(erigolem / "http", "nginx: http-level files written by the runtime"),
            MakeDir(erigolem / "server", "nginx: one location per rented node (runtime)"),
            MakeDir(layout.htpasswd_dir, "nginx: one password file per rented node", 0o750),
        ]
        descriptor = plugin_descriptor(self.runtime_path(), runtime_version())
        plan.files.append(
            FileWrite(
                layout.plugins_dir / DESCRIPTOR_FILE,
                json.dumps(descriptor, indent=2) + "\n",
                "plugin descriptor: registers runtime erigon with ya-provider",
            )
        )
        plan.files.append(
            FileWrite(
                layout.runtime_config_path,
                config_text(config),
                "runtime config (nginx system mode)",
                0o600,
            )
        )
        plan.files.append(
            FileWrite(
                layout.server_block_path,
                nginx_site.server_block(self.site, layout),
                f"nginx server block on port {a.port}",
            )
        )
        main = self.main_conf_change()
        if main is not None:
            plan.notes.append(
                f"{layout.nginx_main_conf} does not include {layout.server_block_path.parent}: "
                "setup adds ONE include line to it (nothing else changes; uninstall restores it)"
            )
            mode = layout.nginx_main_conf.stat().st_mode & 0o777
            plan.files.append(
                FileWrite(
                    layout.nginx_main_conf, main, "one include line for the server block", mode
                )
            )
        pricing = self.pricing
        ya_provider = _resolved("ya-provider", a.ya_provider_bin)
        if ya_provider:
            plan.dirs.append(MakeDir(layout.ya_provider_data_dir, "ya-provider data directory"))
            same = preset_matches(layout.presets_path, pricing)
            env = (
                ("DATA_DIR", str(layout.ya_provider_data_dir)),
                ("EXE_UNIT_PATH", str(layout.plugins_dir / "ya-*.json")),
            )
            for argv in ya_provider_commands(
                ya_provider, pricing, preset_exists(layout.presets_path, pricing.preset_name)
            ):
                plan.commands.append(
                    Command(
                        tuple(argv),
                        f"pricing preset ({' '.join(argv[1:3])})",
                        "mutate",
                        touches=(layout.presets_path,),
                        env=env,
                        skip_if_unchanged=same,
                    )
                )
        else:
            plan.dirs.append(MakeDir(layout.ya_provider_data_dir, "ya-provider data directory"))
            plan.files.append(
                FileWrite(
                    layout.presets_path,
                    merged_presets(layout.presets_path, pricing),
                    f"pricing preset {pricing.preset_name!r} for runtime erigon, active "
                    "(presets.json V1; ya-provider not found)",
                )
            )
        test_cmd, reload_cmd = nginx_site.nginx_commands(self.nginx_bin(), layout, a.nginx_prefix)
        plan.commands.append(Command(tuple(test_cmd), "nginx config test", "validate"))
        plan.commands.append(Command(tuple(reload_cmd), "nginx reload", "reload"))
        return plan

    def apply(self, progress: Callable[[str], None] | None = None) -> ApplyResult:
        """Apply the plan (all or nothing); the result says what changed (or "unchanged")."""
        plan = self.plan()
        self.applied = apply_plan(
            plan, self.layout.manifest_path, self.layout.backup_dir, progress=progress
        )
        return self.applied

    def summary(self) -> list[str]:
        """Next steps for the provider, shown on the last page."""
        a = self.answers
        lines = [
            f"Public URL: {a.public_url}/<node>/ (one location and password per rented node)",
            f"Runtime config: {self.layout.runtime_config_path}",
            f"Plugin descriptor: {self.layout.plugins_dir / DESCRIPTOR_FILE}",
            f"Pricing preset: {self.pricing.preset_name} (start {a.initial_price} GLM, "
            f"{a.price_per_hour} GLM/h, {a.price_per_1k_requests} GLM per 1000 requests)",
            "Next: open TCP port "
            f"{a.port} in your firewall, start the provider (`golemsp run`), and check "
            "everything any time with `erigolem-provider check`.",
            "Undo everything with `erigolem-provider uninstall`.",
        ]
        if a.warm_chain:
            lines.append(
                f"Warm chains: {', '.join(self.warm_config().chains)} (an own rpcdaemon per "
                "rental on the Erigon you run: keep it running and synced; setup does not "
                "start it)"
            )
        if not shutil.which("ya-provider") and not a.ya_provider_bin:
            lines.append("Golem provider not installed yet: " + prereqs.GOLEM_INSTALL_HINT)
        return lines
