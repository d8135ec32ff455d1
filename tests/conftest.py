"""Cross-package tests: this directory is importable so configs can name its targets."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from browser import browser  # noqa: F401 - the headless Chromium fixture
