"""Headless Chromium for browser tests (Debian's ``chromium`` through Playwright).

In CI (``CI=true``) a browser that cannot start fails the test; elsewhere
the test is skipped with the command that installs it. Screenshots go to
``HOSTLINE_ARTIFACTS`` (default ``<repo>/.artifacts/browser``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"]
INSTALL = "apt-get update && apt-get install -y chromium"
ARTIFACTS = Path(os.environ.get("HOSTLINE_ARTIFACTS")
                 or Path(__file__).resolve().parents[1] / ".artifacts" / "browser")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"browser tests need Chromium in CI: {reason}")
    pytest.skip(f"{reason}; install it with: {INSTALL}")


def chromium_path() -> str | None:
    found = os.environ.get("HOSTLINE_CHROMIUM") or shutil.which("chromium") \
        or shutil.which("chromium-browser")
    return found if found and os.path.exists(found) else None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium (Playwright ``Browser``) for the module."""
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed")
    path = chromium_path()
    if path is None:
        _unavailable("no chromium executable on PATH")
    with sync_playwright() as p:
        try:
            b = p.chromium.launch(executable_path=path, args=CHROMIUM_FLAGS, timeout=30_000)
        except Error as exc:
            _unavailable(f"chromium at {path} did not start: {exc.message.splitlines()[0]}")
        try:
            yield b
        finally:
            b.close()


def screenshot(page: Any, name: str, record_property: Any) -> Path:
    """Save a full-page screenshot as a test artifact and report where it is."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    record_property("screenshot", str(path))
    print(f"screenshot: {path}")
    return path
