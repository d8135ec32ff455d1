"""The seven hostile-input failures once seen on a running server, each on a real
``hostline serve`` (Responses and Telegram against the fake Bot API)."""

from __future__ import annotations

import contextlib
import json
import socket
import sqlite3
import time
from collections.abc import Iterator
from typing import Any

import hostile_kit as kit
import httpx
import pytest

KEY = {"authorization": f"Bearer {kit.API_KEY}"}
TG = {"x-telegram-bot-api-secret-token": kit.TG_SECRET}
SURROGATE = "bad \ud800 text"
SHOWN = "bad \ufffd text"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with contextlib.ExitStack() as stack:
        channels = [kit.responses(stack), kit.telegram(stack)]
        directory = tmp_path_factory.mktemp("regressions")
        directory.mkdir(exist_ok=True)
        path = directory / "hostline.toml"
        path.write_text(kit.server_config(channels, directory / "state"), encoding="utf-8")
        process = kit.ServerProcess(path, env={"HOSTLINE_LOG_LEVEL": "DEBUG"}).start()
        stack.callback(process.stop)
        client = httpx.Client(base_url=process.url, timeout=30)
        stack.callback(client.close)
        yield {"server": process, "http": client, "fake": channels[1].extra["fake"],
               "db": directory / "state" / "hostline.sqlite3"}


def post_json(http: httpx.Client, path: str, raw: str, headers: dict[str, str] = KEY
              ) -> httpx.Response:
    """POST ``raw`` JSON text as it is (``json.dumps`` writes a surrogate as ``\\ud800``)."""
    return http.post(path, content=raw.encode(), headers={**headers,
                                                           "content-type": "application/json"})


def sse_types(text: str) -> list[str]:
    return [line[6:].strip() for line in text.splitlines() if line.startswith("event:")]


@pytest.mark.parametrize("field", ["input", "metadata", "model", "instructions", "user",
                                   "tools"])
def test_1_lone_surrogate_is_replaced_not_a_500(env: dict[str, Any], field: str) -> None:
    body: dict[str, Any] = {"model": "m", "input": "hello"}
    body[field] = {"input": SURROGATE, "model": SURROGATE, "instructions": SURROGATE,
                   "user": SURROGATE, "metadata": {"k\ud800": SURROGATE},
                   "tools": [{"type": "function", "name": "f", "description": SURROGATE,
                              "parameters": {"type": "object"}}]}[field]
    r = post_json(env["http"], "/responses/v1/responses", json.dumps(body))
    assert r.status_code == 200, r.text
    assert "\\ud800" not in r.text
    if field == "input":
        assert r.json()["output"][0]["content"][0]["text"] == SHOWN
    if field == "metadata":
        assert r.json()["metadata"] == {"k\ufffd": SHOWN}


@pytest.mark.parametrize("field", ["input", "metadata"])
def test_2_streamed_surrogate_ends_with_response_completed(env: dict[str, Any],
                                                           field: str) -> None:
    body: dict[str, Any] = {"model": "m", "input": "hello", "stream": True}
    body[field] = SURROGATE if field == "input" else {"k": SURROGATE}
    r = post_json(env["http"], "/responses/v1/responses", json.dumps(body))
    assert r.status_code == 200
    types = sse_types(r.text)
    assert types[0] == "response.created" and types[-1] == "response.completed", types


def test_3_a_stored_surrogate_reads_back(env: dict[str, Any]) -> None:
    http = env["http"]
    r = post_json(http, "/responses/v1/responses",
                  json.dumps({"model": "m", "input": "bg " + SURROGATE, "background": True}))
    assert r.status_code == 200
    rid = r.json()["id"]
    for _ in range(200):
        got = http.get(f"/responses/v1/responses/{rid}", headers=KEY)
        assert got.status_code == 200, got.text
        if got.json()["status"] == "completed":
            break
        time.sleep(0.05)
    assert got.json()["output"][0]["content"][0]["text"] == "bg " + SHOWN
    items = http.get(f"/responses/v1/responses/{rid}/input_items", headers=KEY)
    assert items.status_code == 200 and items.json()["data"][0]["content"][0]["text"] == \
        "bg " + SHOWN
    conv = post_json(http, "/responses/v1/conversations", json.dumps(
        {"items": [{"type": "message", "role": "user", "content": SURROGATE}]}))
    assert conv.status_code == 200
    listed = http.get(f"/responses/v1/conversations/{conv.json()['id']}/items", headers=KEY)
    assert listed.status_code == 200 and SHOWN in listed.text


