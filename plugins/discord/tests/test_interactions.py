"""The interactions endpoint in-process: signatures, PING, deferral, answers."""

from __future__ import annotations

import json
import time
from typing import Any

from hostline_discord.testing import FakeDiscordAPI, InteractionSigner

from .conftest import dc_config


async def test_ping_pong_and_refused_signatures(hostline_app: Any, fake: FakeDiscordAPI) -> None:
    async with hostline_app(dc_config(fake)) as (host, client):
        r = await fake.adeliver(client, fake.ping())
        assert r.status_code == 200 and r.json() == {"type": 1}

        body, headers = fake.signed(fake.command("ask", text="hi"))
        bad = dict(headers, **{"X-Signature-Ed25519": "00" * 64})
        assert (await client.post("/discord/interactions", content=body,
                                  headers=bad)).status_code == 401
        other = InteractionSigner().headers(body)
        assert (await client.post("/discord/interactions", content=body,
                                  headers=other)).status_code == 401
        # A genuine signature on a tampered body.
        assert (await client.post("/discord/interactions", content=body + b" ",
                                  headers=headers)).status_code == 401
        assert (await client.post("/discord/interactions", content=body)).status_code == 401
        stale = fake.command("ask", text="replayed")
        r = await fake.adeliver(client, stale, timestamp=int(time.time()) - 3600)
        assert r.status_code == 401 and "stale" in r.json()["error"]["message"]
        assert host.queue_depth == 0
        assert fake.calls("PATCH") == [] and fake.calls("POST /webhooks") == []


async def test_ask_is_deferred_then_answered(hostline_app: Any, fake: FakeDiscordAPI) -> None:
    async with hostline_app(dc_config(fake)) as (_, client):
        interaction = fake.command("ask", text="hello there")
        r = await fake.adeliver(client, interaction)
        assert r.status_code == 200 and r.json()["type"] == 5
        assert not r.json()["data"].get("flags")
        texts = await fake.until(lambda: fake.texts(interaction_id=interaction["id"]))
        assert texts == ["hello there"]
        original = fake.messages(interaction_id=interaction["id"])[0]
        assert original.kind == "original"
        assert original.components[0]["components"][0]["custom_id"] == "hostline:new"


async def test_commands_registered_and_ephemeral(hostline_app: Any, fake: FakeDiscordAPI) -> None:
    async with hostline_app(dc_config(fake)) as (_, client):
        names = [c["name"] for c in fake.commands()]
        assert names[0] == "ask" and {"help", "new", "link"} <= set(names)
        ask = fake.commands()[0]
        assert ask["options"] == [{"type": 3, "name": "text", "description": "Your message",
                                   "required": True}]
        link = next(c for c in fake.commands() if c["name"] == "link")
        assert link["options"][0]["name"] == "code"
        interaction = fake.command("help")
        r = await fake.adeliver(client, interaction)
        assert r.json() == {"type": 5, "data": {"flags": 64}}
        texts = await fake.until(lambda: fake.texts(interaction_id=interaction["id"]))
        assert "/ask" not in texts[0] and "/new" in texts[0]
    assert len(fake.calls("PUT")) == 1


async def test_bad_bodies_get_4xx(hostline_app: Any, fake: FakeDiscordAPI) -> None:
    async with hostline_app(dc_config(fake)) as (host, client):
        for payload in (b"not json", b"[]", json.dumps({"type": 2}).encode(),
                        json.dumps({"type": 2, "id": "1", "token": "t",
                                    "application_id": "999"}).encode()):
            body, headers = fake.signed(payload)
            r = await client.post("/discord/interactions", content=body, headers=headers)
            assert r.status_code == 400, (payload, r.text)
        assert host.queue_depth == 0
