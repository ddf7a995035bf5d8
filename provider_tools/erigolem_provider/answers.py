"""The wizard's answers (one typed record) and the description of each field for front ends."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from erigolem_runtime.provider import DEFAULT_PRUNE_MODE, ERIGON_CHAINS, PRUNE_MODES

FieldKind = Literal["text", "int", "float", "bool", "choice", "multi", "path", "entries"]
#: How a front end's one text line holds several `entries` (e.g. warm chains): "a; b".
ENTRY_SEP = ";"


@dataclass
class Answers:
    """Every choice setup needs; defaults are what a typical provider wants."""

    # prerequisites: binaries (None = look on PATH)
    nginx_bin: str | None = None
    erigon_bin: str | None = None
    anvil_bin: str | None = None
    yagna_bin: str | None = None
    ya_provider_bin: str | None = None
    golemsp_bin: str | None = None
    runtime_path: str | None = None
    #: write the descriptor although the plugins dir has no exe-unit (Golem not installed yet)
    allow_missing_exe_unit: bool = False
    # runtime
    data_dir: Path | None = None  # None = <runtime data dir>/data
    chains: list[str] = field(default_factory=lambda: ["sepolia"])
    prune_mode: str = DEFAULT_PRUNE_MODE
    max_instances: int = 2
    port_first: int = 31000
    port_last: int = 31999
    erigon_nat: str | None = None  # Erigon --nat (e.g. extip:<public IP>); None: Erigon's default
    # warm mode (runtime config `warm`): an rpcdaemon per rental on an Erigon the provider runs
    warm_rpcdaemon: Path | None = None  # None: `rpcdaemon` from PATH when warm chains are given
    warm_chain: list[str] = field(default_factory=list)  # "CHAIN=127.0.0.1:PORT,DATADIR" each
    # nginx / public address
    host: str = ""
    port: int = 8545
    listen_address: str = ""
    tls_cert: Path | None = None
    tls_key: Path | None = None
    nginx_prefix: Path | None = None  # only for a non-system nginx (tests)
    htpasswd_group: str | None = None
    # pricing (GLM)
    initial_price: float = 0.0
    price_per_hour: float = 0.1
    price_per_1k_requests: float = 0.01

    @property
    def public_url(self) -> str:
        scheme = "https" if self.tls_cert else "http"
        default = 443 if self.tls_cert else 80
        port = "" if self.port == default else f":{self.port}"
        return f"{scheme}://{self.host}{port}"

    def set(self, name: str, value: Any) -> None:
        """Set one field, converting text input to the field's type (ValueError if impossible)."""
        spec = FIELDS[name]
        setattr(self, name, spec.convert(value))


@dataclass(frozen=True)
class FieldSpec:
    """How a front end asks for one answer: label, kind, help, choices, CLI flag."""

    name: str
    label: str
    kind: FieldKind
    help: str
    choices: tuple[str, ...] = ()
    optional: bool = False

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def convert(self, value: Any) -> Any:
        if value is None or (isinstance(value, str) and value.strip() == "" and self.optional):
            if self.kind in ("multi", "entries"):
                return []
            return None
        if self.kind == "entries":  # whole entries: commas and spaces belong to them
            items = value.split(ENTRY_SEP) if isinstance(value, str) else [str(v) for v in value]
            return [v.strip() for v in items if v.strip()]
        if self.kind == "int":
            return int(str(value).strip())
        if self.kind == "float":
            return float(str(value).strip())
        if self.kind == "bool":
            if isinstance(value, bool):
                return value
            return str(value).strip().lower() in ("1", "y", "yes", "true", "on")
        if self.kind == "path":
            return Path(str(value).strip()).expanduser()
        if self.kind == "multi":
            if isinstance(value, str):
                return [v.strip() for v in value.replace(" ", ",").split(",") if v.strip()]
            return [str(v) for v in value]
        return str(value).strip()

    def shown(self, value: Any) -> str:
        if value is None:
            return ""
        if self.kind == "multi":
            return ",".join(value)
        if self.kind == "entries":
            return f"{ENTRY_SEP} ".join(value)
        return str(value)


