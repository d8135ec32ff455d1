"""Replies out: splitting, HTML with fallback, 429, 5xx, blocked chats, media, push."""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any

import pytest
from telegram import Document, PhotoSize

import hostline
from hostline_telegram import FileTooLarge, TelegramChannel, markdown_to_entities, render, utf16_len
from hostline_telegram.testing import FakeBotAPI

from .conftest import HEADERS, member_update, message, tg_config


async def post(client: Any, update: dict[str, Any]) -> None:
    r = await client.post("/telegram/webhook", json=update, headers=HEADERS)
    assert r.status_code == 200, r.text


async def test_long_reply_is_split_on_boundaries(hostline_app: Any, fake: FakeBotAPI) -> None:
    paragraphs = [f"Paragraph {i}: " + "lorem ipsum **dolor** sit amet " * 40 for i in range(12)]
    text = "\n\n".join(paragraphs)

    async def target(request: hostline.RunRequest) -> str:
        return text

    async with hostline_app(tg_config(fake), target=target) as (_host, client):
        await post(client, message("long please", chat_id=10))
        await fake.until(lambda: len(fake.texts(10)) >= 3)
        await asyncio.sleep(0.3)
    sent = fake.messages(10)
    chunks = render(text)
    assert "".join(c.plain for c in chunks) == markdown_to_entities(text).text
    assert [m.text for m in sent] == [c.plain.strip() for c in chunks]  # Telegram trims
    assert all(utf16_len(m.text) <= 4096 for m in sent)
    assert all(m.text.startswith("Paragraph") for m in sent)  # cut between paragraphs
    assert all(m.parse_mode == "HTML" for m in sent)


async def test_entity_parse_failure_falls_back_to_plain_text(
        hostline_app: Any, fake: FakeBotAPI) -> None:
    async def target(request: hostline.RunRequest) -> str:
        return "<b>never closed and <blink>"

    async with hostline_app(tg_config(fake, parse_mode="html"), target=target) as (_h, client):
        await post(client, message("x", chat_id=11))
        await fake.until(lambda: fake.texts(11))
    calls = fake.calls("sendMessage", chat_id=11)
    assert [c.status for c in calls] == [400, 200]
    assert "can't parse entities" in calls[0].response["description"]
    assert "parse_mode" not in calls[1].params
    assert fake.texts(11) == ["<b>never closed and <blink>"]


async def test_html_mode_passes_valid_html(hostline_app: Any, fake: FakeBotAPI) -> None:
    async def target(request: hostline.RunRequest) -> str:
        return "<b>bold</b> &amp; <a href='https://e.com'>link</a>"

    async with hostline_app(tg_config(fake, parse_mode="html"), target=target) as (_h, client):
        await post(client, message("x", chat_id=12))
        await fake.until(lambda: fake.texts(12))
    m = fake.messages(12)[0]
    assert m.text == "bold & link"
    assert [e["type"] for e in m.entities] == ["bold", "text_link"]


async def test_429_retry_after_is_honoured(hostline_app: Any, fake: FakeBotAPI) -> None:
    fake.flood(13, retry_after=1, method="sendMessage")
    async with hostline_app(tg_config(fake)) as (_host, client):
        await post(client, message("first", chat_id=13))
        await post(client, message("second", chat_id=13))
        await fake.until(lambda: len(fake.texts(13)) >= 2, timeout=15)
    assert sorted(fake.texts(13)) == ["first", "second"]
    assert fake.flood_violations == []  # nothing reached the chat before retry_after passed
    assert fake.calls("sendMessage", chat_id=13)[0].status == 429


async def test_a_500_on_the_first_send_does_not_wedge_the_chat(
        hostline_app: Any, fake: FakeBotAPI) -> None:
    fake.fail("sendMessage", chat_id=14, status=500)
    async with hostline_app(tg_config(fake)) as (host, client):
        await post(client, message("first", chat_id=14))
        await fake.until(lambda: fake.calls("sendMessage", chat_id=14))
        await post(client, message("second", chat_id=14))
        await fake.until(lambda: "second" in fake.texts(14))
        # ...and the failed reply is retried from the durable queue, not lost.
        await fake.until(lambda: "first" in fake.texts(14))
        await fake.until(lambda: host.queue_depth == 0)
    assert sorted(fake.texts(14)) == ["first", "second"]


async def test_a_5xx_that_persists_retries_then_delivers(hostline_app: Any,
                                                        fake: FakeBotAPI) -> None:
    fake.fail("sendMessage", chat_id=15, status=502, times=3)
    async with hostline_app(tg_config(fake)) as (_host, client):
        await post(client, message("eventually", chat_id=15))
        await fake.until(lambda: fake.texts(15), timeout=15)
    assert fake.texts(15) == ["eventually"]
    assert [c.status for c in fake.calls("sendMessage", chat_id=15)] == [502, 502, 502, 200]


