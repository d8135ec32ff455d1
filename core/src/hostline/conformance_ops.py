"""The operator part of the store conformance suite: erase, audit log,
replay and purge, stats, links listing (mixed into
:class:`hostline.testing.StoreConformance`)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable

from .store import COPY_TABLES, AuditEntry, Erasure, Store
from .types import Message, Session

__all__ = ["OperatorConformance"]

MakeStore = Callable[[], Awaitable[Store]]


async def dump(store: Store) -> str:
    """Every row of every copied table, one line each (what an erasure must clean)."""
    lines = []
    for table in COPY_TABLES:
        for row in await store.export_rows(table, None, 100_000):
            lines.append(f"{table}: {json.dumps(row, sort_keys=True)}")
    return "\n".join(lines)


async def seed(store: Store, uid: str = "4242424242", other: str = "5151515151") -> None:
    """Two people's sessions, records, links and tasks."""
    for who in (uid, other):
        s = Session(f"|telegram|chat:{who}:user:{who}", {"n": 1})
        await store.save_turn(s, [Message.user(f"hi from {who}"), Message.assistant("hello")], 50)
        await store.kv_put("dest", f"telegram:{who}",
                           {"destination": {"channel": "telegram", "address": who}})
        await store.enqueue("push", {"destination": {"channel": "telegram", "address": who,
                                                     "identity": f"telegram:{who}"},
                                     "message": {"role": "assistant", "content": "x"}},
                            partition=f"push:telegram:{who}", key=f"k{who}")
    await store.reset_session(f"|telegram|chat:{uid}:user:{uid}")
    await store.link(f"telegram:{uid}", "u1", {"channel": "telegram", "native_id": uid})
    await store.link("teams:29:abc", "u1", {"channel": "teams", "native_id": "29:abc"})
    await store.kv_put("teams:users", "29:abc", {"user": {"id": "29:abc"}})
    await store.kv_put("teams:conversations", "a:conv1", {"user": {"id": "29:abc"}})
    await store.kv_put("telegram-unreachable", f"telegram:-{uid}", {"why": "a group"})
    await store.enqueue("telegram:update", {"update": {"update_id": 7, "message": {
        "from": {"id": int(uid), "first_name": "Ann"}, "text": "secret"}}},
        partition=f"telegram:{uid}", key="telegram:7", remember=60)


