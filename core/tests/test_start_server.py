"""``hostline.testing.start_server``: one real ``hostline serve`` for a wider-scoped fixture."""

from __future__ import annotations

from pathlib import Path

import httpx

from hostline.testing import start_server

CONFIG = """
[host]
state_dir = "{state_dir}"
target = "{target}"
"""

TARGET = '''
from hostline.targets import echo as run
'''


def test_values_are_filled_in_and_the_tests_dir_is_importable(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "only_here.py").write_text(TARGET, encoding="utf-8")
    with start_server(tmp_path / "server", CONFIG, pythonpath=[code],
                      target="only_here:run") as server:
        assert httpx.get(server.url + "/readyz").status_code == 200
        written = (tmp_path / "server" / "hostline.toml").read_text(encoding="utf-8")
        assert 'target = "only_here:run"' in written
        assert (tmp_path / "server" / "state").as_posix() in written
    assert server.proc is not None and server.proc.poll() is not None  # stopped on exit
