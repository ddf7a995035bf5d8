"""``python -m erigolem_provider``."""

import sys

from erigolem_provider.cli import main

sys.exit(main())
