"""The runtime's configuration: a JSON file, validated into frozen dataclasses.

Location: the path in `ERIGOLEM_RUNTIME_CONFIG`, else
`$XDG_DATA_HOME/erigolem-runtime/erigolem-runtime.json` (`~/.local/share/...` by default, the
ya-runtime-sdk convention). Every key is documented in `runtime/README.md`. A bad file raises
`ConfigError` whose message names the key, says what is wrong and what to do.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NoReturn
from urllib.parse import urlsplit

from .api.files import atomic_write
from .api.paths import (
    CONFIG_ENV,
    PRIVATE_HTPASSWD_DIR,
    PRIVATE_INCLUDE_DIR,
    PRIVATE_LOG_DIR,
    SYSTEM_LOG_DIR,
    default_config_path,
)
from .profiles import nat_problem
from .warm import WARM_ADDR_RE, WarmChain, WarmConfig

NginxMode = Literal["private", "system"]
PRUNE_MODES = ("archive", "full", "minimal", "blocks")
HASH_SCHEMES = ("apr1", "ssha")
# nginx verifies the htpasswd hash on *every* request (it caches nothing), so the scheme's cost is
# paid per JSON-RPC call: apr1 (1000 MD5 rounds) costs ~0.19 ms of worker CPU per request here,
# {SSHA} (one salted SHA-1) a few microseconds. A slow hash only protects guessable passwords;
# ours are always 24 random characters (~143 bits, credentials.new_password), so recovering one
# from a leaked {SSHA} line takes ~2^142 SHA-1 evaluations either way (SHA-1's collision
# weakness does not help find a preimage), and the 16-byte salt keeps equal passwords apart.
# Hence the cheap salted scheme is the default; apr1 remains for htpasswd tooling that wants it.
DEFAULT_HASH_SCHEME = "ssha"
CHAIN_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
LISTEN_RE = re.compile(r"127\.0\.0\.1:(\d{1,5})")
# Characters that would let a configured path change the meaning of an nginx config line.
_UNSAFE_PATH_CHARS = set("\"\\$;{}#'") | {chr(c) for c in range(32)} | {"\x7f"}


class ConfigError(Exception):
    """The config file is missing or wrong; the message names the key and what to do."""


@dataclass(frozen=True)
class NginxConfig:
    """How instances are exposed: a private nginx master we run, or the provider's system nginx."""

    mode: NginxMode
    binary: str = "nginx"
    prefix: Path | None = None  # private: the master's prefix (conf/, logs/, tmp/ below it)
    listen: str | None = None  # private: "127.0.0.1:PORT"
    include_dir: Path | None = None  # holds http/*.conf and server/*.conf (see README)
    htpasswd_dir: Path | None = None
    log_dir: Path | None = None  # per-instance access logs (request counter)
    reload_command: tuple[str, ...] | None = None  # system
    test_command: tuple[str, ...] | None = None  # system (private: derived from prefix)
    check_url: str | None = None  # system: local base URL polled after a reload (optional)
    htpasswd_group: str | None = None  # system: files 0640 in this group (e.g. www-data)
    pid_file: Path | None = None  # system: the master's pid file, to wait out old workers
    hash_scheme: str = DEFAULT_HASH_SCHEME  # see DEFAULT_HASH_SCHEME for why

    @property
    def listen_port(self) -> int:
        """The private master's port (only in private mode)."""
        if self.listen is None:
            raise ConfigError("nginx.listen is not set (needed in private mode)")
        return int(self.listen.rsplit(":", 1)[1])

    def resolved_include_dir(self) -> Path:
        if self.include_dir is not None:
            return self.include_dir
        assert self.prefix is not None
        return self.prefix / PRIVATE_INCLUDE_DIR

    def resolved_htpasswd_dir(self) -> Path:
        if self.htpasswd_dir is not None:
            return self.htpasswd_dir
        assert self.prefix is not None
        return self.prefix / PRIVATE_HTPASSWD_DIR

    def resolved_log_dir(self, state_dir: Path) -> Path:
        if self.log_dir is not None:
            return self.log_dir
        if self.prefix is not None:
            return self.prefix / PRIVATE_LOG_DIR
        return state_dir / SYSTEM_LOG_DIR


@dataclass(frozen=True)
class PortRange:
    """Inclusive range of TCP/UDP ports handed to Ethereum clients (`ports.first..ports.last`)."""

    first: int
    last: int

    def __len__(self) -> int:
        return self.last - self.first + 1

    def __iter__(self) -> Any:
        return iter(range(self.first, self.last + 1))


