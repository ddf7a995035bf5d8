"""The Qt provider wizard (pytest-qt, offscreen): pages follow the state machine, invalid input
keeps the page with a visible message, Apply writes the files, and the screenshot script works."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from erigolem_provider.answers import Answers
from erigolem_provider.layout import Layout
from erigolem_provider.qt_wizard import PlanView, ProviderWizard, hanging_indent
from erigolem_provider.wizard import SetupWizard
from PySide6.QtWidgets import QApplication, QLabel, QLineEdit, QPlainTextEdit, QTextEdit
from pytestqt.qtbot import QtBot

from tests.support.binaries import REPO, anvil_path, free_port


@pytest.fixture
def wizard(tmp_path: Path, qtbot: QtBot) -> ProviderWizard:
    conf = tmp_path / "etc/nginx"
    conf.mkdir(parents=True)
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
    dlg = ProviderWizard(SetupWizard(Layout.for_root(tmp_path), answers), skip_self_test=True)
    qtbot.addWidget(dlg)
    dlg.show()
    return dlg


def test_pages_validate_and_apply(wizard: ProviderWizard, qtbot: QtBot) -> None:
    wz = wizard.wz
    titles = []
    for _ in range(2):  # prereqs -> runtime -> nginx
        titles.append(wizard.currentPage().title())
        wizard.next()
    assert titles == ["Prerequisites", "Runtime"]
    nginx_page = wizard.step_pages[2]
    assert wizard.currentPage() is nginx_page
    host = nginx_page.editors["host"]
    assert isinstance(host, QLineEdit)
    host.setText("not a host!")
    wizard.next()
    assert wizard.currentPage() is nginx_page  # refused
    label = nginx_page.findChild(QLabel, "findings")
    assert label is not None
    assert "not a valid host name" in label.text()
    host.setText("node.example.org")
    wizard.next()
    assert wizard.currentPage().title() == "Pricing"
    wizard.back()
    assert wz.current == "nginx"
    wizard.next()
    wizard.next()  # pricing -> review
    plan = wizard.review_page.findChild(QTextEdit, "plan")
    assert plan is not None
    assert "ya-runtime-erigon.json" in plan.toPlainText()
    assert plan.toPlainText() == wz.plan().render().rstrip("\n")  # copy gives the plain lines
    QApplication.processEvents()
    assert plan.horizontalScrollBar().maximum() == 0  # long lines wrap instead of scrolling
    assert not wz.layout.server_block_path.exists()  # nothing written before Apply
    wizard.next()  # Apply
    log = wizard.apply_page.findChild(QPlainTextEdit, "applyLog")
    assert log is not None
    qtbot.waitUntil(lambda: "Setup applied." in log.toPlainText(), timeout=5000)
    assert wz.layout.server_block_path.exists()
    assert "one include line" in plan.toPlainText()
    assert wizard.apply_page.ok


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
    page._self_test_done(False)
    text = page.summary.text()
    assert "Self-test failed." in text
    assert "erigolem-provider self-test" in text
    assert "Next:" not in text
    page._self_test_done(True)
    assert "Next:" in page.summary.text()
