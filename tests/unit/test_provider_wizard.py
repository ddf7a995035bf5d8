"""The provider wizard's state machine, plan/apply (rollback), parsing of nginx config, pricing
and the terminal front end, against a temporary root."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from erigolem_provider import nginx_site
from erigolem_provider.answers import FIELDS, Answers
from erigolem_provider.layout import Layout
from erigolem_provider.plan import FileWrite, MakeDir, Plan, PlanError, apply_plan
from erigolem_provider.pricing import PresetsError, Pricing, merged_presets
from erigolem_provider.tui import run_tui
from erigolem_provider.wizard import SetupWizard, StepInvalid

from tests.support.binaries import REPO, anvil_path, free_port


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    conf = tmp_path / "etc/nginx"
    conf.mkdir(parents=True)
    (conf / "nginx.conf").write_text(
        f"events {{}}\nhttp {{\n    include {conf}/conf.d/*.conf;\n}}\n"
    )
    return Layout.for_root(tmp_path)


def wizard_for(layout: Layout, **kw: object) -> SetupWizard:
    a = Answers(
        host="node.example.org",
        port=free_port(),
        listen_address="127.0.0.1",
        chains=["dev"],
        runtime_path=str(REPO / ".venv/bin/erigolem-runtime"),
        anvil_bin=str(anvil_path() or ""),
        allow_missing_exe_unit=True,  # no Golem under the test root
    )
    for k, v in kw.items():
        setattr(a, k, v)
    return SetupWizard(layout, a)


def test_layout_reroots_every_path(tmp_path: Path) -> None:
    lay = Layout.for_root(tmp_path)
    for p in (
        lay.plugins_dir,
        lay.ya_provider_data_dir,
        lay.nginx_conf_dir,
        lay.runtime_config_path,
        lay.state_dir,
    ):
        assert p.is_relative_to(tmp_path)


def test_navigation_refuses_invalid_step_and_goes_back(layout: Layout) -> None:
    wz = wizard_for(layout)
    assert wz.next() == "runtime"
    wz.answers.chains = ["nochain"]
    with pytest.raises(StepInvalid, match="unknown chain"):
        wz.next()
    wz.answers.chains = ["dev"]
    assert wz.next() == "nginx"
    wz.answers.host = "bad host"
    assert not wz.can_next()
    with pytest.raises(StepInvalid, match="not a valid host name"):
        wz.next()
    assert wz.back() == "runtime"
    assert wz.back() == "prereqs"
    assert wz.back() == "prereqs"


@pytest.mark.parametrize(
    ("host", "ok"),
    [
        ("node.example.org", True),
        ("1.2.3.4", True),
        ("a-b.c", True),
        ("-bad.org", False),
        ("bad_host.org", False),
        ("a" * 64 + ".org", False),
        ("", False),
        ("x;y", False),
        ("999.1.1.1", False),
    ],
)
def test_host_validation(host: str, ok: bool) -> None:
    assert nginx_site.valid_host(host) is ok


def test_field_conversion_errors_are_value_errors() -> None:
    a = Answers()
    a.set("chains", "dev, sepolia")
    assert a.chains == ["dev", "sepolia"]
    a.set("tls_cert", "")
    assert a.tls_cert is None
    with pytest.raises(ValueError):
        a.set("port", "eighty")
    assert FIELDS["price_per_hour"].flag == "--price-per-hour"


def test_port_range_and_public_port_checks(layout: Layout) -> None:
    wz = wizard_for(layout, max_instances=100, port_first=31000, port_last=31010)
    msgs = " ".join(f.message for f in wz.findings("runtime"))
    assert "need 1100 ports" in msgs
    wz = wizard_for(layout, port=31005)
    assert "inside the client port range" in " ".join(f.message for f in wz.findings("runtime"))


def test_listen_parsing() -> None:
    assert nginx_site.parse_listen("80") == ("", 80)
    assert nginx_site.parse_listen("127.0.0.1:8080 ssl") == ("127.0.0.1", 8080)
    assert nginx_site.parse_listen("[::]:443 ssl http2") == ("", 443)
    assert nginx_site.parse_listen("localhost") == ("localhost", 80)
    assert nginx_site.parse_listen("unix:/run/x.sock") is None


def test_foreign_listener_found_only_in_included_files(layout: Layout) -> None:
    confd = layout.nginx_conf_dir / "conf.d"
    confd.mkdir()
    (confd / "a.conf").write_text("server {\n  # listen 9000;\n  listen 9001;\n}\n")
    avail = layout.nginx_conf_dir / "sites-available"
    avail.mkdir()
    (avail / "b").write_text("server { listen 9000; }\n")  # not included: ignored
    assert nginx_site.foreign_listeners(layout, "", 9000) == []
    (hit,) = nginx_site.foreign_listeners(layout, "127.0.0.1", 9001)
    assert (hit.file.name, hit.line) == ("a.conf", 3)
    assert nginx_site.foreign_listeners(layout, "10.0.0.1", 9002) == []


def test_include_added_once_inside_http(tmp_path: Path) -> None:
    conf = tmp_path / "etc/nginx"
    conf.mkdir(parents=True)
    (conf / "nginx.conf").write_text("events {}\nhttp {\n    sendfile on;\n}\n")
    lay = Layout.for_root(tmp_path)
    new = nginx_site.main_conf_with_include(lay)
    assert new is not None
    assert new.count("include ") == 1
    assert "http {\n    include" in new
    (conf / "nginx.conf").write_text("events {}\n")
    with pytest.raises(nginx_site.NginxConfError, match="no http"):
        nginx_site.main_conf_with_include(lay)
    (conf / "nginx.conf").unlink()
    with pytest.raises(nginx_site.NginxConfError, match="no nginx main config"):
        nginx_site.main_conf_with_include(lay)


def test_presets_merge_keeps_others_and_rejects_v0(tmp_path: Path) -> None:
    path = tmp_path / "presets.json"
    other = {
        "name": "vm",
        "exeunit-name": "vm",
        "pricing-model": "linear",
        "initial-price": 0,
        "usage-coeffs": {},
    }
    path.write_text(json.dumps({"ver": "V1", "active": ["vm"], "presets": [other]}))
    data = json.loads(merged_presets(path, Pricing(per_hour=3.6, per_1k_requests=1)))
    assert data["active"] == ["vm", "erigon"]
    assert data["presets"][0] == other
    assert data["presets"][1]["usage-coeffs"] == {
        "golem.usage.duration_sec": 0.001,
        "golem.usage.erigon.requests": 0.001,
    }
    path.write_text(json.dumps({"active": [], "presets": []}))
    with pytest.raises(PresetsError, match="old format"):
        merged_presets(path, Pricing())
    path.write_text("{nope")
    with pytest.raises(PresetsError, match="not valid JSON"):
        merged_presets(path, Pricing())
    assert Pricing(per_hour=-1).problems()[0][0] == "price_per_hour"


def _failing_runner(
    argv: Sequence[str], env: Mapping[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.CompletedProcess(list(argv), 1, "", "nginx: [emerg] bad config")


def test_apply_rolls_back_everything_when_validation_fails(tmp_path: Path) -> None:
    existing = tmp_path / "keep.conf"
    existing.write_text("original\n")
    plan = Plan(
        dirs=[MakeDir(tmp_path / "new/deeper", "x")],
        files=[
            FileWrite(existing, "changed\n", "x"),
            FileWrite(tmp_path / "new/deeper/f", "f\n", "x"),
        ],
    )
    from erigolem_provider.plan import Command

    plan.commands.append(Command(("nginx", "-t"), "nginx config test", "validate"))
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    with pytest.raises(PlanError, match="bad config") as info:
        apply_plan(
            plan,
            tmp_path / "state/manifest.json",
            tmp_path / "state/backups",
            runner=_failing_runner,
        )
    assert "rolled back" in str(info.value)
    assert existing.read_text() == "original\n"
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before


def test_plan_render_shows_diffs_and_unchanged(tmp_path: Path) -> None:
    f = tmp_path / "a.txt"
    f.write_text("one\ntwo\n")
    plan = Plan(files=[FileWrite(f, "one\nthree\n", "demo")])
    text = plan.render()
    assert "-two" in text
    assert "+three" in text
    assert "[file modify" in text
    f.write_text("one\nthree\n")
    assert "unchanged" in plan.render()


def test_tui_walks_the_steps_with_scripted_answers(layout: Layout) -> None:
    wz = wizard_for(layout)
    port = wz.answers.port
    script = [
        *([""] * 7),  # prereqs fields: keep
        "",  # continue
        *["dev", "", "", "", "", "", "", "", ""],  # runtime fields (the last two: warm)
        "",
        *["bad host", "", "", "", ""],  # nginx: invalid host -> error
        "e",  # edit again
        *["node.example.org", str(port), "127.0.0.1", "", ""],
        "",
        *["0", "0.5", "0.02"],  # pricing
        "",
        "y",  # review: apply
    ]
    answers = iter(script)
    out: list[str] = []
    rc = run_tui(wz, skip_self_test=True, ask=lambda _p: next(answers), say=out.append)
    text = "\n".join(out)
    assert rc == 0, text
    assert "not a valid host name" in text
    assert "Setup applied." in text
    assert layout.server_block_path.exists()
    presets = json.loads(layout.presets_path.read_text())
    assert presets["presets"][0]["initial-price"] == 0.0


def test_tui_quit_writes_nothing(layout: Layout) -> None:
    wz = wizard_for(layout)
    answers = iter([""] * 7 + ["n"])
    rc = run_tui(wz, ask=lambda _p: next(answers), say=lambda _m: None)
    assert rc == 2
    assert not layout.server_block_path.exists()
    assert not layout.manifest_path.exists()


def test_master_pid_file_follows_the_main_config(tmp_path: Path) -> None:
    """The runtime needs the master's pid file to wait out old workers after a reload."""
    lay = Layout.for_root(tmp_path)
    lay.nginx_main_conf.parent.mkdir(parents=True, exist_ok=True)
    lay.nginx_main_conf.write_text("# pid /wrong.pid;\nevents {}\npid /run/other/nginx.pid;\n")
    assert nginx_site.master_pid_file(lay, None) == Path("/run/other/nginx.pid")
    lay.nginx_main_conf.write_text("pid logs/nginx.pid;\nevents {}\n")
    assert nginx_site.master_pid_file(lay, tmp_path / "ngx") == tmp_path / "ngx/logs/nginx.pid"
    lay.nginx_main_conf.write_text("events {}\n")
    assert nginx_site.master_pid_file(lay, None) is None  # a test root: never the host's


