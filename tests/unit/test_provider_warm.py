"""Provider setup asks for the runtime's `warm` section (issue 12 item 9): the flags
`--warm-rpcdaemon PATH --warm-chain CHAIN=ADDR,DATADIR`, the runtime's own reader as the judge,
the terminal prompts, and the written config read back by the runtime."""

from __future__ import annotations

from pathlib import Path

import pytest
from erigolem_provider.answers import Answers
from erigolem_provider.cli import answers_from, build_parser, main
from erigolem_provider.layout import Layout
from erigolem_provider.tui import run_tui
from erigolem_provider.wizard import SetupWizard
from erigolem_runtime.provider import load_config

from tests.support.binaries import (
    REPO,
    anvil_path,
    fake_erigon_binary,
    fake_rpcdaemon_binary,
    free_port,
)

ENTRY = "mainnet=127.0.0.1:9090,/data/erigon"


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    conf = tmp_path / "etc/nginx"
    conf.mkdir(parents=True)
    (conf / "nginx.conf").write_text(
        f"events {{}}\nhttp {{\n    include {conf}/conf.d/*.conf;\n}}\n"
    )
    return Layout.for_root(tmp_path)


@pytest.fixture
def bins(tmp_path: Path) -> tuple[Path, Path]:
    """An Erigon stand-in and the rpcdaemon stand-in (executables; setup only checks them)."""
    return fake_erigon_binary(tmp_path / "e"), fake_rpcdaemon_binary(tmp_path / "r")


def wizard_for(layout: Layout, bins: tuple[Path, Path], **kw: object) -> SetupWizard:
    a = Answers(
        host="node.example.org",
        port=free_port(),
        listen_address="127.0.0.1",
        chains=["dev", "mainnet"],
        erigon_bin=str(bins[0]),
        runtime_path=str(REPO / ".venv/bin/erigolem-runtime"),
        anvil_bin=str(anvil_path() or ""),
        allow_missing_exe_unit=True,  # no Golem under the test root
        nginx_bin="/bin/true",  # stands in for nginx -t / reload: no system nginx is touched
    )
    for k, v in kw.items():
        setattr(a, k, v)
    return SetupWizard(layout, a)


def test_flags_fill_the_warm_answers() -> None:
    ns = build_parser().parse_args(
        [
            "setup",
            "--warm-rpcdaemon",
            "/opt/erigon/rpcdaemon",
            "--warm-chain",
            ENTRY,
            "--warm-chain",
            "sepolia=127.0.0.1:9091,/data/sep",
        ]
    )
    a = answers_from(ns)
    assert a.warm_rpcdaemon == Path("/opt/erigon/rpcdaemon")
    assert a.warm_chain == [ENTRY, "sepolia=127.0.0.1:9091,/data/sep"]
    assert answers_from(build_parser().parse_args(["setup"])).warm_chain == []


def test_warm_section_is_written_and_the_runtime_reads_it_back(
    layout: Layout, bins: tuple[Path, Path]
) -> None:
    wz = wizard_for(layout, bins, warm_rpcdaemon=bins[1], warm_chain=[ENTRY])
    found = wz.findings("runtime")
    assert not [f for f in found if f.level == "error"], found
    assert any(f.subject == "warm" and f.level == "ok" for f in found)
    wz.apply()
    cfg = load_config(layout.runtime_config_path)
    assert cfg.warm.rpcdaemon == str(bins[1])
    assert cfg.warm.chains["mainnet"].private_api == "127.0.0.1:9090"
    assert cfg.warm.chains["mainnet"].datadir == Path("/data/erigon")
    assert any(line.startswith("Warm chains: mainnet") for line in wz.summary())
    # the runtime's own check warns (not errors) that the warm Erigon is not there
    review = wz.findings("review")
    assert not [f for f in review if f.level == "error"], review
    assert any("warm" in f.message and f.level == "warning" for f in review)


