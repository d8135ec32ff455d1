"""Polling mode: deleteWebhook first, getUpdates loop, persisted offset, backoff."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

import hostline
from hostline.testing import make_host, run_host
from hostline_telegram.testing import FakeBotAPI

from .conftest import message, tg_config


def polling(fake: FakeBotAPI, **kw: Any) -> str:
    return tg_config(fake, mode="polling", secret_token=None, polling_timeout=1, **kw)


async def history_echo(request: hostline.RunRequest) -> str:
    return f"{request.text} [history={len(request.history)}]"


async def test_polling_end_to_end(hostline_app: Any, fake: FakeBotAPI) -> None:
    httpx.post(f"{fake.url}/bot{fake.token}/setWebhook", json={"url": "https://old.example/x"})
    async with hostline_app(polling(fake), target=history_echo) as (_host, client):
        fake.queue_update(message("one", chat_id=40))
        fake.queue_update(message("two", chat_id=40))
        fake.queue_update(message("elsewhere", chat_id=41))
        await fake.until(lambda: len(fake.texts(40)) >= 2 and fake.texts(41))
        assert (await client.post("/telegram/webhook", json={})).status_code == 404
    methods = [c.method for c in fake.calls()]
    assert methods.index("deleteWebhook") < methods.index("getUpdates")
    assert fake.webhook is None
    assert fake.texts(40) == ["one [history=0]", "two [history=2]"]
    assert fake.texts(41) == ["elsewhere [history=0]"]
    assert fake.calls("getUpdates")[0].params["allowed_updates"] == ["message", "my_chat_member"]


async def test_offset_and_history_survive_a_restart(tmp_path: Any, fake: FakeBotAPI) -> None:
    config = polling(fake)
    async with run_host(make_host(tmp_path, config, target=history_echo)):
        fake.queue_update(message("a", chat_id=42, update_id=500))
        fake.queue_update(message("b", chat_id=42, update_id=501))
        await fake.until(lambda: len(fake.texts(42)) >= 2)
    before = len(fake.calls("getUpdates"))
    async with run_host(make_host(tmp_path, config, target=history_echo)):
        fake.queue_update(message("c", chat_id=42, update_id=502))
        await fake.until(lambda: len(fake.texts(42)) >= 3)
    first_after_restart = fake.calls("getUpdates")[before]
    assert first_after_restart.params["offset"] == 502
    assert fake.texts(42) == ["a [history=0]", "b [history=2]", "c [history=4]"]


async def test_get_updates_errors_back_off_and_recover(hostline_app: Any,
                                                      fake: FakeBotAPI) -> None:
    fake.fail("getUpdates", status=502, times=2)
    async with hostline_app(polling(fake)) as (_host, _client):
        fake.queue_update(message("after errors", chat_id=43))
        await fake.until(lambda: fake.texts(43), timeout=15)
    statuses = [c.status for c in fake.calls("getUpdates")]
    assert statuses[:2] == [502, 502] and 200 in statuses


async def test_shutdown_during_a_long_poll_is_clean(tmp_path: Any, fake: FakeBotAPI) -> None:
    config = tg_config(fake, mode="polling", secret_token=None, polling_timeout=30)

    async def run() -> None:
        async with run_host(make_host(tmp_path, config)):
            await fake.until(lambda: fake.active_polls, timeout=5)  # a long poll waits

    await asyncio.wait_for(run(), 15)
    tasks = [t for t in asyncio.all_tasks() if "telegram-poll" in t.get_name()]
    assert tasks == []