def test_escapes_root_names_includes_and_pid_that_leave_the_root(tmp_path: Path) -> None:
    """Under --root, nginx would otherwise test the system config and signal the system nginx."""
    lay = Layout.for_root(tmp_path)
    lay.nginx_conf_dir.mkdir(parents=True)
    conf = lay.nginx_main_conf
    conf.write_text(
        f"pid {tmp_path}/ngx/nginx.pid;\nevents {{}}\nhttp {{\n    include mime.types;\n"
        f"    include {lay.nginx_conf_dir}/conf.d/*.conf;\n}}\n"
    )
    assert nginx_site.escapes_root(lay, None) == ([], None)
    conf.write_text(
        "# pid /ignored.pid;\npid logs/nginx.pid;\nhttp {\n    include /etc/nginx/mime.types;\n}\n"
    )
    escapes, _ = nginx_site.escapes_root(lay, None)
    assert escapes == [
        "pid logs/nginx.pid (relative, and no --nginx-prefix names its base)",
        "include /etc/nginx/mime.types",
    ]
    assert nginx_site.escapes_root(lay, tmp_path / "ngx")[0] == ["include /etc/nginx/mime.types"]
    assert nginx_site.escapes_root(lay, Path("/usr/share/nginx"))[0][0] == "pid logs/nginx.pid"
    conf.write_text("events {}\nhttp {\n}\n")
    assert nginx_site.escapes_root(lay, None) == (
        [],
        "no pid directive: nginx uses its default /run/nginx.pid",
    )
    # the real system (no root): nothing to say
    assert nginx_site.escapes_root(
        Layout.for_root(None, nginx_conf_dir=lay.nginx_conf_dir), None
    ) == (
        [],
        None,
    )


