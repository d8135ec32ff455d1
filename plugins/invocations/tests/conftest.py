"""One real ``hostline serve`` for the module's tests."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hostline.testing import ServerProcess, start_server

sys.path.insert(0, str(Path(__file__).resolve().parent))

from invocations_testkit import CONFIG, TESTS


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """``hostline serve`` with three Invocations instances."""
    with start_server(tmp_path_factory.mktemp("invocations"), CONFIG,
                      pythonpath=[TESTS]) as proc:
        yield proc
