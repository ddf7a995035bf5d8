"""Client profiles: Erigon 3's command line checked against its documented flags; validation."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from erigolem_runtime import profiles
from erigolem_runtime.api import ServiceError
from erigolem_runtime.api.status import parse_quantity
from erigolem_runtime.probe import SyncStatus, parse_syncing

from tests.support import fake_erigon

ERIGON_PORTS = list(range(41000, 41000 + len(profiles.ERIGON_PORTS)))


@pytest.mark.parametrize("chain", profiles.ERIGON_CHAINS)
@pytest.mark.parametrize("prune", profiles.PRUNE_MODES)
def test_erigon_argv_uses_only_documented_flags(chain: str, prune: str, tmp_path: Path) -> None:
    argv = profiles.erigon_argv(
        "/opt/erigon", chain, tmp_path / "dd", ERIGON_PORTS, prune_mode=prune
    )
    assert argv[0] == "/opt/erigon"
    flags = fake_erigon.parse_args(argv[1:])  # raises FlagError on any undocumented flag/value
    assert flags["--chain"] == chain
    assert flags["--prune.mode"] == prune
    assert flags["--datadir"] == str(tmp_path / "dd")
    assert flags["--http.addr"] == "127.0.0.1"
    assert flags["--http"] == "true"
    assert flags["--metrics"] == "true"
    assert flags["--metrics.addr"] == "127.0.0.1"
    assert flags["--authrpc.addr"] == "127.0.0.1"
    assert flags["--private.api.addr"].startswith("127.0.0.1:")
    assert set(flags["--http.api"].split(",")) == {
        "eth", "erigon", "web3", "net", "debug", "trace", "txpool"
    }  # fmt: skip
    assert flags["--ws"] == "true"  # eth_subscribe works on Golem as on a dev node
    assert flags["--ws.port"] == flags["--http.port"]  # served on the RPC port: no 2nd listener
    assert flags["--http.vhosts"] == "localhost"


def test_erigon_ports_all_from_the_lease_and_unique(tmp_path: Path) -> None:
    argv = profiles.erigon_argv("erigon", "sepolia", tmp_path, ERIGON_PORTS)
    flags = fake_erigon.parse_args(argv[1:])
    used = [
        int(flags["--http.port"]),
        int(flags["--private.api.addr"].rsplit(":", 1)[1]),
        int(flags["--authrpc.port"]),
        int(flags["--torrent.port"]),
        int(flags["--port"]),
        int(flags["--caplin.discovery.port"]),
        int(flags["--caplin.discovery.tcpport"]),
        int(flags["--sentinel.port"]),
        int(flags["--beacon.api.port"]),
        int(flags["--metrics.port"]),
    ]
    allowed = [int(p) for p in flags["--p2p.allowed-ports"].split(",")]
    assert allowed[0] == int(flags["--port"])
    everything = set(used) | set(allowed)
    assert len(everything) == len(profiles.ERIGON_PORTS)  # no port given twice
    assert everything == set(ERIGON_PORTS)  # every one from this instance's lease
    assert int(flags["--http.port"]) == ERIGON_PORTS[profiles.PROFILES["erigon"].rpc_port_index]


def test_two_instances_share_no_port(tmp_path: Path) -> None:
    n = len(profiles.ERIGON_PORTS)
    a = profiles.erigon_argv("erigon", "mainnet", tmp_path / "a", list(range(42000, 42000 + n)))
    b = profiles.erigon_argv(
        "erigon", "mainnet", tmp_path / "b", list(range(42000 + n, 42000 + 2 * n))
    )

    def ports(argv: list[str]) -> set[str]:
        out: set[str] = set()
        for arg in argv[1:]:
            _, _, value = arg.partition("=")
            for part in value.replace(":", ",").split(","):
                if part.isdigit():
                    out.add(part)
        return out

    assert ports(a)
    assert not ports(a) & ports(b)


def test_fake_erigon_rejects_undocumented_flags() -> None:
    with pytest.raises(fake_erigon.FlagError, match="not defined"):
        fake_erigon.parse_args(["--http.port=1", "--no-such-flag"])
    with pytest.raises(fake_erigon.FlagError, match="prune"):
        fake_erigon.parse_args(["--prune.mode=htc"])
    with pytest.raises(fake_erigon.FlagError, match="port"):
        fake_erigon.parse_args(["--http.port=99999"])
    with pytest.raises(fake_erigon.FlagError, match="API"):
        fake_erigon.parse_args(["--http.api=eth,personal"])


def test_erigon_bad_prune_mode_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ServiceError, match=r"clients\.erigon\.prune_mode"):
        profiles.erigon_argv("erigon", "mainnet", tmp_path, ERIGON_PORTS, prune_mode="htc")


def test_erigon_needs_the_whole_lease(tmp_path: Path) -> None:
    with pytest.raises(ServiceError, match="ports needed"):
        profiles.erigon_argv("erigon", "mainnet", tmp_path, ERIGON_PORTS[:3])
    with pytest.raises(ServiceError, match="duplicate"):
        profiles.erigon_argv("erigon", "mainnet", tmp_path, [41000] * len(ERIGON_PORTS))


def test_anvil_argv() -> None:
    argv = profiles.anvil_argv("/bin/anvil", "dev", [45001])
    assert argv == ["/bin/anvil", "--host", "127.0.0.1", "--port", "45001"]
    argv = profiles.anvil_argv("/bin/anvil", "dev", [45001], chain_id=17000)
    assert argv[-2:] == ["--chain-id", "17000"]
    with pytest.raises(profiles.UnknownChain, match="dev"):
        profiles.anvil_argv("/bin/anvil", "mainnet", [45001])


def test_client_argv_dispatches(tmp_path: Path) -> None:
    anvil = profiles.get_profile("anvil")
    assert profiles.client_argv(anvil, "a", "dev", tmp_path, [45002])[3:5] == ["--port", "45002"]
    erigon = profiles.get_profile("erigon")
    assert "--chain=hoodi" in profiles.client_argv(erigon, "e", "hoodi", tmp_path, ERIGON_PORTS)


@pytest.mark.parametrize("bad", ["geth", "", "ERIGON", None, 3, "a" * 500, "../erigon"])
def test_unknown_client_lists_choices(bad: object) -> None:
    with pytest.raises(profiles.UnknownClient) as err:
        profiles.get_profile(bad)
    assert "erigon, anvil" in str(err.value)
    assert len(str(err.value)) < 200


@pytest.mark.parametrize("bad", ["goerli", "", "Mainnet", None, 1, "x;rm -rf /", "a" * 300])
def test_unknown_chain_lists_choices(bad: object) -> None:
    with pytest.raises(profiles.UnknownChain) as err:
        profiles.validate_chain(profiles.PROFILES["erigon"], bad)
    assert "mainnet, sepolia, holesky, hoodi, gnosis, chiado, dev" in str(err.value)
    assert len(str(err.value)) < 200


def test_chain_not_served_by_client_or_not_offered() -> None:
    anvil = profiles.PROFILES["anvil"]
    with pytest.raises(profiles.UnknownChain, match="served by client erigon"):
        profiles.validate_chain(anvil, "sepolia")
    erigon = profiles.PROFILES["erigon"]
    with pytest.raises(profiles.UnknownChain, match=r"does not offer chain 'mainnet'.*sepolia"):
        profiles.validate_chain(erigon, "mainnet", offered=["sepolia", "dev"])
    assert profiles.validate_chain(erigon, "sepolia", offered=["sepolia"]) == "sepolia"


def test_missing_binary_names_the_config_key(tmp_path: Path) -> None:
    erigon = profiles.PROFILES["erigon"]
    with pytest.raises(profiles.MissingBinary, match=r"clients\.erigon\.binary"):
        profiles.resolve_binary(erigon, None)
    with pytest.raises(profiles.MissingBinary, match=r"clients\.erigon\.binary"):
        profiles.resolve_binary(erigon, tmp_path / "nope")
    with pytest.raises(profiles.MissingBinary, match=r"clients\.anvil\.binary"):
        profiles.resolve_binary(profiles.PROFILES["anvil"], "no-such-anvil-binary-xyz")
    plain = tmp_path / "not-exec"
    plain.write_text("")
    with pytest.raises(profiles.MissingBinary, match="not executable"):
        profiles.resolve_binary(erigon, plain)
    plain.chmod(plain.stat().st_mode | stat.S_IXUSR)
    assert profiles.resolve_binary(erigon, plain) == plain
    assert os.access(profiles.resolve_binary(erigon, "sh"), os.X_OK)


def test_parse_syncing_with_erigon_stages() -> None:
    st = parse_syncing(
        {
            "currentBlock": "0x0",
            "highestBlock": "0x64",
            "stages": [
                {"stage_name": "Headers", "block_number": "0x64"},
                {"stage_name": "Bodies", "block_number": "0x32"},
                {"stage_name": "Finish", "block_number": "0x0"},
            ],
        }
    )
    assert st.syncing
    assert st.current_block == 0
    assert st.highest_block == 100
    assert st.stages == [("Headers", 100), ("Bodies", 50), ("Finish", 0)]
    assert st.progress == 0.5  # stage mean, although currentBlock is still 0
    js = st.sync_json()
    assert js is not None
    assert js["stages"][1] == {"name": "Bodies", "block": 50}


def test_parse_syncing_false_and_garbage() -> None:
    assert parse_syncing(False).sync_json() is None
    assert SyncStatus(syncing=False).progress == 1.0
    assert SyncStatus(syncing=True, highest_block=0).progress == 0.0
    assert SyncStatus(syncing=True, current_block=25, highest_block=100).progress == 0.25
    st = parse_syncing({"currentBlock": "zz", "stages": [{"stage_name": 3}, "x"]})
    assert st.current_block is None
    assert st.stages == []
    assert parse_quantity("0x10") == 16
    assert parse_quantity(True) is None
    assert parse_quantity(None) is None
    assert parse_quantity("12") == 12


def test_erigon_dev_chain_gets_the_sealer_erigon_requires(tmp_path: Path) -> None:
    """Erigon exits at start on --chain=dev without --miner.etherbase, and seals only with --mine."""
    argv = profiles.erigon_argv("erigon", "dev", tmp_path, ERIGON_PORTS)
    flags = fake_erigon.parse_args(argv[1:])
    assert fake_erigon.start_refusal(flags) is None
    assert flags["--mine"] == "true"
    assert flags["--miner.etherbase"] == profiles.ERIGON_DEV_ETHERBASE
    other = fake_erigon.parse_args(
        profiles.erigon_argv("erigon", "hoodi", tmp_path, ERIGON_PORTS)[1:]
    )
    assert "--mine" not in other  # only the dev chain seals blocks
    assert "--miner.etherbase" not in other


@pytest.mark.parametrize(
    ("version", "prune", "refused"),
    [
        ("3.0.4", "blocks", True),
        ("3.0.4", "full", False),
        ("3.1.0", "blocks", False),
        ("3.2.1-abcdef", "blocks", False),
    ],
)
def test_prune_mode_blocks_needs_erigon_3_1(
    tmp_path: Path, version: str, prune: str, refused: bool
) -> None:
    from tests.support.binaries import fake_erigon_binary

    binary = fake_erigon_binary(tmp_path / version, version)
    assert profiles.erigon_version(binary) == profiles.parse_erigon_version(version)
    if refused:
        with pytest.raises(ServiceError, match=r"exists from Erigon 3\.1") as err:
            profiles.check_erigon_binary(binary, prune)
        assert err.value.kind.value == "config"
        assert "set clients.erigon.prune_mode" in str(err.value)
    else:
        profiles.check_erigon_binary(binary, prune)


def test_nat_setting_reaches_erigon_and_bad_values_are_refused(tmp_path: Path) -> None:
    argv = profiles.erigon_argv(
        "erigon", "sepolia", tmp_path, ERIGON_PORTS, nat="extip:203.0.113.7"
    )
    assert fake_erigon.parse_args(argv[1:])["--nat"] == "extip:203.0.113.7"
    assert not any(
        a.startswith("--nat")
        for a in profiles.erigon_argv("erigon", "sepolia", tmp_path, ERIGON_PORTS)
    )
    assert profiles.nat_problem("upnp") is None
    assert profiles.nat_problem("pmp:192.168.0.1") is None
    assert profiles.nat_problem("extip:2001:db8::1") is None
    assert "not an IP address" in (profiles.nat_problem("extip:my-host") or "")
    assert "extip:<public IP>" in (profiles.nat_problem("yes") or "")


def test_sync_progress_is_not_held_below_100_by_a_stage_that_never_runs() -> None:
    names = ["Snapshots", "Headers", "BlockHashes", "Bodies", "Senders", "Execution",
             "CustomTrace", "TxLookup", "Finish"]  # fmt: skip

    def status(blocks: dict[str, int]) -> SyncStatus:
        stages = [{"stage_name": n, "block_number": hex(blocks.get(n, 1000))} for n in names]
        return parse_syncing({"currentBlock": "0x0", "highestBlock": hex(1000), "stages": stages})

    # everything executed, CustomTrace (not configured) at 0: a mean would say 89 %
    assert status({"CustomTrace": 0}).progress == 1.0
    # execution half way, the stages before it done
    assert (
        status({"Execution": 500, "CustomTrace": 0, "TxLookup": 0, "Finish": 0}).progress == 0.625
    )
    # snapshots still downloading: progress moves before execution starts
    early = status({n: 0 for n in names[2:]} | {"Snapshots": 500, "Headers": 1000})
    assert 0 < early.progress < 0.25