async def test_blocked_chat_is_marked_and_not_retried(hostline_app: Any, fake: FakeBotAPI) -> None:
    fake.block(16)
    async with hostline_app(tg_config(fake)) as (host, client):
        await post(client, message("hello?", chat_id=16))
        await fake.until(lambda: fake.calls("sendMessage", chat_id=16))
        await fake.until(lambda: host.queue_depth == 0)
        assert await host.store.kv_get("telegram-unreachable", "telegram:16") is not None
        # A push to the unreachable chat dead-letters without calling Telegram.
        await host.push("news", to=hostline.Destination("telegram", "16"))
        await fake.until(lambda: host.queue_depth == 0)
        await asyncio.sleep(0.3)
        dead = await host.store.list_tasks(["dead"])
        assert [t.kind for t in dead] == ["push"]
        assert "unreachable" in (dead[0].last_error or "")
    assert len(fake.calls("sendMessage", chat_id=16)) == 1


async def test_unblock_via_my_chat_member_makes_push_work_again(
        hostline_app: Any, fake: FakeBotAPI) -> None:
    async with hostline_app(tg_config(fake)) as (host, client):
        await post(client, member_update("kicked", chat_id=17))
        await fake.until(lambda: host.queue_depth == 0)
        assert await host.store.kv_get("telegram-unreachable", "telegram:17") is not None
        await post(client, member_update("member", chat_id=17))
        await fake.until(lambda: host.queue_depth == 0)
        await host.push("welcome back", to=hostline.Destination("telegram", "17"))
        await fake.until(lambda: fake.texts(17))
    assert fake.texts(17) == ["welcome back"]


async def test_push_to_a_chat_and_a_topic(hostline_app: Any, fake: FakeBotAPI) -> None:
    async with hostline_app(tg_config(fake)) as (host, _client):
        await host.push("**hello** from the agent", to=hostline.Destination("telegram", "18"))
        await host.push("topic news", to=hostline.Destination(
            "telegram", "-10018", is_group=True, reference={"message_thread_id": 4}))
        await fake.until(lambda: fake.texts(18) and fake.texts(-10018))
    assert fake.texts(18) == ["hello from the agent"]
    assert fake.messages(-10018)[0].thread_id == 4


async def test_media_in_becomes_parts_and_downloads_on_demand(
        hostline_app: Any, fake: FakeBotAPI) -> None:
    small = fake.add_file(b"photo-bytes", file_name="p.jpg", mime_type="image/jpeg")
    doc_id = fake.add_file(b"%PDF-1.7 report", file_name="r.pdf", mime_type="application/pdf")
    big = fake.add_file(b"x" * 5000, file_name="big.bin")
    seen: list[hostline.RunRequest] = []
    downloads: list[Any] = []

    async def target(request: hostline.RunRequest) -> str:
        seen.append(request)
        channel = request and host.channels["telegram"]
        assert isinstance(channel, TelegramChannel)
        for part in request.input[0].content:
            if getattr(part, "file_id", None):
                try:
                    downloads.append(await channel.download(part.file_id, max_bytes=1000))
                except FileTooLarge as exc:
                    downloads.append(exc)
        return "got it"

    photo = [PhotoSize("thumb", "u1", 90, 90, file_size=10),
             PhotoSize(small, "u2", 800, 600, file_size=11)]
    async with hostline_app(tg_config(fake), target=target) as (host, client):
        await post(client, message(None, chat_id=19, photo=photo, caption="look"))
        await post(client, message(None, chat_id=19, document=Document(
            doc_id, "u3", file_name="r.pdf", mime_type="application/pdf", file_size=15)))
        await post(client, message(None, chat_id=19, document=Document(big, "u4",
                                                                         file_size=5000)))
        await fake.until(lambda: len(fake.texts(19)) >= 3)
    first, second, _ = (r.input[0].content for r in seen)
    assert first == (hostline.TextPart("look"),
                     hostline.ImagePart(file_id=small, mime_type="image/jpeg"))
    assert second == (hostline.FilePart(file_id=doc_id, mime_type="application/pdf",
                                        name="r.pdf", size=15),)
    assert downloads[:2] == [b"photo-bytes", b"%PDF-1.7 report"]
    assert isinstance(downloads[2], FileTooLarge)


