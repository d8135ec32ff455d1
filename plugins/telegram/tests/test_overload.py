"""Issue 11 with the fake: slow Bot API and a small pool, fairness, idle chats."""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any

import hostline
from hostline_telegram import TelegramChannel, Where
from hostline_telegram.testing import FakeBotAPI

from .conftest import HEADERS, message, tg_config


async def post_many(client: Any, updates: list[dict[str, Any]], batch: int = 200) -> None:
    for i in range(0, len(updates), batch):
        rs = await asyncio.gather(*(client.post("/telegram/webhook", json=u, headers=HEADERS)
                                    for u in updates[i:i + batch]))
        assert {r.status_code for r in rs} == {200}


async def test_pool_exhaustion_drops_nothing(hostline_app: Any, fake: FakeBotAPI) -> None:
    fake.delay("sendMessage", 0.2)
    # Two connections for eight workers, each send holding one for 0.2 s, and
    # at most 0.1 s to wait for one: most first tries find the pool exhausted.
    config = tg_config(fake, max_connections=2, pool_timeout=0.1, typing_delay=0,
                       outbox={"concurrency": 8, "max_attempts": 100, "backoff_max": 0.5})
    chats = list(range(200, 212))
    async with hostline_app(config) as (host, client):
        await post_many(client, [message(f"msg {c}", chat_id=c) for c in chats])
        await fake.until(lambda: all(fake.texts(c) for c in chats), timeout=40)
        await fake.until(lambda: host.queue_depth == 0, timeout=10)
        statuses = list(host.runner.status)
    assert all(fake.texts(c) == [f"msg {c}"] for c in chats)  # each exactly once
    assert await_dead(statuses) == []
    # The pool really ran dry: some replies took the durable retry path.
    assert any(s.kind == "telegram:reply" for s in statuses)


def await_dead(statuses: list[Any]) -> list[Any]:
    return [s for s in statuses if s.outcome == "dead"]


async def test_a_busy_chat_does_not_starve_a_new_one(hostline_app: Any, fake: FakeBotAPI) -> None:
    busy, fresh, concurrency = 300, 301, 4

    async def target(request: hostline.RunRequest) -> str:
        if request.destination and request.destination.address == str(busy):
            await asyncio.sleep(0.02)
        return request.text

    config = tg_config(fake, outbox={"concurrency": concurrency})
    async with hostline_app(config, target=target) as (_host, client):
        await post_many(client, [message(f"b{i}", chat_id=busy) for i in range(100)])
        before = len(fake.texts(busy))
        await post_many(client, [message("hello", chat_id=fresh)])
        await fake.until(lambda: fake.texts(fresh))
        after = len(fake.texts(busy))
    assert after - before <= concurrency, (before, after)
    assert after < 100
    assert fake.texts(busy)[:after] == [f"b{i}" for i in range(after)]  # in order per chat


def clones(template: dict[str, Any], chat_ids: range) -> list[dict[str, Any]]:
    """Copies of one python-telegram-bot update for many chats (cheap to build)."""
    out = []
    for i, chat_id in enumerate(chat_ids):
        msg = {**template["message"], "chat": {**template["message"]["chat"], "id": chat_id},
               "from": {**template["message"]["from"], "id": chat_id}, "message_id": i + 1}
        out.append({"update_id": 10_000_000 + chat_id, "message": msg})
    return out


async def test_idle_chats_leave_nothing_behind(hostline_app: Any, fake: FakeBotAPI) -> None:
    chats = 10_000
    config = tg_config(fake, stream=False, outbox={"concurrency": 64})
    async with hostline_app(config) as (host, client):
        channel = host.channels["telegram"]
        assert isinstance(channel, TelegramChannel)
        template = message("hi")
        await post_many(client, clones(template, range(1, 201)))  # warm the pool up
        await fake.until(lambda: fake.sent_count >= 200)
        await fake.until(lambda: host.queue_depth == 0)
        gc.collect()
        tasks_before = len(asyncio.all_tasks())
        events_before = count(asyncio.Event) + count(asyncio.Lock) + count(asyncio.Queue)

        started = time.monotonic()
        await post_many(client, clones(template, range(100_000, 100_000 + chats)))
        await fake.until(lambda: fake.sent_count >= 200 + chats, timeout=120)
        await fake.until(lambda: host.queue_depth == 0 and host.runner.inflight == 0)
        elapsed = time.monotonic() - started

        gc.collect()
        assert await host.store.count_pending() == 0
        # A store flush or a claim may still be finishing: transient, not per chat.
        await fake.until(lambda: len(asyncio.all_tasks()) <= tasks_before, timeout=5)
        # Connections hold a few events and locks each: bounded by the pool, not by chats.
        grown = count(asyncio.Event) + count(asyncio.Lock) + count(asyncio.Queue) - events_before
        assert grown <= 50, grown
        assert count(Where) == 0
        assert channel._flood == {}
    print(f"{chats} chats in {elapsed:.1f}s")


def count(kind: type) -> int:
    return sum(1 for o in gc.get_objects() if isinstance(o, kind))