def test_3_records_written_before_the_policy_read_back_or_are_quarantined(
        env: dict[str, Any]) -> None:
    """An old record holding a lone surrogate is repaired on read; one that no
    longer decodes is quarantined and answered 404, never a 500."""
    http = env["http"]
    r = http.post("/responses/v1/responses", json={"model": "m", "input": "old"}, headers=KEY)
    rid = r.json()["id"]
    ns, key = "responses:responses", f"-/-|resp:{rid}"
    with contextlib.closing(sqlite3.connect(env["db"], timeout=30)) as db:
        (raw,) = db.execute("SELECT value FROM kv WHERE ns=? AND key=?", (ns, key)).fetchone()
        poisoned = raw.replace('"text":"old"', '"text":"old \\ud800"')
        assert poisoned != raw
        with db:
            db.execute("UPDATE kv SET value=? WHERE ns=? AND key=?", (poisoned, ns, key))
            for bad_id, value in (("resp_deep", "[" * 300 + "]" * 300), ("resp_cut", '{"resp')):
                db.execute("INSERT INTO kv (ns, key, value) VALUES (?,?,?)",
                           (ns, f"-/-|resp:{bad_id}", value))
    for path in (f"/responses/v1/responses/{rid}", f"/responses/v1/responses/{rid}/input_items"):
        got = http.get(path, headers=KEY)
        assert got.status_code == 200, got.text
        assert "old \ufffd" in got.text
    for bad_id in ("resp_deep", "resp_cut"):
        for _ in range(2):  # quarantined the first time, gone the second
            got = http.get(f"/responses/v1/responses/{bad_id}", headers=KEY)
            assert got.status_code == 404 and got.json()["error"]["type"], got.text
    assert "quarantined a corrupt kv row" in env["server"].output()


@pytest.mark.parametrize("field", ["tools", "text", "prompt", "tool_choice"])
def test_4_deep_nesting_is_a_400(env: dict[str, Any], field: str) -> None:
    deep = "[" * 960 + "1" + "]" * 960
    r = post_json(env["http"], "/responses/v1/responses",
                  f'{{"model":"m","input":"x","{field}":{deep}}}')
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "too_deep"


def test_5_a_deeply_nested_update_is_acked_and_dead_lettered(env: dict[str, Any]) -> None:
    deep = '{"a":' * 960 + "1" + "}" * 960
    update = f'{{"update_id": 424242, "message": {deep}}}'
    for _ in range(3):  # Telegram would resend it: the same answer every time
        r = post_json(env["http"], "/telegram/webhook", update, TG)
        assert r.status_code == 200, r.text
    with contextlib.closing(sqlite3.connect(env["db"], timeout=30)) as db:
        rows = db.execute("SELECT state, last_error FROM tasks WHERE last_error LIKE "
                          "'too_deep%'").fetchall()
    assert len(rows) == 3 and all(state == "dead" for state, _ in rows)


def test_6_a_surrogate_in_a_telegram_message_gets_a_reply(env: dict[str, Any]) -> None:
    fake = env["fake"]
    update = {"update_id": 515151, "message": {
        "message_id": 1, "date": int(time.time()), "text": SURROGATE,
        "chat": {"id": 6161, "type": "private", "first_name": "Ann"},
        "from": {"id": 6161, "is_bot": False, "first_name": "Ann"}}}
    r = post_json(env["http"], "/telegram/webhook", json.dumps(update), TG)
    assert r.status_code == 200
    deadline = time.monotonic() + 20
    while not fake.texts(6161) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fake.texts(6161) == [SHOWN]


def test_7_client_disconnects_are_debug_not_errors(env: dict[str, Any]) -> None:
    server = env["server"]
    host, port = "127.0.0.1", server.port
    for path in ("/responses/v1/responses", "/telegram/webhook"):
        headers = {**KEY, **TG, "content-type": "application/json", "content-length": "500",
                   "host": host}
        head = f"POST {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n"
                                                     for k, v in headers.items()) + "\r\n"
        with socket.create_connection((host, port), timeout=5) as s:
            s.sendall(head.encode() + b'{"model": "m", "inp')
            time.sleep(0.05)
    deadline = time.monotonic() + 10
    while server.output().count("client disconnected during POST") < 2 and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    out = server.output()
    assert out.count("client disconnected during POST") == 2
    assert kit.log_problems(out) == []


def test_the_server_logged_no_error(env: dict[str, Any]) -> None:
    out = env["server"].output()
    assert kit.log_problems(out) == [], out[-4000:]
    assert env["http"].get("/readyz").status_code == 200
