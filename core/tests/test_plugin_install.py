"""A real plugin distribution, built and installed into a fresh venv.

Shows discovery, enabling by config name, routes, lifespans and hooks, that
an installed-but-not-enabled plugin contributes nothing, and two worker
processes on one state dir losing no turn.
"""

from __future__ import annotations

import concurrent.futures
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from hostline.testing import ServerProcess

HERE = Path(__file__).parent
CORE = HERE.parent


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("venv") / "env"
    uv = shutil.which("uv")
    if uv:
        subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(root)], check=True)
        subprocess.run([uv, "pip", "install", "-q", "--python", str(root / "bin" / "python"),
                        str(CORE), str(HERE / "demo_plugin")], check=True)
    else:  # pragma: no cover - CI always has uv
        subprocess.run([sys.executable, "-m", "venv", str(root)], check=True)
        subprocess.run([str(root / "bin" / "pip"), "install", "-q", str(CORE),
                        str(HERE / "demo_plugin")], check=True)
    return root


def hostline(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(venv / "bin" / "hostline"), *args], cwd=cwd, text=True,
                          capture_output=True, timeout=120)


def write(tmp_path: Path, text: str, host: str = "") -> Path:
    path = tmp_path / "hostline.toml"
    path.write_text(f'[host]\nstate_dir = "{(tmp_path / "state").as_posix()}"\n{host}\n' + text)
    return path


def test_installed_but_not_enabled_contributes_nothing(venv: Path, tmp_path: Path) -> None:
    write(tmp_path, "")
    out = hostline(venv, "plugins", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    line = next(ln for ln in out.stdout.splitlines() if " demo " in ln)
    assert "hostline-demo 1.2.3" in line and "[installed]" in line
    routes = hostline(venv, "routes", cwd=tmp_path)
    assert routes.returncode == 0 and "/demo" not in routes.stdout


def test_enabled_plugin_serves_routes_and_hooks(venv: Path, tmp_path: Path) -> None:
    config = write(tmp_path, '[channels.demo]\ngreeting = "yo"\n'
                             '[channels.second]\nplugin = "demo"\n')
    plugins = hostline(venv, "plugins", cwd=tmp_path)
    assert "[enabled (demo)]" in plugins.stdout or "[enabled (second)]" in plugins.stdout
    routes = hostline(venv, "routes", cwd=tmp_path)
    assert "/demo/say" in routes.stdout and "/second/say" in routes.stdout
    server = ServerProcess(config, python=venv / "bin" / "python")
    server.start()
    try:
        r = httpx.post(server.url + "/demo/say", json={"scope": "a", "text": "hi"}).json()
        assert r == {"reply": "hi", "pid": r["pid"], "history": 0, "greeting": "yo",
                     "started": True}
        r = httpx.post(server.url + "/second/say", json={"scope": "a", "text": "x"}).json()
        assert r["greeting"] == "hello" and r["history"] == 0  # instances do not share sessions
        r = httpx.post(server.url + "/demo/say", json={"scope": "a", "text": "again"}).json()
        assert r["history"] == 2
    finally:
        server.stop()
    # Enabling the hook plugin by name changes replies.
    write(tmp_path, "[channels.demo]\n", host='plugins = ["shout"]')
    server.start()
    try:
        r = httpx.post(server.url + "/demo/say", json={"scope": "b", "text": "quiet"}).json()
        assert r["reply"] == "QUIET"
    finally:
        server.stop()


def test_bad_plugin_config_fails_with_one_line(venv: Path, tmp_path: Path) -> None:
    write(tmp_path, "[channels.demo]\ngreting = 'x'\n")
    out = hostline(venv, "check", cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1
    assert "[channels.demo] key 'greting'" in out.stderr and "did you mean 'greeting'" in out.stderr
    serve = hostline(venv, "serve", cwd=tmp_path)
    assert serve.returncode == 2 and "greting" in serve.stderr


def test_two_workers_on_one_state_dir_lose_no_turn(venv: Path, tmp_path: Path) -> None:
    config = write(tmp_path, "[channels.demo]\n", host="history_limit = 500")
    server = ServerProcess(config, workers=2, python=venv / "bin" / "python")
    server.start()
    n = 40
    try:
        def one(i: int) -> int:
            r = httpx.post(server.url + "/demo/say", json={"scope": "shared", "text": str(i)},
                           timeout=30)
            r.raise_for_status()
            return int(r.json()["pid"])

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            pids = set(pool.map(one, range(n)))
        print(f"served by {len(pids)} worker process(es)")
    finally:
        server.stop()
    db = sqlite3.connect(tmp_path / "state" / "hostline.sqlite3")
    texts = [row[0] for row in db.execute(
        "SELECT json_extract(message, '$.content[0].text') FROM history "
        "WHERE json_extract(message, '$.role') = 'user'")]
    assert sorted(texts, key=int) == [str(i) for i in range(n)]