@dataclass(frozen=True)
class AnvilConfig:
    binary: str | None = None


@dataclass(frozen=True)
class ErigonConfig:
    binary: str | None = None
    prune_mode: str = "full"
    extra_args: tuple[str, ...] = ()
    nat: str | None = None  # Erigon's --nat: how peers reach this host (e.g. "extip:203.0.113.7")


@dataclass(frozen=True)
class ClientsConfig:
    anvil: AnvilConfig = field(default_factory=AnvilConfig)
    erigon: ErigonConfig = field(default_factory=ErigonConfig)


@dataclass(frozen=True)
class RestartPolicy:
    """When a client is restarted: deaths and hangs, backoff, budget that renews when stable."""

    max_restarts: int = 3
    backoff_sec: float = 2.0
    unresponsive_sec: float = 60.0  # alive but silent on JSON-RPC this long: restart (0 = off)
    stable_sec: float = 600.0  # healthy this long: the max_restarts budget starts over


@dataclass(frozen=True)
class RuntimeConfig:
    """The whole runtime config; build it with `load_config` or `parse_config`."""

    public_url: str
    nginx: NginxConfig
    ports: PortRange
    state_dir: Path
    data_dir: Path
    clients: ClientsConfig = field(default_factory=ClientsConfig)
    chains: tuple[str, ...] = ("dev",)
    keep_datadirs: Mapping[str, Path] = field(default_factory=dict)
    max_instances: int = 4
    restart: RestartPolicy = field(default_factory=RestartPolicy)
    warm: WarmConfig = field(default_factory=WarmConfig)  # warm.py: rpcdaemon per rental
    source: Path | None = field(default=None, compare=False)

    def instance_url(self, instance_id: str) -> str:
        """The URL a requestor uses for one instance: public_url + "/<instance_id>/"."""
        return f"{self.public_url.rstrip('/')}/{instance_id}/"

    def to_json(self) -> dict[str, Any]:
        """The JSON form `parse_config` reads back (paths absolute)."""
        n = self.nginx
        nginx: dict[str, Any] = {"mode": n.mode, "binary": n.binary}
        for key in ("prefix", "include_dir", "htpasswd_dir", "log_dir", "pid_file"):
            value = getattr(n, key)
            if value is not None:
                nginx[key] = str(value)
        for key in ("listen", "check_url", "htpasswd_group"):
            value = getattr(n, key)
            if value is not None:
                nginx[key] = value
        for key in ("reload_command", "test_command"):
            value = getattr(n, key)
            if value is not None:
                nginx[key] = list(value)
        nginx["hash_scheme"] = n.hash_scheme
        out: dict[str, Any] = {
            "public_url": self.public_url,
            "nginx": nginx,
            "ports": {"first": self.ports.first, "last": self.ports.last},
            "state_dir": str(self.state_dir),
            "data_dir": str(self.data_dir),
            "clients": {
                "anvil": {"binary": self.clients.anvil.binary},
                "erigon": {
                    "binary": self.clients.erigon.binary,
                    "prune_mode": self.clients.erigon.prune_mode,
                    "extra_args": list(self.clients.erigon.extra_args),
                    "nat": self.clients.erigon.nat,
                },
            },
            "chains": list(self.chains),
            "keep_datadirs": {k: str(v) for k, v in self.keep_datadirs.items()},
            "max_instances": self.max_instances,
            "restart": {
                "max_restarts": self.restart.max_restarts,
                "backoff_sec": self.restart.backoff_sec,
                "unresponsive_sec": self.restart.unresponsive_sec,
                "stable_sec": self.restart.stable_sec,
            },
        }
        if self.warm.rpcdaemon or self.warm.chains:
            out["warm"] = self.warm.to_json()
        return out


# --------------------------------------------------------------------------- validation