def test_without_warm_answers_the_config_has_no_warm_section(
    layout: Layout, bins: tuple[Path, Path]
) -> None:
    wz = wizard_for(layout, bins)
    assert not wz.runtime_config().warm.chains
    assert '"warm"' not in wz.plan().render()


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        ({"warm_chain": ["mainnet:9090"]}, "use CHAIN=127.0.0.1:PORT,DATADIR"),
        ({"warm_chain": ["mainnet=127.0.0.1:9090,data"]}, "must be an absolute path"),
        ({"warm_chain": [ENTRY, ENTRY]}, "mainnet is given twice"),
        # the runtime's reader: loopback only, naming the config key and the fix
        ({"warm_chain": ["mainnet=10.0.0.2:9090,/d"]}, "warm.chains.mainnet.private_api"),
        ({"warm_chain": ["mainnet=127.0.0.1:99999,/d"]}, "on loopback"),
        ({"warm_chain": ["hoodi=127.0.0.1:9090,/d"]}, "not an offered Erigon chain"),
        ({"warm_chain": ["dev=127.0.0.1:9090,/d"]}, "not an offered Erigon chain"),
        ({"warm_rpcdaemon": Path("/nonexistent/rpcdaemon")}, "does not exist or is not exec"),
    ],
)
def test_bad_warm_answers_are_clear_errors(
    layout: Layout, bins: tuple[Path, Path], kw: dict[str, object], expected: str
) -> None:
    base: dict[str, object] = {"warm_rpcdaemon": bins[1], "warm_chain": [ENTRY]}
    wz = wizard_for(layout, bins, **{**base, **kw})
    errors = [f for f in wz.findings("runtime") if f.level == "error"]
    assert any(expected in f.message for f in errors), errors
    assert {f.field for f in errors} <= {"warm_chain", "warm_rpcdaemon"}


def test_warm_chains_without_an_rpcdaemon_say_which_flag(
    layout: Layout, bins: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    wz = wizard_for(layout, bins, warm_chain=[ENTRY])
    errors = [f.message for f in wz.findings("runtime") if f.level == "error"]
    assert any("pass --warm-rpcdaemon PATH" in m for m in errors), errors


def test_rpcdaemon_alone_is_a_warning(layout: Layout, bins: tuple[Path, Path]) -> None:
    wz = wizard_for(layout, bins, warm_rpcdaemon=bins[1])
    found = [f for f in wz.findings("runtime") if f.subject == "warm"]
    assert [f.level for f in found] == ["warning"]


def test_non_interactive_setup_refuses_a_bad_warm_chain_and_writes_nothing(
    layout: Layout, bins: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["setup", "--root", str(layout.root), "--non-interactive", "--dry-run"]
    argv += ["--host", "node.example.org", "--port", str(free_port()), "--chains", "mainnet"]
    argv += ["--erigon-bin", str(bins[0]), "--nginx-bin", "/bin/true", "--allow-missing-exe-unit"]
    argv += ["--runtime-path", str(REPO / ".venv/bin/erigolem-runtime")]
    argv += ["--warm-rpcdaemon", str(bins[1])]
    assert main([*argv, "--warm-chain", "mainnet=0.0.0.0:9090,/data/erigon"]) == 2
    assert "give the warm Erigon's --private.api.addr on loopback" in capsys.readouterr().out
    assert not layout.runtime_config_path.exists()
    assert main([*argv, "--warm-chain", ENTRY]) == 0
    out = capsys.readouterr().out
    assert '"private_api": "127.0.0.1:9090"' in out  # the config's diff in the plan
    assert not layout.runtime_config_path.exists()  # dry run


def test_tui_asks_for_the_warm_section(layout: Layout, bins: tuple[Path, Path]) -> None:
    wz = wizard_for(layout, bins)
    prompts: list[str] = []
    script = iter(
        [*([""] * 7), "", *([""] * 7), str(bins[1]), f"{ENTRY}; hoodi=127.0.0.1:1,/x", "q"]
    )

    def ask(prompt: str) -> str:
        prompts.append(prompt)
        return next(script)

    out: list[str] = []
    assert run_tui(wz, ask=ask, say=out.append) == 2
    assert any(p.startswith("Warm: chains") for p in prompts)
    assert wz.answers.warm_chain == [ENTRY, "hoodi=127.0.0.1:1,/x"]
    assert "not an offered Erigon chain" in "\n".join(out)
