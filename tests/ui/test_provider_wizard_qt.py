"""The Qt provider wizard (pytest-qt, offscreen): pages follow the state machine, invalid input
keeps the page with a visible message, probes and apply run off the GUI thread (the loop keeps
ticking, closing mid-apply cancels and rolls back, failures are shown), Apply writes the files,
and the screenshot script works."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from erigolem_provider.answers import Answers
from erigolem_provider.layout import Layout
from erigolem_provider.plan import PlanError
from erigolem_provider.qt_ops import BackgroundOp
from erigolem_provider.qt_wizard import PlanView, ProviderWizard, hanging_indent
from erigolem_provider.wizard import SetupWizard
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QLabel, QLineEdit, QPlainTextEdit, QTextEdit
from pytestqt.qtbot import QtBot

from tests.support.binaries import REPO, anvil_path, fake_erigon_binary, free_port


def make_wizard(tmp_path: Path, qtbot: QtBot, **kw: object) -> ProviderWizard:
    """The dialog against a throwaway root (nothing on this machine is touched); not shown."""
    conf = tmp_path / "etc/nginx"
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "nginx.conf").write_text("events {}\nhttp {\n}\n")
    answers = Answers(
        host="node.example.org",
        port=free_port(),
        listen_address="127.0.0.1",
        chains=["dev"],
        nginx_bin="/bin/true",  # stands in for nginx -t / reload: no system nginx is touched
        runtime_path=str(REPO / ".venv/bin/erigolem-runtime"),
        anvil_bin=str(anvil_path() or ""),
        allow_missing_exe_unit=True,  # no Golem under the test root
    )
    for k, v in kw.items():
        setattr(answers, k, v)
    dlg = ProviderWizard(SetupWizard(Layout.for_root(tmp_path), answers), skip_self_test=True)
    qtbot.addWidget(dlg)
    return dlg


@pytest.fixture
def wizard(tmp_path: Path, qtbot: QtBot) -> ProviderWizard:
    dlg = make_wizard(tmp_path, qtbot)
    dlg.show()
    return dlg


def idle(qtbot: QtBot, wizard: ProviderWizard) -> None:
    """Wait until the wizard's background operation (probes, review, apply) has ended."""
    qtbot.waitUntil(lambda: not wizard.busy, timeout=30000)


def to_review(wizard: ProviderWizard, qtbot: QtBot) -> None:
    idle(qtbot, wizard)
    while wizard.wz.current != "review":
        before = wizard.wz.current
        wizard.next()
        idle(qtbot, wizard)
        assert wizard.wz.current != before, wizard.status.text()
    idle(qtbot, wizard)


def test_pages_follow_the_state_machine_and_apply(wizard: ProviderWizard, qtbot: QtBot) -> None:
    wz = wizard.wz
    idle(qtbot, wizard)  # the prerequisites' probes ran in the background
    assert wizard.heading.text() == "Prerequisites"
    assert "erigolem-runtime" in wizard.step_pages[0].findings_label.text()
    assert not wizard.back_button.isEnabled()
    titles = []
    for _ in range(2):  # prereqs -> runtime -> nginx
        titles.append(wizard.heading.text())
        wizard.next()
        idle(qtbot, wizard)
    assert titles == ["Prerequisites", "Runtime"]
    nginx_page = wizard.step_pages[2]
    assert wz.current == "nginx"
    assert wizard.currentPage() is nginx_page
    host = nginx_page.editors["host"]
    assert isinstance(host, QLineEdit)
    host.setText("not a host!")
    wizard.next()
    idle(qtbot, wizard)
    assert wz.current == "nginx"  # refused by the state machine
    assert wizard.currentPage() is nginx_page
    label = nginx_page.findChild(QLabel, "findings")
    assert label is not None
    assert "not a valid host name" in label.text()
    host.setText("node.example.org")
    wizard.next()
    idle(qtbot, wizard)
    assert wizard.heading.text() == "Pricing"
    wizard.back()
    assert wz.current == "nginx"
    assert wizard.currentPage() is nginx_page
    to_review(wizard, qtbot)
    plan = wizard.review_page.findChild(QTextEdit, "plan")
    assert plan is not None
    assert "ya-runtime-erigon.json" in plan.toPlainText()
    assert plan.toPlainText() == wz.plan().render().rstrip("\n")  # copy gives the plain lines
    QApplication.processEvents()
    assert plan.horizontalScrollBar().maximum() == 0  # long lines wrap instead of scrolling
    assert not wz.layout.server_block_path.exists()  # nothing written before Apply
    assert wizard.next_button.text() == "Apply"
    wizard.next()  # Apply
    log = wizard.apply_page.findChild(QPlainTextEdit, "applyLog")
    assert log is not None
    qtbot.waitUntil(lambda: "Setup applied." in log.toPlainText(), timeout=30000)
    idle(qtbot, wizard)
    assert wz.layout.server_block_path.exists()
    assert "one include line" in plan.toPlainText()
    assert wizard.apply_page.ok
    assert wz.current == "summary"
    assert wizard.next_button.text() == "Finish"
    assert not wizard.back_button.isEnabled()