class _Obj:
    """One JSON object being read: tracks its key path and which keys were consumed."""

    def __init__(self, data: object, path: str, where: str, base: Path) -> None:
        self.path = path
        self.where = where
        self.base = base
        if not isinstance(data, dict):
            self.fail(path or "(top level)", f"must be a JSON object, got {_kind(data)}")
        self.data: dict[str, Any] = data
        self.seen: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def fail(self, key: str, problem: str, hint: str = "") -> NoReturn:
        hint = hint or "fix it (keys are documented in runtime/README.md)"
        raise ConfigError(f"config key '{key}' {problem} in {self.where}: {hint}")

    def has(self, name: str) -> bool:
        return self.data.get(name) is not None

    def raw(self, name: str, required: bool) -> Any:
        self.seen.add(name)
        value = self.data.get(name)
        if value is None and required:
            self.fail(self.key(name), "is missing", "add it (see runtime/README.md for an example)")
        return value

    def str_(self, name: str, default: str | None = None, required: bool = False) -> str | None:
        value = self.raw(name, required)
        if value is None:
            return default
        if not isinstance(value, str) or not value:
            self.fail(self.key(name), f"must be a non-empty string, got {_kind(value)}")
        return value

    def int_(self, name: str, default: int, lo: int, hi: int) -> int:
        value = self.raw(name, False)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(self.key(name), f"must be an integer, got {_kind(value)}")
        if not lo <= value <= hi:
            self.fail(self.key(name), f"is {value}, must be between {lo} and {hi}")
        return value

    def float_(self, name: str, default: float, lo: float, hi: float) -> float:
        value = self.raw(name, False)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(self.key(name), f"must be a number, got {_kind(value)}")
        if not lo <= value <= hi:
            self.fail(self.key(name), f"is {value}, must be between {lo} and {hi}")
        return float(value)

    def path_(self, name: str, required: bool = False) -> Path | None:
        value = self.str_(name, required=required)
        if value is None:
            return None
        return _safe_path(self, self.key(name), value)

    def argv(self, name: str) -> tuple[str, ...] | None:
        value = self.raw(name, False)
        if value is None:
            return None
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(v, str) and v for v in value)
        ):
            self.fail(
                self.key(name),
                f"must be a non-empty list of strings (an argv), got {_kind(value)}",
                'write it as a list, e.g. ["nginx", "-s", "reload"]',
            )
        return tuple(value)

    def chain_keys(self, example: str) -> list[str]:
        """The keys of an object keyed by chain name ("_"-prefixed comments skipped); a key that
        is not a valid chain name fails, naming `example` as the form to use."""
        chains = []
        for chain in list(self.data):
            if chain.startswith("_"):
                continue
            if CHAIN_RE.fullmatch(chain) is None:
                self.fail(self.key(chain), "is not a valid chain name", f"use names like {example}")
            chains.append(chain)
        return chains

    def obj(self, name: str, required: bool = False) -> _Obj:
        value = self.raw(name, required)
        return _Obj({} if value is None else value, self.key(name), self.where, self.base)

    def done(self) -> None:
        unknown = sorted(k for k in self.data if k not in self.seen and not k.startswith("_"))
        if unknown:
            known = ", ".join(sorted(self.seen))
            self.fail(
                self.key(unknown[0]),
                "is not a known key",
                f"remove or rename it (known keys here: {known}; keys starting with '_' are "
                "comments)",
            )


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"number {value}"
    if isinstance(value, str):
        return f"string {json.dumps(value)[:40]}"
    if isinstance(value, list):
        return "a list"
    return "an object" if isinstance(value, dict) else type(value).__name__


def _safe_path(obj: _Obj, key: str, value: str) -> Path:
    bad = sorted({ch for ch in value if ch in _UNSAFE_PATH_CHARS})
    if bad:
        obj.fail(
            key,
            f"contains characters not allowed in paths ({', '.join(repr(b) for b in bad)})",
            "choose a path without quotes, backslashes, '$', ';', '{', '}', '#' or control "
            "characters (it is written into nginx config)",
        )
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = obj.base / path
    return Path(os.path.normpath(path))


