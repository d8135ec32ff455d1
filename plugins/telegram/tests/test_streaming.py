"""Streaming: one message edited at a bounded rate, the final edit exact."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import hostline
from hostline_telegram import markdown_to_entities, render, to_html
from hostline_telegram.testing import FakeBotAPI

from .conftest import HEADERS, message, tg_config
from .telegram_targets import stream_target, stream_text

INTERVAL = 0.2


async def post(client: Any, update: dict[str, Any]) -> None:
    r = await client.post("/telegram/webhook", json=update, headers=HEADERS)
    assert r.status_code == 200


async def test_streamed_reply_edits_one_message_and_ends_exact(
        hostline_app: Any, fake: FakeBotAPI) -> None:
    async with hostline_app(tg_config(fake, stream_edit_interval=INTERVAL, stream_first_delay=0.1),
                            target=stream_target) as (host, client):
        await post(client, message("stream please", chat_id=30))
        await fake.until(lambda: host.queue_depth == 0 and fake.texts(30)
                         and fake.texts(30)[0].endswith("w29"))
        await asyncio.sleep(0.3)
    sent = fake.messages(30)
    assert len(sent) == 1 and len(fake.calls("sendMessage", chat_id=30)) == 1
    m = sent[0]
    expected = markdown_to_entities(stream_text())
    assert m.text == expected.text
    assert m.raw == to_html(expected)  # the final edit is the exact rendering
    assert [e["type"] for e in m.entities] == ["bold"] * 5
    assert len(m.edits) >= 2  # it really streamed
    gaps = [b - a for a, b in zip([m.sent_at, *m.edit_times], m.edit_times)]
    assert all(g >= INTERVAL * 0.9 for g in gaps), gaps  # bounded edit rate per chat


async def test_long_stream_rolls_over_into_more_messages(hostline_app: Any,
                                                        fake: FakeBotAPI) -> None:
    paragraph = "streamed " * 250  # 2250 characters

    async def target(request: hostline.RunRequest) -> AsyncIterator[str]:
        for i in range(4):
            for _ in range(5):
                yield paragraph[:450]
                await asyncio.sleep(0.01)
            yield f"\n\nchapter {i}\n\n"

    full = "".join(paragraph[:450] * 5 + f"\n\nchapter {i}\n\n" for i in range(4))
    async with hostline_app(tg_config(fake, stream_edit_interval=0.05, stream_first_delay=0.05),
                            target=target) as (host, client):
        await post(client, message("long", chat_id=31))
        await fake.until(lambda: host.queue_depth == 0 and any(
            "chapter 3" in t for t in fake.texts(31)))
        await asyncio.sleep(0.2)
    expected = [c.plain.strip() for c in render(full) if c.plain.strip()]
    assert fake.texts(31) == expected
    assert len(expected) >= 3


async def test_final_edit_applies_response_hooks(hostline_app: Any, fake: FakeBotAPI) -> None:
    class Shout:
        __name__ = "shout"

        @hostline.hookimpl
        def hostline_response_hook(self, context: hostline.ResponseContext) -> Any:
            return hostline.RunResult.from_text(context.result.text.upper())

    async with hostline_app(tg_config(fake, stream_edit_interval=INTERVAL, stream_first_delay=0.1),
                            target=stream_target, plugins=[Shout()]) as (_host, client):
        await post(client, message("x", chat_id=32))
        await fake.until(lambda: fake.texts(32) and fake.texts(32)[0].endswith("W29"))
    assert fake.texts(32) == [markdown_to_entities(stream_text().upper()).text]


async def test_failed_final_edit_is_retried_durably(hostline_app: Any, fake: FakeBotAPI) -> None:
    fake.fail("editMessageText", chat_id=33, status=500, times=50)

    async def target(request: hostline.RunRequest) -> AsyncIterator[str]:
        yield "first"
        await asyncio.sleep(0.1)
        yield " and last"

    async with hostline_app(tg_config(fake, stream_edit_interval=0.05, stream_first_delay=0.05),
                            target=target) as (_host, client):
        await post(client, message("x", chat_id=33))
        await fake.until(lambda: fake.calls("editMessageText", chat_id=33))
        fake.clear_failures()  # the durable retry can now succeed
        await fake.until(lambda: fake.texts(33) == ["first and last"], timeout=15)
    assert len(fake.calls("sendMessage", chat_id=33)) == 1


async def test_stream_failure_sends_the_error_reply(hostline_app: Any, fake: FakeBotAPI) -> None:
    async def target(request: hostline.RunRequest) -> AsyncIterator[str]:
        yield "partial answer"
        await asyncio.sleep(0.05)
        raise RuntimeError("stream broke")

    async with hostline_app(tg_config(fake, stream_first_delay=0.01),
                            target=target) as (_host, client):
        await post(client, message("x", chat_id=34))
        await fake.until(lambda: len(fake.texts(34)) >= 2)
    assert fake.texts(34) == ["partial answer", "Sorry, something went wrong. Please try again."]


async def test_stream_false_sends_once(hostline_app: Any, fake: FakeBotAPI) -> None:
    async with hostline_app(tg_config(fake, stream=False), target=stream_target) as (_h, client):
        await post(client, message("x", chat_id=35))
        await fake.until(lambda: fake.texts(35))
    assert fake.calls("editMessageText") == []
    assert fake.texts(35) == [markdown_to_entities(stream_text()).text]


async def test_a_failed_first_send_while_streaming_does_not_lose_the_reply(
        hostline_app: Any, fake: FakeBotAPI) -> None:
    fake.fail("sendMessage", chat_id=36, status=500, times=2)
    async with hostline_app(tg_config(fake, stream_edit_interval=INTERVAL, stream_first_delay=0.1),
                            target=stream_target) as (host, client):
        await post(client, message("x", chat_id=36))
        await fake.until(lambda: host.queue_depth == 0 and fake.texts(36)
                         and fake.texts(36)[0].endswith("w29"), timeout=15)
        await post(client, message("next", chat_id=36))
        await fake.until(lambda: len(fake.texts(36)) == 2 and fake.texts(36)[1].endswith("w29"))
    expected = markdown_to_entities(stream_text()).text
    assert fake.texts(36) == [expected, expected]
    sends = fake.calls("sendMessage", chat_id=36)
    assert [c.status for c in sends[:2]] == [500, 500]
    assert sends[1].at - sends[0].at >= INTERVAL * 0.9  # not retried on every delta


async def test_a_stream_ending_inside_the_first_delay_is_one_send_message(
        hostline_app: Any, fake: FakeBotAPI) -> None:
    async def target(request: hostline.RunRequest) -> AsyncIterator[str]:
        for word in ("quick", " and", " whole"):
            await asyncio.sleep(0.01)
            yield word

    # The whole stream takes 30 ms: neither the typing indicator nor an edit is due.
    async with hostline_app(tg_config(fake, stream_first_delay=5.0, typing_delay=0.2),
                            target=target) as (host, client):
        for i in range(3):
            await post(client, message(f"m{i}", chat_id=37 + i))
        await fake.until(lambda: host.queue_depth == 0 and all(fake.texts(37 + i)
                                                               for i in range(3)))
    for i in range(3):
        assert fake.texts(37 + i) == ["quick and whole"]
        assert [c.method for c in fake.calls(chat_id=37 + i)] == ["sendMessage"]


async def test_no_typing_once_the_reply_is_visible(hostline_app: Any, fake: FakeBotAPI) -> None:
    async def target(request: hostline.RunRequest) -> AsyncIterator[str]:
        await asyncio.sleep(0.3)  # typing shows while nothing is visible
        yield "first"
        for i in range(10):
            await asyncio.sleep(0.1)
            yield f" w{i}"

    async with hostline_app(tg_config(fake, stream_first_delay=0.05, typing_delay=0,
                                      stream_edit_interval=0.2),
                            target=target) as (host, client):
        await post(client, message("x", chat_id=41))
        await fake.until(lambda: host.queue_depth == 0 and fake.texts(41)
                         and fake.texts(41)[0].endswith("w9"))
    methods = [c.method for c in fake.calls(chat_id=41)]
    assert methods[0] == "sendChatAction" and "sendMessage" in methods
    assert "sendChatAction" not in methods[methods.index("sendMessage"):], methods
    assert methods.count("sendMessage") == 1 and "editMessageText" in methods
