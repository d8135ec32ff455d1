"""One real ``hostline serve`` for the A2A tests, and a local OAuth issuer."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hostline.testing import LocalOAuthIssuer, ServerProcess

sys.path.insert(0, str(Path(__file__).resolve().parent))

from a2a_testkit import CONFIG, TESTS


@pytest.fixture(scope="session")
def issuer() -> Iterator[LocalOAuthIssuer]:
    """RS256 keys made here, their JWKS on a loopback port."""
    with LocalOAuthIssuer() as it:
        yield it


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory,
           issuer: LocalOAuthIssuer) -> Iterator[ServerProcess]:
    """``hostline serve`` with the A2A instances of ``a2a_testkit.CONFIG``."""
    root = tmp_path_factory.mktemp("a2a")
    path = root / "hostline.toml"
    text = (CONFIG.replace("{state_dir}", (root / "state").as_posix())
            .replace("{issuer}", issuer.issuer).replace("{jwks_url}", issuer.jwks_url))
    path.write_text(text, encoding="utf-8")
    pythonpath = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH")) if p)
    proc = ServerProcess(path, env={"PYTHONPATH": pythonpath})
    proc.start()
    yield proc
    proc.stop()
