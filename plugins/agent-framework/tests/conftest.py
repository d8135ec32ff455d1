"""Fixtures for the agent-framework target tests.

The served agent and workflow live in ``hostline_af_testapp.py`` beside this
file; it is put on ``sys.path`` here and on ``PYTHONPATH`` for server
processes, so ``factory = "hostline_af_testapp:..."`` resolves in both.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))


@pytest.fixture
def app_env() -> dict[str, str]:
    """Environment for ``hostline_server`` so it can import the test app."""
    path = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path}