_F = FieldSpec
FIELDS: dict[str, FieldSpec] = {
    f.name: f
    for f in (
        _F("nginx_bin", "nginx", "path", "nginx executable (empty: from PATH)", optional=True),
        _F("erigon_bin", "Erigon", "path", "Erigon 3 executable (empty: from PATH)", optional=True),
        _F(
            "anvil_bin",
            "anvil",
            "path",
            "anvil executable for the dev chain and the self-test (empty: from PATH)",
            optional=True,
        ),
        _F("yagna_bin", "yagna", "path", "yagna executable (empty: from PATH)", optional=True),
        _F(
            "ya_provider_bin",
            "ya-provider",
            "path",
            "ya-provider executable (empty: from PATH)",
            optional=True,
        ),
        _F(
            "golemsp_bin", "golemsp", "path", "golemsp executable (empty: from PATH)", optional=True
        ),
        _F(
            "runtime_path",
            "erigolem-runtime",
            "path",
            "the erigolem-runtime executable ya-provider starts",
            optional=True,
        ),
        _F(
            "allow_missing_exe_unit",
            "Prepare without exe-unit",
            "bool",
            "write the plugin descriptor although the plugins dir has no exe-unit yet "
            "(ya-provider refuses such a descriptor until Golem is installed there)",
        ),
        _F(
            "data_dir",
            "Chain data directory",
            "path",
            "where nodes keep their chain data (needs lots of disk)",
            optional=True,
        ),
        _F(
            "chains",
            "Chains offered",
            "multi",
            "chains requestors may rent",
            ERIGON_CHAINS,
        ),
        _F(
            "prune_mode",
            "Prune mode",
            "choice",
            "Erigon --prune.mode: archive keeps all history",
            PRUNE_MODES,
        ),
        _F(
            "max_instances",
            "Maximum nodes at once",
            "int",
            "how many rented nodes may run at the same time",
        ),
        _F(
            "port_first",
            "First client port",
            "int",
            "first port of the range handed to Ethereum clients",
        ),
        _F("port_last", "Last client port", "int", "last port of that range"),
        _F(
            "erigon_nat",
            "Erigon NAT",
            "text",
            "how peers reach Erigon's p2p ports behind NAT: extip:<public IP>, upnp, pmp, stun, "
            "any or none (empty: Erigon's default)",
            optional=True,
        ),
        _F(
            "warm_rpcdaemon",
            "Warm: rpcdaemon",
            "path",
            "rpcdaemon executable built with your Erigon, for warm rentals (empty: rpcdaemon "
            "from PATH when warm chains are given)",
            optional=True,
        ),
        _F(
            "warm_chain",
            "Warm: chains",
            "entries",
            "chains served warm from an Erigon YOU run and keep synced: CHAIN=127.0.0.1:PORT,"
            "DATADIR (its --private.api.addr and --datadir), e.g. "
            "mainnet=127.0.0.1:9090,/data/erigon; several separated by ';' (flag: repeat it); "
            "empty: no warm mode",
            optional=True,
        ),
        _F(
            "host",
            "Public host name",
            "text",
            "DNS name (or IPv4 address) requestors use to reach this machine",
        ),
        _F("port", "Public port", "int", "TCP port nginx listens on for requestors"),
        _F(
            "listen_address",
            "Listen address",
            "text",
            "IPv4 address nginx binds (empty: all interfaces)",
            optional=True,
        ),
        _F(
            "tls_cert",
            "TLS certificate",
            "path",
            "PEM certificate chain (empty: plain HTTP)",
            optional=True,
        ),
        _F(
            "tls_key",
            "TLS private key",
            "path",
            "PEM private key of that certificate",
            optional=True,
        ),
        _F(
            "nginx_prefix",
            "nginx prefix",
            "path",
            "prefix of a non-system nginx (-p); empty for the system nginx",
            optional=True,
        ),
        _F(
            "htpasswd_group",
            "Password file group",
            "text",
            "group of the nginx workers that read the password files (e.g. www-data)",
            optional=True,
        ),
        _F("initial_price", "Start price (GLM)", "float", "fixed price charged when a node starts"),
        _F("price_per_hour", "Price per hour (GLM)", "float", "price for each hour a node runs"),
        _F(
            "price_per_1k_requests",
            "Price per 1000 requests (GLM)",
            "float",
            "price for each 1000 JSON-RPC requests served",
        ),
    )
}
FIELD_NAMES = tuple(f.name for f in dataclasses.fields(Answers))
