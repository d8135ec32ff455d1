"""The fake itself: Discord's answers to wrong routes, methods and handshakes."""

from __future__ import annotations

import json

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from hostline_discord.testing import FakeDiscordAPI


def test_unknown_routes_and_methods_get_discords_errors(fake: FakeDiscordAPI) -> None:
    bot = {"authorization": f"Bot {fake.token}"}
    missing = httpx.get(fake.url + "/nowhere", headers=bot)
    assert missing.status_code == 404 and missing.json() == {"message": "404: Not Found",
                                                             "code": 0}
    wrong = httpx.delete(fake.url + "/users/@me", headers=bot)
    assert wrong.status_code == 405 and wrong.json()["message"] == "405: Method Not Allowed"
    assert httpx.get(fake.url + "/users/@me").status_code == 401
    me = httpx.get(fake.url + "/users/@me", headers=bot)
    assert me.json()["bot"] is True and me.headers["x-ratelimit-limit"] == "50"
    assert [c.route for c in fake.calls()] == ["GET /users/@me", "GET /users/@me"]


def test_a_webhook_token_is_one_path_segment_even_percent_encoded(fake: FakeDiscordAPI) -> None:
    payload = fake.command("ask", text="hi")
    token = payload["token"].replace(":", "%3A")
    r = httpx.post(f"{fake.url}/webhooks/{fake.application_id}/{token}", json={"content": "x"})
    assert r.status_code == 404 and r.json()["code"] == 10015  # not acknowledged yet
    (call,) = fake.calls("POST /webhooks")
    assert payload["token"] in call.path


def test_the_gateway_is_a_websocket_only(fake: FakeDiscordAPI) -> None:
    assert httpx.get(f"http://127.0.0.1:{fake.port}/gateway").status_code == 400


async def test_the_gateway_refuses_a_wrong_token(fake: FakeDiscordAPI) -> None:
    async with connect(f"ws://127.0.0.1:{fake.port}/gateway/?v=10&encoding=json") as ws:
        hello = json.loads(await ws.recv())
        assert hello["op"] == 10 and hello["d"]["heartbeat_interval"] == 500
        await ws.send(json.dumps({"op": 1, "d": None}))
        assert json.loads(await ws.recv()) == {"op": 11}
        await ws.send(json.dumps({"op": 2, "d": {"token": "wrong", "intents": 0}}))
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4004, "Authentication failed.")
    await fake.until(lambda: fake.gateway.open == 0)
    assert fake.gateway.heartbeats == 1 and fake.gateway.identifies == []