async def test_media_out_uses_send_photo_and_send_document(
        hostline_app: Any, fake: FakeBotAPI) -> None:
    known = fake.add_file(b"data", file_name="notes.txt", mime_type="text/plain")
    png = "data:image/png;base64," + base64.b64encode(b"\x89PNG fake").decode()

    async def target(request: hostline.RunRequest) -> hostline.RunResult:
        return hostline.RunResult((hostline.Message.assistant([
            hostline.TextPart("here you go"),
            hostline.ImagePart(url="https://example.com/cat.jpg"),
            hostline.ImagePart(url=png, name="chart.png"),
            hostline.FilePart(file_id=known),
        ]),))

    async with hostline_app(tg_config(fake), target=target) as (_host, client):
        await post(client, message("files please", chat_id=20))
        await fake.until(lambda: len(fake.messages(20)) >= 4)
    kinds = [(m.kind, (m.file or {}).get("file_name")) for m in fake.messages(20)]
    assert kinds[0] == ("text", None)
    assert [k for k, _ in kinds[1:]] == ["photo", "photo", "document"]
    assert fake.calls("sendPhoto")[0].params["photo"] == "https://example.com/cat.jpg"
    assert fake.messages(20)[3].file["file_id"] == known


async def test_target_failure_sends_the_error_reply_once(hostline_app: Any,
                                                        fake: FakeBotAPI) -> None:
    calls = 0

    async def target(request: hostline.RunRequest) -> str:
        nonlocal calls
        calls += 1
        raise RuntimeError("model exploded")

    async with hostline_app(tg_config(fake), target=target) as (_host, client):
        await post(client, message("boom", chat_id=21))
        await fake.until(lambda: fake.texts(21))
        await asyncio.sleep(0.3)
    assert fake.texts(21) == ["Sorry, something went wrong. Please try again."]
    assert calls == 1


async def test_group_upgraded_to_supergroup_is_followed(hostline_app: Any,
                                                       fake: FakeBotAPI) -> None:
    fake.fail("sendMessage", chat_id=-22, status=400,
              description="Bad Request: group chat was upgraded to a supergroup chat",
              parameters={"migrate_to_chat_id": -10022})
    async with hostline_app(tg_config(fake, group_mode="all")) as (_host, client):
        await post(client, message("hi", chat_id=-22, kind="group"))
        await fake.until(lambda: fake.texts(-10022))
    assert fake.texts(-10022) == ["hi"]
    assert len(fake.calls("sendMessage", chat_id=-22)) == 1


async def test_a_bad_request_drops_that_part_only(hostline_app: Any, fake: FakeBotAPI) -> None:
    fake.fail("sendMessage", chat_id=24, status=400, description="Bad Request: something odd")

    async def target(request: hostline.RunRequest) -> hostline.RunResult:
        return hostline.RunResult((hostline.Message.assistant("part one"),
                                   hostline.Message.assistant("part two")))

    async with hostline_app(tg_config(fake), target=target) as (host, client):
        await post(client, message("x", chat_id=24))
        await fake.until(lambda: fake.texts(24))
        await fake.until(lambda: host.queue_depth == 0)
    assert fake.texts(24) == ["part two"]


async def test_token_never_appears_in_logs_errors_or_reprs(
        hostline_app: Any, fake: FakeBotAPI, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    # `hostline` quiets httpx by default; someone debugging turns it on: still no token.
    caplog.set_level(logging.DEBUG, logger="httpx")
    fake.fail("sendMessage", chat_id=23, status=500, times=2)
    fake.fail("sendChatAction", status=500, times=5)
    async with hostline_app(tg_config(fake)) as (host, client):
        channel = host.channels["telegram"]
        await post(client, message("hi", chat_id=23))
        await fake.until(lambda: fake.texts(23), timeout=15)
        reprs = [repr(channel), repr(channel.config), repr(channel.api), str(channel.config)]
        # A network failure carries the URL in httpx's own exception: redacted here.
        fake.stop()
        with pytest.raises(hostline.RetryableDeliveryError) as info:
            await channel.api.call("sendMessage", {"chat_id": 1, "text": "x"})
        reprs.append(str(info.value))
        fake.start()
    secret_part = fake.token.split(":", 1)[1]
    for text in reprs + [r.getMessage() for r in caplog.records] + [
            str(r.exc_info) for r in caplog.records if r.exc_info]:
        assert secret_part not in text
    assert any("HTTP Request" in r.getMessage() for r in caplog.records)  # httpx did log URLs


async def test_start_up_with_a_wrong_token_fails_clearly(tmp_path: Any, fake: FakeBotAPI) -> None:
    from hostline.testing import make_host, run_host

    config = tg_config(fake).replace(fake.token, "42:WRONG-secret-token-value")
    with pytest.raises(hostline.StartupError) as info:
        async with run_host(make_host(tmp_path, config)):
            pass
    assert "getMe" in str(info.value) and "401" in str(info.value)
    assert "WRONG-secret-token-value" not in str(info.value)