def _probe_running() -> bool:
    """Whether this process has a child running the Erigon stand-in's ``--version``."""
    me = str(os.getpid())
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            ppid = (proc / "stat").read_text().rsplit(")", 1)[1].split()[1]
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError):
            continue
        if ppid == me and any(b"fake_erigon" in c for c in cmd) and b"--version" in cmd:
            return True
    return False


def test_the_window_keeps_ticking_while_a_slow_probe_runs(
    tmp_path: Path, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    erigon = fake_erigon_binary(tmp_path / "slow", "3.1.0", version_seconds=2.0)
    monkeypatch.setenv("PATH", f"{erigon.parent}{os.pathsep}{os.environ['PATH']}")
    ticks_during_probe = [0]

    def tick() -> None:
        if _probe_running():
            ticks_during_probe[0] += 1

    timer = QTimer()
    timer.setInterval(20)
    timer.timeout.connect(tick)
    timer.start()  # before the wizard exists: a probe on the GUI thread would starve it
    dlg = make_wizard(tmp_path / "root", qtbot)
    dlg.show()
    findings = dlg.step_pages[0].findings_label
    qtbot.waitUntil(lambda: "erigon version 3.1.0" in findings.text(), timeout=20000)
    timer.stop()
    assert ticks_during_probe[0] >= 3  # the loop ran (and painted) while erigon --version did
    assert not dlg.busy_bar.isVisible()
    # closing during a probe is immediate: its late answer is dropped, nothing breaks
    dlg2 = make_wizard(tmp_path / "root2", qtbot)
    dlg2.show()
    assert dlg2.busy
    assert dlg2.busy_bar.isVisible()
    assert "--version" in dlg2.status.text()
    op = dlg2._op
    assert op is not None
    dlg2.close()
    assert not dlg2.isVisible()
    assert op.wait(20)
    qtbot.wait(100)  # the abandoned answer arrives: no exception, no page filled
    assert dlg2.step_pages[0].findings_label.text() == ""


def _nginx_stand_in(tmp_path: Path, body: str) -> Path:
    """Stands in for ``nginx -t`` / ``nginx -s reload`` (like /bin/true above), with `body`."""
    path = tmp_path / "nginx-stand-in"
    path.write_text(f"#!/bin/sh\n{body}\nexit 0\n")
    path.chmod(0o755)
    return path


def test_closing_during_apply_cancels_it_and_rolls_back(tmp_path: Path, qtbot: QtBot) -> None:
    slow = tmp_path / "slow-now"
    nginx = _nginx_stand_in(tmp_path, f'[ -e "{slow}" ] && [ "$1" = "-t" ] && sleep 4')
    wizard = make_wizard(tmp_path, qtbot, nginx_bin=str(nginx))
    wizard.show()
    to_review(wizard, qtbot)
    slow.touch()  # from now on the config test takes 4 s: apply is mid-way when we close
    wizard.next()
    log = wizard.apply_page.log
    qtbot.waitUntil(
        lambda: "running " in log.toPlainText() and " -t " in log.toPlainText(), timeout=30000
    )
    assert wizard.busy
    assert not wizard.back_button.isEnabled()
    assert not wizard.next_button.isEnabled()
    wizard.close()
    assert wizard.isVisible()  # not torn down under the running apply
    assert "Cancelling" in wizard.status.text()
    assert not wizard.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: not wizard.isVisible(), timeout=20000)
    text = log.toPlainText()
    assert "cancelled by you" in text
    assert "rolled back" in text
    lay = wizard.wz.layout
    assert not lay.server_block_path.exists()
    assert not lay.runtime_config_path.exists()
    assert not wizard.apply_page.ok


def test_a_failed_apply_is_shown_and_can_be_fixed_from_the_review(
    tmp_path: Path, qtbot: QtBot
) -> None:
    nginx = _nginx_stand_in(
        tmp_path,
        'if [ "$1" = "-t" ]; then echo "nginx: [emerg] unknown directive" >&2; exit 1; fi',
    )
    wizard = make_wizard(tmp_path, qtbot, nginx_bin=str(nginx))
    wizard.show()
    to_review(wizard, qtbot)
    wizard.next()
    qtbot.waitUntil(lambda: "error:" in wizard.apply_page.log.toPlainText(), timeout=30000)
    idle(qtbot, wizard)
    text = wizard.apply_page.log.toPlainText()
    assert "nginx config test failed" in text
    assert "unknown directive" in text
    assert "Nothing was changed." in wizard.apply_page.summary.text()
    assert not wizard.wz.layout.server_block_path.exists()
    assert not wizard.next_button.isEnabled()
    assert wizard.back_button.isEnabled()
    wizard.back()
    idle(qtbot, wizard)
    assert wizard.wz.current == "review"


