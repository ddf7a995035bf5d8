"""PyInstaller entry script of the `erigolem` bundle: the same `main()` as the console script."""

from __future__ import annotations

import sys

from erigolem_desktop.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
