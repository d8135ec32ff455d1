"""Buttons under answers: a new conversation, and feedback into ``hostline_feedback``."""

from __future__ import annotations

from typing import Any

import hostline
from hostline_discord.testing import FakeDiscordAPI

from .conftest import dc_config


async def history(request: hostline.RunRequest) -> str:
    return f"{request.text} [history={len(request.history)}]"


class Ratings:
    def __init__(self) -> None:
        self.got: list[hostline.Feedback] = []

    @hostline.hookimpl
    def hostline_feedback(self, feedback: hostline.Feedback, host: hostline.Host) -> None:
        self.got.append(feedback)


async def ask(fake: FakeDiscordAPI, client: Any, text: str, **kw: Any) -> list[str]:
    interaction = fake.command("ask", text=text, **kw)
    assert (await fake.adeliver(client, interaction)).json()["type"] == 5
    return await fake.until(lambda: fake.texts(interaction_id=interaction["id"]))


async def test_new_conversation_button(hostline_app: Any, fake: FakeDiscordAPI) -> None:
    async with hostline_app(dc_config(fake), target=history) as (_, client):
        assert await ask(fake, client, "one") == ["one [history=0]"]
        assert await ask(fake, client, "two") == ["two [history=2]"]
        # Another channel is another conversation; a guild channel too.
        assert await ask(fake, client, "elsewhere", channel_id="5999",
                         guild_id="6000") == ["elsewhere [history=0]"]
        answer = fake.messages(interaction_id=None)[-1]
        press = fake.button("hostline:new", message=answer)
        r = await fake.adeliver(client, press)
        assert r.json() == {"type": 5, "data": {"flags": 64}}
        assert await fake.until(lambda: fake.texts(interaction_id=press["id"])) == [
            "Started a new conversation."]
        assert await ask(fake, client, "three") == ["three [history=0]"]


async def test_feedback_buttons_feed_the_hook(hostline_app: Any, fake: FakeDiscordAPI) -> None:
    ratings = Ratings()
    async with hostline_app(dc_config(fake, feedback_buttons=True),
                            target=history) as (host, client):
        host.pm.register(ratings)
        interaction = fake.command("ask", text="rate me", guild_id="6000", channel_id="6001")
        await fake.adeliver(client, interaction)
        await fake.until(lambda: fake.texts(interaction_id=interaction["id"]))
        answer = fake.messages(interaction_id=interaction["id"])[-1]
        buttons = answer.components[0]["components"]
        ids = [b["custom_id"] for b in buttons]
        assert ids[0] == "hostline:new" and ids[1].startswith("hostline:fb:up:")
        press = fake.button(ids[2], message=answer, guild_id="6000", channel_id="6001")
        await fake.adeliver(client, press)
        assert await fake.until(lambda: fake.texts(interaction_id=press["id"])) == [
            "Thanks for the feedback."]
        (fb,) = ratings.got
        assert fb.rating == "negative" and fb.channel == "discord"
        assert fb.answer == "rate me [history=0]" and fb.message_id == answer.id
        assert fb.identity is not None and fb.identity.native_id == "4001"
        assert fb.identity.display_name == "Ann Lee"
        assert fb.identity.claims == {"username": "ann", "guild_id": "6000"}
        assert fb.run_id and fb.extra["guild_id"] == "6000"
        # A button hostline does not own is acknowledged and left alone.
        other = fake.button("someone-else:thing", message=answer)
        r = await fake.adeliver(client, other)
        assert r.json() == {"type": 6}
        await fake.until(lambda: host.queue_depth == 0)
        assert fake.messages(interaction_id=other["id"]) == []
