"""One real ``hostline serve`` for the module's tests."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hostline.testing import ServerProcess

sys.path.insert(0, str(Path(__file__).resolve().parent))

from invocations_testkit import CONFIG, TESTS


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """``hostline serve`` with three Invocations instances."""
    root = tmp_path_factory.mktemp("invocations")
    path = root / "hostline.toml"
    path.write_text(CONFIG.replace("{state_dir}", (root / "state").as_posix()), encoding="utf-8")
    pythonpath = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH")) if p)
    proc = ServerProcess(path, env={"PYTHONPATH": pythonpath})
    proc.start()
    yield proc
    proc.stop()