def _check_url(obj: _Obj, key: str, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        obj.fail(key, f"is {value!r}, not an http(s) URL", 'write e.g. "https://node.example.org"')
    if parts.query or parts.fragment or any(ch.isspace() or ch in '"$' for ch in value):
        obj.fail(key, f"is {value!r}: no query, fragment, spaces, quotes or '$' allowed")
    return value.rstrip("/")


def _parse_nginx(top: _Obj) -> NginxConfig:
    o = top.obj("nginx", required=True)
    mode = o.str_("mode", required=True)
    if mode not in ("private", "system"):
        o.fail(o.key("mode"), f"is {mode!r}", 'use "private" (own master) or "system"')
    binary = o.str_("binary", "nginx")
    assert binary is not None
    hash_scheme = o.str_("hash_scheme", DEFAULT_HASH_SCHEME)
    if hash_scheme not in HASH_SCHEMES:
        o.fail(o.key("hash_scheme"), f"is {hash_scheme!r}", f"use one of {', '.join(HASH_SCHEMES)}")
    assert hash_scheme is not None
    check_url = o.str_("check_url")
    cfg = NginxConfig(
        mode=mode,  # type: ignore[arg-type]
        binary=binary,
        prefix=o.path_("prefix", required=mode == "private"),
        listen=o.str_("listen", required=mode == "private"),
        include_dir=o.path_("include_dir", required=mode == "system"),
        htpasswd_dir=o.path_("htpasswd_dir", required=mode == "system"),
        log_dir=o.path_("log_dir"),
        reload_command=o.argv("reload_command"),
        test_command=o.argv("test_command"),
        check_url=None if check_url is None else _check_url(o, o.key("check_url"), check_url),
        htpasswd_group=o.str_("htpasswd_group"),
        pid_file=o.path_("pid_file"),
        hash_scheme=hash_scheme,
    )
    if cfg.listen is not None:
        m = LISTEN_RE.fullmatch(cfg.listen)
        if m is None or not 1 <= int(m.group(1)) <= 65535:
            o.fail(o.key("listen"), f"is {cfg.listen!r}", 'use "127.0.0.1:PORT" (loopback only)')
    if mode == "system" and cfg.reload_command is None:
        o.fail(
            o.key("reload_command"),
            "is missing (needed in system mode)",
            'set the command that reloads the system nginx, e.g. ["sudo", "-n", '
            '"/usr/sbin/nginx", "-s", "reload"]',
        )
    if cfg.htpasswd_group is not None and not re.fullmatch(
        r"[a-z_][a-z0-9_-]{0,31}", cfg.htpasswd_group
    ):
        o.fail(
            o.key("htpasswd_group"), f"is {cfg.htpasswd_group!r}", "use a group name like www-data"
        )
    o.done()
    return cfg


def _parse_clients(top: _Obj) -> ClientsConfig:
    o = top.obj("clients")
    a = o.obj("anvil")
    anvil = AnvilConfig(binary=a.str_("binary"))
    a.done()
    e = o.obj("erigon")
    prune = e.str_("prune_mode", "full")
    if prune not in PRUNE_MODES:
        e.fail(e.key("prune_mode"), f"is {prune!r}", f"use one of {', '.join(PRUNE_MODES)}")
    assert prune is not None
    extra = e.raw("extra_args", False)
    if extra is not None and (
        not isinstance(extra, list) or not all(isinstance(x, str) for x in extra)
    ):
        e.fail(e.key("extra_args"), f"must be a list of strings, got {_kind(extra)}")
    nat = e.str_("nat")
    if nat is not None:
        problem = nat_problem(nat)
        if problem is not None:
            e.fail(
                e.key("nat"),
                f"is {nat!r}: {problem}",
                'e.g. "extip:203.0.113.7" (this host\'s public IP) behind NAT, or leave it out',
            )
    erigon = ErigonConfig(
        binary=e.str_("binary"), prune_mode=prune, extra_args=tuple(extra or ()), nat=nat
    )
    e.done()
    o.done()
    return ClientsConfig(anvil=anvil, erigon=erigon)


def parse_config(data: object, where: str = "config", base: Path | None = None) -> RuntimeConfig:
    """Validate parsed JSON into a RuntimeConfig; relative paths resolve against `base`."""
    top = _Obj(data, "", where, base or Path.cwd())
    public_url = top.str_("public_url", required=True)
    assert public_url is not None
    public_url = _check_url(top, "public_url", public_url)
    nginx = _parse_nginx(top)
    p = top.obj("ports", required=True)
    if not p.has("first") or not p.has("last"):
        p.fail(
            p.key("first" if not p.has("first") else "last"),
            "is missing",
            "give both ports.first and ports.last",
        )
    first = p.int_("first", 0, 1024, 65535)
    last = p.int_("last", 0, 1024, 65535)
    if last < first:
        p.fail("ports.last", f"({last}) is below ports.first ({first})", "swap them")
    p.done()
    state_dir = top.path_("state_dir", required=True)
    data_dir = top.path_("data_dir", required=True)
    assert state_dir is not None
    assert data_dir is not None
    clients = _parse_clients(top)
    chains_raw = top.raw("chains", False)
    if chains_raw is None:
        chains: tuple[str, ...] = ("dev",)
    else:
        if not isinstance(chains_raw, list) or not chains_raw:
            top.fail("chains", f"must be a non-empty list of chain names, got {_kind(chains_raw)}")
        for item in chains_raw:
            if not isinstance(item, str) or CHAIN_RE.fullmatch(item) is None:
                top.fail(
                    "chains", f"has an invalid chain name {_kind(item)}", "use names like sepolia"
                )
        chains = tuple(dict.fromkeys(chains_raw))
    keep = top.obj("keep_datadirs")
    keep_datadirs: dict[str, Path] = {}
    for chain in keep.chain_keys("sepolia"):
        path = keep.path_(chain, required=True)
        assert path is not None
        keep_datadirs[chain] = path
    keep.done()
    max_instances = top.int_("max_instances", 4, 1, 1000)
    r = top.obj("restart")
    restart = RestartPolicy(
        max_restarts=r.int_("max_restarts", 3, 0, 100),
        backoff_sec=r.float_("backoff_sec", 2.0, 0.0, 3600.0),
        unresponsive_sec=r.float_("unresponsive_sec", 60.0, 0.0, 86400.0),
        stable_sec=r.float_("stable_sec", 600.0, 1.0, 30 * 86400.0),
    )
    if 0 < restart.unresponsive_sec < 1:
        r.fail(
            r.key("unresponsive_sec"),
            f"is {restart.unresponsive_sec}, must be 0 (no hang detection) or at least 1",
            "give seconds, e.g. 60",
        )
    r.done()
    warm = _parse_warm(top, keep_datadirs)
    top.done()
    return RuntimeConfig(
        public_url=public_url,
        nginx=nginx,
        ports=PortRange(first, last),
        state_dir=state_dir,
        data_dir=data_dir,
        clients=clients,
        chains=chains,
        keep_datadirs=keep_datadirs,
        max_instances=max_instances,
        restart=restart,
        warm=warm,
    )


def load_config(path: Path | None = None) -> RuntimeConfig:
    """Read and validate the config file (`path`, else `default_config_path()`)."""
    path = Path(path) if path is not None else default_config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"no runtime config at {path}: write one (example in runtime/README.md), or run "
            f"`erigolem-runtime local-config DIR` and point {CONFIG_ENV} at the file it prints"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the runtime config {path}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"the runtime config {path} is not valid JSON (line {exc.lineno}, column "
            f"{exc.colno}: {exc.msg}): fix the syntax"
        ) from None
    config = parse_config(data, where=str(path), base=path.parent.resolve())
    return dataclasses.replace(config, source=path)


