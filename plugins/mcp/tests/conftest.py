"""One real ``hostline serve`` (several MCP instances) and a local OAuth issuer per module."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hostline.testing import LocalOAuthIssuer, ServerProcess, start_server

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mcp_testkit import CONFIG, TESTS


@pytest.fixture(scope="session")
def issuer() -> Iterator[LocalOAuthIssuer]:
    """RS256 keys made here, their JWKS on a loopback port."""
    with LocalOAuthIssuer() as it:
        yield it


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory,
           issuer: LocalOAuthIssuer) -> Iterator[ServerProcess]:
    """``hostline serve`` with the MCP instances of ``mcp_testkit.CONFIG``."""
    with start_server(tmp_path_factory.mktemp("mcp"), CONFIG, pythonpath=[TESTS],
                      issuer=issuer.issuer, jwks_url=issuer.jwks_url) as proc:
        yield proc
