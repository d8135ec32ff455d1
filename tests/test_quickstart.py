"""The README's quick start, as written: serve with no config, talk with the openai SDK."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from hostline.testing import free_port

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def quick_start_commands() -> list[str]:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_readme_has_exactly_two_commands_serve_and_test() -> None:
    serve, test = quick_start_commands()
    assert serve.endswith("uv run hostline serve")
    assert test == "python3 -m uv run pytest"
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.rstrip().splitlines()[-1] == test  # CI runs exactly the README's test command


@pytest.fixture
def bare_serve(tmp_path: Path):  # type: ignore[no-untyped-def]
    """``hostline serve`` in an empty directory: no config file, no keys."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "hostline", "serve", "--bind",
                             f"127.0.0.1:{port}"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(url + "/readyz").status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            out = proc.stdout.read().decode() if proc.stdout else ""
            proc.kill()
            raise AssertionError("server did not start:\n" + out)
        time.sleep(0.05)
    yield url
    proc.terminate()
    proc.wait(20)
    assert (tmp_path / ".hostline" / "hostline.sqlite3").exists()


def test_readme_sdk_example_runs_against_default_serve(bare_serve: str) -> None:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    source = code.group(1).replace("http://127.0.0.1:8000", bare_serve)
    out = subprocess.run([sys.executable, "-c", source], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["Hello!", "Again"]
