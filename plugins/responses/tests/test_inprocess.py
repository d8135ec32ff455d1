"""In-process tests: configuration, loopback rules, overload, and a disconnect seen from inside."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hostline import ChannelConfigurationError, ConfigError, RunRequest
from hostline.testing import make_host


def build(tmp_path: Path, toml: str) -> Any:
    return make_host(tmp_path, toml)


def test_no_keys_on_a_public_bind_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(ChannelConfigurationError) as err:
        build(tmp_path / "a", '[host]\nbind = "0.0.0.0:8000"\n[channels.responses]\n')
    message = str(err.value)
    assert "[channels.responses]" in message and "allow_unauthenticated" in message
    # explicit opt-in, or keys, or a loopback bind: fine
    build(tmp_path / "b", '[host]\nbind = "0.0.0.0:8000"\n[channels.responses]\n'
                          "allow_unauthenticated = true\n")
    build(tmp_path / "c", '[host]\nbind = "0.0.0.0:8000"\n[channels.responses]\n'
                          'api_keys = ["sk-x"]\n')
    for bind in ("127.0.0.1:9", "localhost:9", "[::1]:9", "unix:/tmp/hostline.sock"):
        build(tmp_path / f"d{abs(hash(bind))}", f'[host]\nbind = "{bind}"\n[channels.responses]\n')


@pytest.mark.parametrize(("keys", "expect"), [
    ('[""]', "api_keys[0]"),
    ('["sk-same-secret", "sk-same-secret"]', "api_keys[1]"),
    ('[{ key = "sk-table-secret", nickname = "x" }]', "nickname"),
    ('[{ native_id = "alice" }]', "key"),
    ("[42]", "api_keys[0]"),
    ('"sk-not-a-list"', "api_keys"),
])
def test_bad_api_keys_are_config_errors_without_the_secret(tmp_path: Path, keys: str,
                                                          expect: str) -> None:
    with pytest.raises(ConfigError) as err:
        build(tmp_path, f"[channels.responses]\napi_keys = {keys}\n")
    message = str(err.value)
    assert expect in message
    for secret in ("sk-same-secret", "sk-table-secret", "sk-not-a-list"):
        assert secret not in message


def test_config_repr_hides_keys(tmp_path: Path) -> None:
    host = build(tmp_path, '[channels.responses]\napi_keys = ["sk-hidden-1", '
                           '{ key = "sk-hidden-2", native_id = "n" }]\n')
    channel = host.channels["responses"]
    assert "sk-hidden" not in repr(channel.config)
    assert "sk-hidden" not in repr(channel)


async def test_no_keys_answers_loopback_clients_only(hostline_app: Any) -> None:
    async with hostline_app("[channels.responses]\n") as (host, client):
        ok = await client.post("/responses/v1/responses", json={"input": "hi"})
        assert ok.status_code == 200 and ok.json()["output"][0]["content"][0]["text"] == "hi"
        transport = httpx.ASGITransport(app=host.build_app(lifespan=False),
                                        client=("203.0.113.7", 4000))
        async with httpx.AsyncClient(transport=transport, base_url="http://x") as remote:
            res = await remote.get("/responses/v1/models")
            assert res.status_code == 401
            assert res.json()["error"]["code"] == "invalid_api_key"


async def test_overloaded_queue_answers_429_for_background(hostline_app: Any) -> None:
    toml = "[host.outbox]\nhigh_water = 0\n[channels.responses]\n"
    async with hostline_app(toml) as (host, client):
        assert host.overloaded
        res = await client.post("/responses/v1/responses",
                                json={"input": "x", "background": True})
        assert res.status_code == 429
        assert res.headers["retry-after"]
        err = res.json()["error"]
        assert err["code"] == "rate_limit_exceeded" and err["type"] == "rate_limit_error"


def test_serve_without_config_enables_this_channel(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "hostline", "plugins", "--json"], cwd=tmp_path,
                         capture_output=True, text=True, check=True).stdout
    rows = {r["name"]: r for r in json.loads(out) if r["group"] == "hostline.channels"}
    assert rows["responses"]["enabled"] is True


def _ours(task: asyncio.Task[Any]) -> bool:
    """A task running this plugin's code or the test target (not the host's runner loop)."""
    code = getattr(task.get_coro(), "cr_code", None)
    filename = code.co_filename if code is not None else ""
    return "hostline_responses" in filename or filename == __file__


class Forever:
    """A target that streams until closed and records that it was closed."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.closed = False

    async def stream(self, request: RunRequest) -> AsyncIterator[str]:
        self.started.set()
        try:
            while True:
                yield "tick "
                await asyncio.sleep(0.005)
        finally:
            self.closed = True


async def test_disconnect_leaves_no_task_running(hostline_app: Any) -> None:
    target = Forever()
    async with hostline_app("[channels.responses]\n", target=target) as (host, client):
        app = host.build_app(lifespan=False)
        body = json.dumps({"input": "go", "stream": True}).encode()
        scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
                 "http_version": "1.1", "method": "POST", "scheme": "http",
                 "path": "/responses/v1/responses", "raw_path": b"/responses/v1/responses",
                 "query_string": b"", "root_path": "",
                 "headers": [(b"content-type", b"application/json"),
                             (b"content-length", str(len(body)).encode())],
                 "client": ("127.0.0.1", 5555), "server": ("127.0.0.1", 80)}
        gone = asyncio.Event()
        sent: list[dict[str, Any]] = []
        first = True

        async def receive() -> dict[str, Any]:
            nonlocal first
            if first:
                first = False
                return {"type": "http.request", "body": body, "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)
            chunks = b"".join(m.get("body", b"") for m in sent)
            if chunks.count(b"response.output_text.delta\n") >= 5:
                gone.set()  # the client goes away mid-stream

        before = asyncio.all_tasks()
        await asyncio.wait_for(app(scope, receive, send), 10)
        await asyncio.sleep(0)
        # The request returned only after the run was closed: no task outlives it.
        assert target.closed
        assert [t for t in asyncio.all_tasks() - before if _ours(t)] == []
        stream = b"".join(m.get("body", b"") for m in sent).decode()
        rid = json.loads(stream.split("data: ", 1)[1].split("\n", 1)[0])["response"]["id"]
        stored = (await client.get(f"/responses/v1/responses/{rid}")).json()
        assert stored["status"] == "incomplete"
        assert stored["output"][0]["content"][0]["text"].startswith("tick tick tick")
        assert stored["output"][0]["status"] == "incomplete"
