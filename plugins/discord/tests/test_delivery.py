"""Outbound robustness: retries from reply tasks, expired tokens, permanent failures,
rate-limit buckets."""

from __future__ import annotations

import time
from typing import Any

import hostline
from hostline_discord import DiscordAPI, RateLimits, Route
from hostline_discord.testing import FakeDiscordAPI

from .conftest import dc_config

PATCH_ORIGINAL = "PATCH /webhooks/{webhook_id}/{webhook_token}/messages/@original"


async def test_5xx_is_retried_from_a_reply_task(hostline_app: Any, fake: FakeDiscordAPI) -> None:
    async with hostline_app(dc_config(fake, stream=False)) as (_, client):
        fake.fail(PATCH_ORIGINAL, 502, times=2)
        interaction = fake.command("ask", text="eventually")
        await fake.adeliver(client, interaction)
        assert await fake.until(lambda: fake.texts(interaction_id=interaction["id"]),
                                timeout=15) == ["eventually"]
        assert [c.status for c in fake.calls("PATCH")] == [502, 502, 200]


async def test_expired_token_falls_back_to_a_bot_message(hostline_app: Any,
                                                         fake: FakeDiscordAPI) -> None:
    async with hostline_app(dc_config(fake, stream=False)) as (_, client):
        # Discord redelivered nothing, but our answer comes 15 minutes late.
        late = fake.command("ask", text="too late", channel_id="7100", guild_id="7000",
                            age=899.0)
        await fake.adeliver(client, late)
        await fake.until(lambda: fake.texts("7100") == ["too late"])
        (message,) = [m for m in fake.messages("7100") if m.content]
        assert message.kind == "bot" and fake.calls("PATCH") == []
        # A private answer never falls back into the channel: it goes to the DM.
        private = fake.command("help", channel_id="7100", guild_id="7000", age=899.0)
        await fake.adeliver(client, private)
        await fake.until(lambda: fake.dm_channel_of("4001")
                         and fake.texts(fake.dm_channel_of("4001")))
        assert fake.texts("7100") == ["too late"]


async def test_unknown_and_forbidden_channels_are_permanent(hostline_app: Any,
                                                            fake: FakeDiscordAPI) -> None:
    async with hostline_app(dc_config(fake)) as (host, _):
        fake.add_channel("8001")
        fake.forbid("8002")
        for address in ("8001", "8002", "8999"):
            await host.push("hello", to=hostline.Destination("discord", address))
        await fake.until(lambda: fake.texts("8001") == ["hello"])
        await fake.until(lambda: len(fake.calls("POST /channels")) == 3)
        statuses = sorted(c.status for c in fake.calls("POST /channels"))
        assert statuses == [200, 403, 404]
        await fake.until(lambda: host.queue_depth == 0)
        assert len(fake.calls("POST /channels")) == 3  # not retried


async def test_bucket_exhaustion_waits_instead_of_429(fake: FakeDiscordAPI) -> None:
    fake.add_channel("9001")
    fake.rate_limit("POST /channels/{channel_id}/messages", 2, 1.0)
    api = DiscordAPI(fake.token, api_base=fake.url)
    try:
        started = time.monotonic()
        for i in range(5):
            await api.request(Route("POST", "/channels/{channel_id}/messages",
                                    channel_id="9001"), {"content": f"m{i}"})
        took = time.monotonic() - started
    finally:
        await api.aclose()
    assert fake.texts("9001") == [f"m{i}" for i in range(5)]
    # The first answer told us the bucket; the rest waited for its resets.
    assert took >= 1.5
    assert len(fake.rate_violations) <= 1  # at most the very first burst, before any headers


def test_global_limit_and_webhooks() -> None:
    limits = RateLimits(per_second=2.0)
    bot = Route("POST", "/channels/{channel_id}/messages", channel_id="1")
    hook = Route("PATCH", "/webhooks/{webhook_id}/{webhook_token}/messages/@original",
                 webhook_id="1", webhook_token="secret-token")
    assert limits.delay(bot) == 0 and limits.delay(bot) == 0
    assert limits.delay(bot) > 0  # 2 per second across the bot
    assert limits.delay(hook) == 0  # interaction webhooks are not globally limited
    limits.update(bot, 429, {"x-ratelimit-global": "true"}, retry_after=3.0, is_global=True)
    assert 2.5 < limits.delay(Route("GET", "/users/@me")) <= 3.0
    assert "secret-token" not in repr(hook)
