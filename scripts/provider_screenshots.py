#!/usr/bin/env python3
"""Save a PNG of each page of the provider setup wizard (offscreen) into screenshots/provider/.

The wizard runs against a throwaway root (temporary nginx.conf), so nothing real is touched.
Usage: QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/provider_screenshots.py [OUT_DIR]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from erigolem_provider.answers import Answers  # noqa: E402
from erigolem_provider.layout import Layout  # noqa: E402
from erigolem_provider.qt_wizard import ProviderWizard  # noqa: E402
from erigolem_provider.wizard import SetupWizard  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from tests.support.binaries import anvil_path, free_port  # noqa: E402


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "screenshots" / "provider"
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        conf = root / "etc/nginx"
        conf.mkdir(parents=True)
        # a pid inside the root: the wizard's reload must never signal this machine's nginx
        (root / "run").mkdir()
        (conf / "nginx.conf").write_text(f"pid {root}/run/nginx.pid;\nevents {{}}\nhttp {{\n}}\n")
        anvil = anvil_path()
        answers = Answers(
            host="node.example.org",
            port=free_port(),
            chains=["sepolia", "dev"],
            anvil_bin=str(anvil) if anvil else None,
            runtime_path=str(REPO / ".venv/bin/erigolem-runtime"),
            allow_missing_exe_unit=True,  # no Golem in the throwaway root
        )
        wz = SetupWizard(Layout.for_root(root), answers)
        dialog = ProviderWizard(wz, skip_self_test=True)
        dialog.show()

        def idle() -> None:
            """Let the background probes / review / apply finish (the window keeps painting)."""
            deadline = time.monotonic() + 60
            while dialog.busy and time.monotonic() < deadline:
                app.processEvents()
                time.sleep(0.01)
            app.processEvents()

        names = ["1-prereqs", "2-runtime", "3-nginx", "4-pricing", "5-review", "6-apply"]
        for i, name in enumerate(names):
            if name == "1-prereqs":  # also show the busy state while the probes run
                app.processEvents()
                dialog.grab().save(str(out / "0-prereqs-probing.png"))
                print(out / "0-prereqs-probing.png")
            idle()
            path = out / f"{name}.png"
            dialog.grab().save(str(path))
            print(path)
            if i == 2:  # also show a validation error on the nginx page
                page = dialog.step_pages[2]
                editor = page.editors["host"]
                old = editor.text()  # type: ignore[attr-defined]
                editor.setText("bad host!")  # type: ignore[attr-defined]
                dialog.next()
                idle()
                dialog.grab().save(str(out / "3b-nginx-error.png"))
                print(out / "3b-nginx-error.png")
                editor.setText(old)  # type: ignore[attr-defined]
            if i < len(names) - 1:
                dialog.next()
        dialog.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
