"""The FakeBotAPI answers like the Bot API (checked with plain httpx)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from hostline_telegram.testing import FakeBotAPI

from .conftest import message


def call(fake: FakeBotAPI, method: str, token: str | None = None, **params: object
         ) -> httpx.Response:
    return httpx.post(f"{fake.url}/bot{token or fake.token}/{method}", json=params, timeout=10)


def test_unknown_method_and_bad_tokens(fake: FakeBotAPI) -> None:
    r = call(fake, "sendTelepathy", chat_id=1)
    assert r.status_code == 404 and r.json() == {"ok": False, "error_code": 404,
                                                 "description": "Not Found"}
    r = call(fake, "getMe", token="999:wrong-token")
    assert r.status_code == 401 and r.json()["description"] == "Unauthorized"
    r = call(fake, "getMe", token="not-a-token")
    assert r.status_code == 404 and r.json()["ok"] is False
    assert call(fake, "GETME").json()["result"]["username"] == fake.username


def test_send_message_validation(fake: FakeBotAPI) -> None:
    assert call(fake, "sendMessage", text="hi").json()["description"] == \
        "Bad Request: chat_id is empty"
    assert call(fake, "sendMessage", chat_id=1, text="   ").json()["description"] == \
        "Bad Request: message text is empty"
    r = call(fake, "sendMessage", chat_id=1, text="<b>x</b>" + "\U0001f600" * 2048,
             parse_mode="HTML")
    assert r.json()["description"] == "Bad Request: message is too long"  # 4097 UTF-16 units
    r = call(fake, "sendMessage", chat_id=1, text="<b>" + "y" * 4096 + "</b>", parse_mode="HTML")
    assert r.json()["ok"] is True  # the limit applies after entity parsing
    r = call(fake, "sendMessage", chat_id=1, text="<b>open", parse_mode="HTML")
    assert r.status_code == 400
    assert r.json()["description"].startswith("Bad Request: can't parse entities: ")
    ok = call(fake, "sendMessage", chat_id=1, text="  <i>a</i> &amp; b ", parse_mode="HTML").json()
    assert ok["result"]["text"] == "a & b"
    assert ok["result"]["entities"] == [{"type": "italic", "offset": 0, "length": 1}]


def test_edit_delete_and_not_modified(fake: FakeBotAPI) -> None:
    mid = call(fake, "sendMessage", chat_id=5, text="one").json()["result"]["message_id"]
    assert call(fake, "editMessageText", chat_id=5, message_id=mid, text="two").json()["ok"]
    r = call(fake, "editMessageText", chat_id=5, message_id=mid, text="two").json()
    assert r["description"].startswith("Bad Request: message is not modified")
    r = call(fake, "editMessageText", chat_id=5, message_id=999, text="x").json()
    assert r["description"] == "Bad Request: message to edit not found"
    assert fake.messages(5)[0].edits == ["two"]
    assert call(fake, "deleteMessage", chat_id=5, message_id=mid).json()["result"] is True
    assert fake.texts(5) == []


def test_injected_failures_flood_and_blocking(fake: FakeBotAPI) -> None:
    fake.fail("sendMessage", chat_id=7, status=502)
    assert call(fake, "sendMessage", chat_id=7, text="a").status_code == 502
    fake.flood(7, retry_after=3)
    r = call(fake, "sendMessage", chat_id=7, text="a")
    assert r.status_code == 429
    assert r.json()["parameters"] == {"retry_after": 3}
    r = call(fake, "sendChatAction", chat_id=7, action="typing")  # too early
    assert r.status_code == 429 and fake.flood_violations[0].chat_id == "7"
    fake.block(8)
    assert call(fake, "sendMessage", chat_id=8, text="a").json()["description"] == \
        "Forbidden: bot was blocked by the user"
    fake.forget(9)
    assert call(fake, "sendMessage", chat_id=9, text="a").json()["description"] == \
        "Bad Request: chat not found"
    assert call(fake, "sendChatAction", chat_id=1, action="dancing").status_code == 400


def test_get_updates_offsets_long_poll_and_webhook_conflict(fake: FakeBotAPI) -> None:
    fake.queue_update(message("a", update_id=10))
    fake.queue_update(message("b", update_id=11))
    got = call(fake, "getUpdates").json()["result"]
    assert [u["update_id"] for u in got] == [10, 11]
    got = call(fake, "getUpdates", offset=11).json()["result"]
    assert [u["update_id"] for u in got] == [11]
    assert [u["update_id"] for u in fake.pending_updates] == [11]
    assert call(fake, "getUpdates", offset=12, timeout=0).json()["result"] == []
    assert call(fake, "setWebhook", url="http://example.com/hook").json()["description"] == \
        "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
    assert call(fake, "setWebhook", url="https://example.com/hook", secret_token="a b"
                ).status_code == 400
    assert call(fake, "setWebhook", url="https://example.com/hook", secret_token="ok_1").json()[
        "result"] is True
    assert call(fake, "getUpdates").status_code == 409


async def test_long_poll_returns_when_an_update_arrives(fake: FakeBotAPI) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        poll = asyncio.ensure_future(client.post(f"{fake.url}/bot{fake.token}/getUpdates",
                                                 json={"timeout": 5}))
        await asyncio.sleep(0.2)
        assert not poll.done()
        fake.queue_update(message("late", update_id=77))
        resp = await asyncio.wait_for(poll, 5)
    assert [u["update_id"] for u in resp.json()["result"]] == [77]


def test_files_upload_get_file_and_download(fake: FakeBotAPI) -> None:
    r = httpx.post(f"{fake.url}/bot{fake.token}/sendDocument",
                   data={"chat_id": "3", "reply_parameters": json.dumps({"message_id": 1})},
                   files={"document": ("a.txt", b"hello", "text/plain")}, timeout=10)
    doc = r.json()["result"]["document"]
    assert doc["file_name"] == "a.txt" and doc["file_size"] == 5
    info = call(fake, "getFile", file_id=doc["file_id"]).json()["result"]
    body = httpx.get(f"{fake.url}/file/bot{fake.token}/{info['file_path']}", timeout=10)
    assert body.content == b"hello"
    assert call(fake, "sendPhoto", chat_id=3, photo="nope").json()["description"] == \
        "Bad Request: wrong file identifier/HTTP URL specified"
    big = fake.add_file(b"x", declared_size=30 * 1024 * 1024)
    assert call(fake, "getFile", file_id=big).json()["description"] == \
        "Bad Request: file is too big"


@pytest.mark.parametrize("mode", ["form", "query"])
def test_form_and_query_parameters(fake: FakeBotAPI, mode: str) -> None:
    params = {"chat_id": "4", "text": "<b>x</b>", "parse_mode": "HTML"}
    url = f"{fake.url}/bot{fake.token}/sendMessage"
    r = httpx.post(url, data=params) if mode == "form" else httpx.get(url, params=params)
    assert r.json()["result"]["entities"][0]["type"] == "bold"