def test_no_pid_directive_under_root_is_a_warning_on_the_nginx_step(layout: Layout) -> None:
    wz = wizard_for(layout)
    findings = wz.findings("nginx")
    (warn,) = [f for f in findings if f.subject == "--root"]
    assert warn.level == "warning"
    assert "the reload after applying would signal the system nginx" in warn.message


def test_layout_takes_the_runtime_paths_honouring_xdg_data_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from erigolem_runtime.api import paths

    monkeypatch.delenv(paths.CONFIG_ENV, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("DATA_DIR", raising=False)
    lay = Layout.for_root(None, plugins_dir=tmp_path / "plugins")
    # setup writes the config where the runtime reads it (the runtime honours XDG_DATA_HOME)
    assert lay.runtime_config_path == paths.default_config_path()
    assert lay.runtime_config_path.is_relative_to(tmp_path / "xdg")
    assert lay.ya_provider_data_dir == tmp_path / "xdg/ya-provider"
    rooted = Layout.for_root(tmp_path / "root")
    assert rooted.runtime_config_path == (
        tmp_path / "root" / str(paths.default_config_path()).lstrip("/")
    )
    # the nginx include dir holds exactly the runtime's layout
    assert rooted.include == paths.IncludeLayout(rooted.nginx_erigolem_dir)


def test_wizard_builds_the_runtime_config_typed_and_writes_what_the_runtime_reads(
    layout: Layout,
) -> None:
    from erigolem_runtime.provider import RuntimeConfig, config_text, load_config

    wz = wizard_for(layout)
    config = wz.runtime_config()
    assert isinstance(config, RuntimeConfig)
    assert config.nginx.mode == "system"
    assert config.nginx.include_dir == layout.nginx_erigolem_dir
    [written] = [f for f in wz.plan().files if f.path == layout.runtime_config_path]
    assert written.mode == 0o600
    layout.runtime_config_path.parent.mkdir(parents=True)
    layout.runtime_config_path.write_text(written.content)
    assert config_text(load_config(layout.runtime_config_path)) == written.content


def test_a_config_the_runtime_would_refuse_is_a_review_error_not_a_crash(layout: Layout) -> None:
    wz = wizard_for(layout, htpasswd_group="Not A Group")
    errors = [f for f in wz.findings("review") if f.level == "error"]
    assert errors
    assert "htpasswd_group" in errors[0].message
    assert "use a group name like www-data" in errors[0].message


def test_the_provider_sets_erigons_nat_address(layout: Layout) -> None:
    wz = wizard_for(layout)
    wz.answers.set("erigon_nat", "extip:203.0.113.7")
    assert wz.runtime_config().clients.erigon.nat == "extip:203.0.113.7"
    wz.answers.set("erigon_nat", "")
    assert wz.runtime_config().clients.erigon.nat is None
    wz.answers.set("erigon_nat", "extip:my-router")
    [bad] = [f for f in wz.findings("runtime") if f.field == "erigon_nat"]
    assert bad.level == "error"
    assert "not an IP address" in bad.message
