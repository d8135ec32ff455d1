"""Hostile and malformed updates: acked (200) or dead-lettered; handling never crashes."""

from __future__ import annotations

import asyncio
import copy
import itertools
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostline.testing import make_host, run_host
from hostline_telegram.testing import FakeBotAPI

from .conftest import HEADERS, member_update, message, tg_config

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=3),
    max_leaves=6)
paths = st.sampled_from([
    ("message",), ("message", "chat"), ("message", "chat", "id"), ("message", "chat", "type"),
    ("message", "from"), ("message", "from", "id"), ("message", "from", "is_bot"),
    ("message", "from", "first_name"), ("message", "text"), ("message", "entities"),
    ("message", "caption"), ("message", "message_id"), ("message", "message_thread_id"),
    ("message", "is_topic_message"), ("message", "reply_to_message"), ("message", "photo"),
    ("message", "document"), ("my_chat_member",), ("my_chat_member", "chat"),
    ("my_chat_member", "new_chat_member"), ("callback_query",), ("edited_message",),
])
mutations = st.lists(st.tuples(paths, json_values), min_size=1, max_size=3)
_counter = itertools.count(1)


def mutate(update: dict[str, Any], changes: list[tuple[tuple[str, ...], Any]]) -> dict[str, Any]:
    out = copy.deepcopy(update)
    for path, value in changes:
        node = out
        for key in path[:-1]:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]
        node[path[-1]] = value
    return out


@settings(max_examples=4, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(batch=st.lists(mutations, min_size=25, max_size=25),
       texts=st.lists(st.text(max_size=40), min_size=5, max_size=5))
def test_hostile_updates_never_crash(fake: FakeBotAPI, tmp_path: Path,
                                     batch: list[Any], texts: list[str]) -> None:
    async def run() -> None:
        directory = tmp_path / f"h{next(_counter)}"
        config = tg_config(fake, group_mode="all", stream=False)
        async with run_host(make_host(directory, config)) as (host, client):
            bases = [message(t or "x", chat_id=5000 + i) for i, t in enumerate(texts)]
            bases.append(member_update("kicked", chat_id=5100))
            for i, changes in enumerate(batch):
                update = mutate(bases[i % len(bases)], changes)
                update["update_id"] = 900_000 + next(_counter)
                r = await client.post("/telegram/webhook", json=update, headers=HEADERS)
                assert r.status_code == 200, r.text
            for raw in (b"", b"[]", b'{"update_id": "1"}', b'{"update_id": true}', b"\xff"):
                r = await client.post("/telegram/webhook", content=raw, headers=HEADERS)
                assert r.status_code == 200  # acked and dead-lettered: never resent
            await fake.until(lambda: host.queue_depth == 0 and host.runner.inflight == 0,
                             timeout=30)
            await asyncio.sleep(0.05)
            failures = [s for s in host.runner.status if s.outcome != "done"]
            # Only delivery errors may fail a task (a garbage chat id Telegram refuses);
            # never a crash of the channel's own parsing.
            assert all((s.error or "").startswith("Telegram") for s in failures), failures

    asyncio.run(run())