def config_text(config: RuntimeConfig) -> str:
    """The config file's text for `config` (what `save_config` writes and `load_config` reads)."""
    return json.dumps(config.to_json(), indent=2) + "\n"


def save_config(config: RuntimeConfig, path: Path) -> Path:
    """Write `config` as JSON atomically (tmp file + rename), mode 0600; returns the path."""
    path = Path(path)
    atomic_write(path, config_text(config), mode=0o600)
    return path


def parse_warm(
    data: object, where: str = "config", keep_datadirs: Mapping[str, Path] | None = None
) -> WarmConfig:
    """Validate the JSON of a config's ``warm`` section alone (provider setup asks for it).

    The same reader `parse_config` uses, so errors name the key (``warm.chains.mainnet...``)
    and the fix exactly as they would on reading the whole file.
    """
    top = _Obj({"warm": data}, "", where, Path("/"))
    return _parse_warm(top, keep_datadirs or {})


def _parse_warm(top: _Obj, keep_datadirs: Mapping[str, Path]) -> WarmConfig:
    """Read the ``warm`` section (absent = warm mode off); errors name the key and the fix."""
    w = top.obj("warm")
    rpcdaemon = w.str_("rpcdaemon")
    c = w.obj("chains")
    chains: dict[str, WarmChain] = {}
    for chain in c.chain_keys("mainnet"):
        entry = c.obj(chain)
        addr = entry.str_("private_api", required=True)
        assert addr is not None
        m = WARM_ADDR_RE.fullmatch(addr)
        if m is None or not 1 <= int(m.group(1)) <= 65535:
            entry.fail(
                entry.key("private_api"),
                f"is {addr!r}",
                'give the warm Erigon\'s --private.api.addr on loopback, e.g. "127.0.0.1:9090" '
                "(rpcdaemon reads the datadir locally, so it runs on the same host)",
            )
        datadir = entry.path_("datadir", required=True)
        assert datadir is not None
        if keep_datadirs.get(chain) == datadir:
            entry.fail(
                entry.key("datadir"),
                f"is also keep_datadirs.{chain}",
                f"a private rental would start a second Erigon on the warm node's datadir: "
                f"remove keep_datadirs.{chain} or give the warm node its own datadir",
            )
        entry.done()
        chains[chain] = WarmChain(private_api=addr, datadir=datadir)
    c.done()
    if chains and rpcdaemon is None:
        w.fail(
            w.key("rpcdaemon"),
            "is missing (warm.chains is set)",
            "set it to the rpcdaemon executable built with your Erigon (e.g. "
            '"/usr/local/bin/rpcdaemon")',
        )
    w.done()
    return WarmConfig(rpcdaemon=rpcdaemon, chains=chains)