def test_background_op_reports_on_the_gui_thread(qtbot: QtBot) -> None:
    gui = threading.get_ident()
    seen: list[tuple[str, object, int]] = []

    def work(say: Callable[[str], None]) -> int:
        say("half way")
        return threading.get_ident()

    BackgroundOp(work).progress(
        lambda line: seen.append(("line", line, threading.get_ident()))
    ).success(lambda worker: seen.append(("ok", worker, threading.get_ident()))).run()

    def boom(_say: Callable[[str], None]) -> None:
        raise PlanError("nginx config test failed")

    BackgroundOp(boom).failure(
        lambda msg: seen.append(("failed", msg, threading.get_ident()))
    ).run()
    qtbot.waitUntil(lambda: len(seen) == 3, timeout=30000)
    assert all(thread == gui for _, _, thread in seen)  # callbacks may touch widgets
    assert ("line", "half way", gui) in seen
    assert ("failed", "nginx config test failed", gui) in seen
    [(_, worker, _)] = [s for s in seen if s[0] == "ok"]
    assert worker != gui  # the work itself ran elsewhere


def test_screenshot_script_saves_every_page(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts/provider_screenshots.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin:/usr/sbin"},
    )
    assert proc.returncode == 0, proc.stderr
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert pngs == [
        "0-prereqs-probing.png",
        "1-prereqs.png",
        "2-runtime.png",
        "3-nginx.png",
        "3b-nginx-error.png",
        "4-pricing.png",
        "5-review.png",
        "6-apply.png",
    ]
    assert all((tmp_path / n).stat().st_size > 5000 for n in pngs)


@pytest.mark.parametrize(
    ("line", "hang"),
    [
        ("[file create   ] /etc/x.json  (what)", len("[file create   ] ")),
        ("NOTE: nginx.conf does not include conf.d", len("NOTE: ")),
        ('+    "description": "long"', len("+    ") + 2),
        ("@@ -0,0 +1,27 @@", 2),
        ("+" + " " * 80 + "deep", 30),  # capped: deep lines keep room to wrap
        ("", 2),
    ],
)
def test_hanging_indent_columns(line: str, hang: int) -> None:
    assert hanging_indent(line) == hang


def test_plan_view_wraps_long_paths_with_a_hanging_indent(qtbot: QtBot) -> None:
    view = PlanView()
    qtbot.addWidget(view)
    view.resize(view.minimumWidth(), 300)
    view.show()
    long_path = (
        "/tmp/" + "/".join(["averyveryverylongdirectoryname"] * 6) + "/ya-runtime-erigon.json"
    )
    short = "[dir  exists   ] /tmp  (temp)"
    view.set_plan_text(f"[file create   ] {long_path}  (plugin descriptor)\n{short}\n")
    QApplication.processEvents()
    assert view.toPlainText() == f"[file create   ] {long_path}  (plugin descriptor)\n{short}"
    assert view.horizontalScrollBar().maximum() == 0
    first = view.document().firstBlock()
    assert first.layout().lineCount() > 1  # wrapped inside the path, not cut off
    fmt = first.blockFormat()
    assert fmt.textIndent() < 0 < fmt.leftMargin()
    assert fmt.leftMargin() == -fmt.textIndent()
    second_line_x = first.layout().lineAt(1).x()
    assert second_line_x > first.layout().lineAt(0).x()  # continuation starts further right
    assert first.next().layout().lineCount() == 1


def test_failed_self_test_replaces_the_next_steps(wizard: ProviderWizard, qtbot: QtBot) -> None:
    """After a failed self-test the summary says what to do, not "open the port and run"."""
    page = wizard.apply_page
    wizard._self_test_done(False)
    text = page.summary.text()
    assert "Self-test failed." in text
    assert "erigolem-provider self-test" in text
    assert "Next:" not in text
    wizard._self_test_done(True)
    assert "Next:" in page.summary.text()


def test_runtime_page_asks_for_warm_chains(tmp_path: Path, qtbot: QtBot) -> None:
    """The warm answers are one line each on the Runtime page; bad ones keep the page."""
    rpcdaemon = tmp_path / "rpcdaemon"
    rpcdaemon.write_text("#!/bin/sh\nexit 0\n")  # setup only checks that it is executable
    rpcdaemon.chmod(0o755)
    erigon = fake_erigon_binary(tmp_path / "e")
    wizard = make_wizard(tmp_path, qtbot, chains=["mainnet"], erigon_bin=str(erigon))
    wizard.show()
    wz = wizard.wz
    idle(qtbot, wizard)
    wizard.next()
    idle(qtbot, wizard)
    page = wizard.step_pages[1]
    assert wz.current == "runtime"
    chains, binary = page.editors["warm_chain"], page.editors["warm_rpcdaemon"]
    assert isinstance(chains, QLineEdit)
    assert isinstance(binary, QLineEdit)
    binary.setText(str(rpcdaemon))
    chains.setText("mainnet=10.0.0.2:9090,/data/erigon")
    wizard.next()
    idle(qtbot, wizard)
    assert wz.current == "runtime"  # the runtime's reader refused the address
    assert "on loopback" in page.findings_label.text()
    chains.setText("mainnet=127.0.0.1:9090,/data/erigon; ")
    wizard.next()
    idle(qtbot, wizard)
    assert wz.current == "nginx", wizard.status.text()
    assert wz.answers.warm_chain == ["mainnet=127.0.0.1:9090,/data/erigon"]
    assert wz.runtime_config().warm.rpcdaemon == str(rpcdaemon)
