"""Streaming with hostline's simulated model: edits at a bounded rate, failures answered."""

from __future__ import annotations

from typing import Any

from hostline_discord.testing import FakeDiscordAPI

from .conftest import dc_config

MODEL = """
[host.target_options]
first_token = 0.2
tokens_per_second = 40.0
reply_tokens = 60
chunk_tokens = 2
"""


def with_model(fake: FakeDiscordAPI, extra: str = "", **channel: Any) -> str:
    config = dc_config(fake, host={"target": "hostline.testing:simulated_model"}, **channel)
    return config.replace("\n[host.outbox]", MODEL + extra + "\n[host.outbox]", 1)


async def test_simulated_model_streams_into_the_original(hostline_app: Any,
                                                         fake: FakeDiscordAPI) -> None:
    async with hostline_app(with_model(fake, stream_edit_interval=0.3)) as (host, client):
        interaction = fake.command("ask", text="stream")
        r = await fake.adeliver(client, interaction)
        assert r.json()["type"] == 5
        model = host.target.obj
        await fake.until(lambda: fake.messages(interaction_id=interaction["id"])[0].components,
                         timeout=15)
        original = fake.messages(interaction_id=interaction["id"])[0]
        assert original.content.startswith("stream: lorem ipsum")
        assert len(original.content.split()) == 61 and model.started == 1
        # 60 tokens over 1.5 s at one edit per 0.3 s: several edits, far fewer
        # than tokens. Gaps are seen at the fake, so network jitter may shorten
        # one; an unlimited stream would edit every 25 ms.
        assert 3 <= len(original.edits) <= 20
        gaps = [b - a for a, b in zip(original.edit_times, original.edit_times[1:])]
        assert min(gaps) >= 0.15


async def test_a_failing_model_gets_the_error_reply(hostline_app: Any,
                                                    fake: FakeDiscordAPI) -> None:
    config = with_model(fake, "failure_rate = 1.0\n", error_reply="It broke, sorry.")
    async with hostline_app(config) as (_, client):
        interaction = fake.command("ask", text="fail")
        await fake.adeliver(client, interaction)
        assert await fake.until(lambda: fake.texts(interaction_id=interaction["id"])) == [
            "It broke, sorry."]
