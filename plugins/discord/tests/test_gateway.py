"""Gateway mode against a real ``hostline serve`` (two workers) and the fake Gateway:
hello, identify, heartbeats, dispatch, resume after a drop, one connection only."""

from __future__ import annotations

from typing import Any

from hostline_discord.testing import BOT_ID, FakeDiscordAPI

from .conftest import dc_config, env


def test_dm_answered_over_the_gateway(hostline_server: Any, fake: FakeDiscordAPI) -> None:
    fake.gateway.heartbeat_interval = 0.3
    config = dc_config(fake, host={"target": "discord_targets:history_echo"}, gateway=True,
                       gateway_lock_retry=0.2)
    server = hostline_server(config, env=env(), workers=2)
    fake.wait_for(lambda: fake.gateway.current is not None, timeout=20)
    (hello,) = fake.gateway.identifies
    assert hello["token"] == fake.token and hello["intents"] == (1 << 9) | (1 << 12)

    # A DM is answered in the DM channel.
    fake.gateway.dispatch("MESSAGE_CREATE", fake.message_create("hi there", channel_id="5101"))
    fake.wait_for(lambda: fake.texts("5101") == ["hi there [history=0]"], timeout=20)
    # In a guild only a mention is answered; the bot's own messages never are.
    fake.gateway.dispatch("MESSAGE_CREATE", fake.message_create(
        "not for the bot", channel_id="5102", guild_id="6100"))
    fake.gateway.dispatch("MESSAGE_CREATE", fake.message_create(
        "echo", channel_id="5102", guild_id="6100", user_id=BOT_ID, bot=True))
    fake.gateway.dispatch("MESSAGE_CREATE", fake.message_create(
        "for the bot", channel_id="5102", guild_id="6100", mention=True))
    fake.wait_for(lambda: fake.texts("5102") == ["for the bot [history=0]"], timeout=20)
    fake.wait_for(lambda: fake.gateway.heartbeats >= 2, timeout=10)

    # The connection drops; an event sent meanwhile arrives after RESUME.
    fake.gateway.drop()
    fake.gateway.dispatch("MESSAGE_CREATE", fake.message_create("while away",
                                                                channel_id="5101"))
    fake.wait_for(lambda: fake.gateway.resumes, timeout=20)
    assert fake.gateway.resumes[0]["session_id"] == "fake-session-1"
    fake.wait_for(lambda: "while away [history=2]" in fake.texts("5101"), timeout=20)
    # RECONNECT (op 7) is resumed too.
    fake.gateway.reconnect()
    fake.wait_for(lambda: len(fake.gateway.resumes) >= 2, timeout=20)
    fake.gateway.dispatch("MESSAGE_CREATE", fake.message_create("/new", channel_id="5101"))
    fake.wait_for(lambda: "Started a new conversation." in fake.texts("5101"), timeout=20)

    assert len(fake.gateway.identifies) == 1  # resumed, never identified again
    assert fake.gateway.max_open == 1  # two workers, one connection
    assert fake.token not in server.output()
