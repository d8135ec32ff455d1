"""Waiting holds nothing scarce: slow targets, order, the outbound limit, pacing."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import hostline
from hostline.testing import SimulatedModel
from hostline_telegram.ratelimit import SendPacer
from hostline_telegram.testing import FakeBotAPI

from .conftest import message, tg_config
from .test_overload import post_many
from .test_server import env, start_with_public_url


async def test_a_slow_target_in_one_chat_delays_no_other_chat(hostline_app: Any,
                                                              fake: FakeBotAPI) -> None:
    release = asyncio.Event()
    slow_chats = range(500, 540)  # more than the old fixed pool of 16 workers

    async def target(request: hostline.RunRequest) -> str:
        if request.text.startswith("slow"):
            await release.wait()
        return request.text

    async with hostline_app(tg_config(fake, stream=False), target=target) as (host, client):
        await post_many(client, [message(f"slow {c}", chat_id=c) for c in slow_chats])
        await post_many(client, [message(f"fast {c}", chat_id=c) for c in range(600, 640)])
        await fake.until(lambda: all(fake.texts(c) for c in range(600, 640)))
        assert not any(fake.texts(c) for c in slow_chats)  # still waiting on their target
        await fake.until(lambda: host.runner.inflight == len(slow_chats))
        release.set()
        await fake.until(lambda: all(fake.texts(c) == [f"slow {c}"] for c in slow_chats))


async def test_order_within_a_chat_holds_with_slow_targets(hostline_app: Any,
                                                           fake: FakeBotAPI) -> None:
    rng = random.Random(5)

    async def target(request: hostline.RunRequest) -> Any:
        for word in request.text.split():
            await asyncio.sleep(rng.uniform(0, 0.03))
            yield word + " "

    chats, per_chat = range(700, 708), 8
    updates = [message(f"c{c} n{i}", chat_id=c) for i in range(per_chat) for c in chats]
    async with hostline_app(tg_config(fake, chat_rate=0, stream_first_delay=0.01),
                            target=target) as (host, client):
        await post_many(client, updates)
        await fake.until(lambda: host.queue_depth == 0 and all(
            len(fake.texts(c)) == per_chat for c in chats), timeout=30)
    for c in chats:
        assert fake.texts(c) == [f"c{c} n{i}" for i in range(per_chat)]


async def test_outbound_calls_never_exceed_their_limit(hostline_app: Any,
                                                       fake: FakeBotAPI) -> None:
    fake.delay("sendMessage", 0.05)
    chats = range(800, 860)
    config = tg_config(fake, stream=False, pool_timeout=30,
                       outbox={"outbound_calls": 4, "max_attempts": 100})
    async with hostline_app(config) as (host, client):
        await post_many(client, [message(f"m{c}", chat_id=c) for c in chats])
        await fake.until(lambda: all(fake.texts(c) == [f"m{c}"] for c in chats), timeout=30)
        await fake.until(lambda: host.queue_depth == 0)
    assert fake.max_in_flight == 4  # reached, never passed


def test_pacer_keeps_inside_the_chat_group_and_bot_limits() -> None:
    pacer = SendPacer(chat_rate=1.0, chat_burst=3, group_rate=20 / 60, bot_rate=0)
    waits = [pacer.reserve("1", group=False) for _ in range(5)]
    assert waits[:3] == [0.0, 0.0, 0.0]  # the burst goes at once
    assert 0.9 < waits[3] <= 1.0 and 1.9 < waits[4] <= 2.0  # then one a second
    group = [pacer.reserve("-5", group=True) for _ in range(4)]
    assert group[:3] == [0.0, 0.0, 0.0] and 2.9 < group[3] <= 3.0  # 20 a minute
    assert pacer.reserve("2", group=False) == 0.0  # other chats are not held up
    bot = SendPacer(chat_rate=0, group_rate=0, bot_rate=30.0, bot_burst=30)
    waits = [bot.reserve(str(i), group=False) for i in range(60)]
    assert waits[:30] == [0.0] * 30 and 0.95 < waits[59] <= 1.0  # 30 a second in all
    assert bot.tracked == 0  # nothing per chat when no chat limit applies


def test_pacer_forgets_idle_chats() -> None:
    pacer = SendPacer(chat_rate=1000.0, chat_burst=1, bot_rate=0)
    for i in range(255):
        pacer.reserve(str(i), group=False)
    assert pacer.tracked == 255
    time.sleep(0.01)  # every chat's next slot (1 ms on) has passed: they are idle
    pacer.reserve("new", group=False)  # the map grew to its sweep size
    assert pacer.tracked == 1


async def test_pacer_forgets_a_bursts_chats_once_sends_stop() -> None:
    pacer = SendPacer(chat_rate=50.0, chat_burst=1, bot_rate=0)
    for i in range(100):
        await pacer.wait(str(i), group=False)
    assert pacer.tracked == 100  # below the sweep size: nothing would forget them
    for _ in range(60):
        await asyncio.sleep(0.05)
        if not pacer.tracked:
            break
    assert pacer.tracked == 0  # the timer did, with no further send
    pacer.close()


def test_sigkill_mid_stream_loses_no_accepted_update(hostline_server: Any,
                                                     fake: FakeBotAPI) -> None:
    options = {"first_token": 0.1, "tokens_per_second": 10.0, "reply_tokens": 20,
               "chunk_tokens": 2}
    config = tg_config(fake, stream_first_delay=0.1, outbox={"lease_seconds": 1.0},
                       host={"target": "hostline.testing:simulated_model"})
    config += "\n[host.target_options]\n" + "".join(f"{k} = {v}\n" for k, v in options.items())
    server = start_with_public_url(hostline_server, config, env=env())
    chats = range(900, 910)
    for c in chats:
        assert fake.deliver(message(f"q{c}", chat_id=c)) == 200  # accepted
    fake.wait_for(lambda: fake.calls("editMessageText"), timeout=20)  # mid-stream
    server.kill()
    partial = {c: fake.texts(c) for c in chats}
    server.start()
    model = SimulatedModel(**options)  # type: ignore[arg-type]
    expected = {c: "".join(model._chunks(hostline.RunRequest(
        input=(hostline.Message.user(f"q{c}"),)))) for c in chats}
    fake.wait_for(lambda: all(fake.texts(c) and fake.texts(c)[-1] == expected[c]
                              for c in chats), timeout=30)
    assert any(partial[c] != [expected[c]] for c in chats)  # the kill did cut streams