class OperatorConformance:
    """Operator actions every backend implements."""

    async def test_erase_removes_every_mention_and_keeps_the_rest(
            self, make_store: MakeStore) -> None:
        store = await make_store()
        await seed(store)
        await store.audit_append(AuditEntry(time.time(), "cli", "test", "h:abc"))
        erasure = Erasure.of(["telegram:4242424242", "teams:29:abc"], ["u1"])
        counts = await store.erase(erasure)
        assert counts["links"] == 2 and counts["tasks"] == 2 and counts["sessions"] >= 1
        text = await dump(store)
        for line in text.splitlines():
            assert not erasure.mentions(line), line
        assert "5151515151" in text            # the other person is untouched
        assert "-4242424242" in text           # a group with a similar id is not them
        assert "audit: " in text               # the audit log is kept
        again = await store.erase(erasure)
        assert sum(again.values()) == 0        # idempotent

    async def test_sessions_of_finds_current_and_reset_sessions(
            self, make_store: MakeStore) -> None:
        store = await make_store()
        await seed(store)
        found = await store.sessions_of(Erasure.of(["telegram:4242424242"]))
        assert len(found) == 1 and found[0].messages == 2
        assert found[0].key == "|telegram|chat:4242424242:user:4242424242"
        assert await store.sessions_of(Erasure.of(["telegram:999"])) == []

    async def test_audit_log_newest_first(self, make_store: MakeStore) -> None:
        store = await make_store()
        for i in range(3):
            await store.audit_append(AuditEntry(float(i), "admin", f"a{i}", None, {"i": i}))
        log = await store.audit_list(limit=2)
        assert [e.action for e in log] == ["a2", "a1"]
        assert log[0].detail == {"i": 2} and log[0].id is not None
        assert [e.action for e in await store.audit_list(before=log[-1].id)] == ["a0"]

    async def test_replay_and_purge_by_id_state_and_age(self, make_store: MakeStore) -> None:
        store = await make_store()
        ids = [await store.enqueue("push", {"n": i}, key=f"p{i}") for i in range(4)]
        claimed = await store.claim("w", 4, 30)
        for t in claimed[:3]:
            await store.reschedule(t.id, "w", "boom", None)  # dead
        assert ids[0] is not None
        assert await store.replay_tasks(ids=[ids[0]]) == 1
        assert await store.replay_tasks(states=["leased"]) == 0   # never one in flight
        assert await store.purge_tasks(older_than=3600) == 0       # too young
        assert await store.purge_tasks() == 2
        stats = await store.stats()
        assert stats.tasks == {"pending": 1, "leased": 1}
        assert stats.oldest_pending_at is not None
        assert await store.purge_tasks(ids=[]) == 0

    async def test_stats_count_what_is_stored(self, make_store: MakeStore) -> None:
        store = await make_store()
        await seed(store)
        await store.kv_put("gone", "x", 1, ttl=-1)
        stats = await store.stats()
        assert stats.tasks == {"pending": 3} and stats.links == 2
        assert stats.sessions == 2 and stats.quarantined == 0
        assert stats.kinds == {"push:pending": 2, "telegram:update:pending": 1}

    async def test_links_list_pages(self, make_store: MakeStore) -> None:
        store = await make_store()
        for i in range(5):
            await store.link(f"t:{i}", "u", {"channel": "t", "native_id": str(i)})
        first = await store.links_list(limit=3)
        rest = await store.links_list(limit=3, after=first[-1][0])
        assert [r[0] for r in first + rest] == [f"t:{i}" for i in range(5)]
        assert first[0][1] == "u" and first[0][2] == {"channel": "t", "native_id": "0"}

    async def test_erase_reaches_leased_tasks_quarantine_and_reset_sessions(
            self, make_store: MakeStore) -> None:
        """What is in flight, quarantined or left behind by ``/new`` goes too; ids
        stored JSON-escaped (non-ASCII) are found."""
        store = await make_store()
        scope = "|telegram|chat:3131313131:user:3131313131"
        await store.save_turn(Session(scope, {}), [Message.user("before /new")], 50)
        await store.reset_session(scope)
        session, _ = await store.load_session(scope, 10)
        await store.save_turn(session, [Message.user("after /new")], 50)
        await store.enqueue("push", {"destination": {"channel": "telegram",
                                                     "address": "3131313131"}}, key="inflight")
        (leased,) = await store.claim("worker", 5, 30)             # in flight now
        await store.kv_put("teams:users", "名前", {"note": "unicode id"})
        await store.import_rows("kv", [{"ns": "ns", "key": "telegram:3131313131",
                                        "value": "{not json", "expires_at": None}])
        await store.kv_get("ns", "telegram:3131313131")           # quarantines it
        await store.kv_put("keep", "other", {"id": "31313131310"})
        erasure = Erasure.of(["telegram:3131313131", "teams:名前"])
        deadline = time.time() + 5
        while not any(erasure.mentions(r.get("row_key"), r.get("raw"))
                      for r in await store.export_rows("quarantine", None, 100)):
            assert time.time() < deadline, "the corrupt row was not quarantined"
            await asyncio.sleep(0.01)
        counts = await store.erase(erasure)
        assert counts["tasks"] == 1 and counts["quarantine"] >= 1 and counts["history"] == 2
        text = await dump(store)
        for line in text.splitlines():
            assert not erasure.mentions(line), line
        assert "before /new" not in text and "after /new" not in text
        assert await store.kv_get("keep", "other") == {"id": "31313131310"}
        await store.finish(leased.id, "worker")                    # the worker ends quietly
        assert await store.sessions_of(erasure) == []
