"""The store conformance suite: what every :class:`hostline.Store` backend must do.

Subclass :class:`StoreConformance` in a test module and give it one fixture,
``make_store``: an async factory returning a new, opened store on the one
database of the current test (empty when the test starts; the fixture closes
what it opened). Two calls give two independent stores on the same data, as
two processes would have::

    from hostline.testing import StoreConformance

    class TestMyStore(StoreConformance):
        @pytest.fixture
        async def make_store(self, tmp_path):
            opened = []
            async def make():
                store = MyStore(tmp_path / "db")
                await store.open()
                opened.append(store)
                return store
            yield make
            for store in opened:
                await store.close()

The suite covers every ``Store`` method, concurrent writers, leases and
takeover, TTLs, corrupt rows (written through :meth:`Store.import_rows`),
copying, locks, the doorbell and the operator actions (erase, audit log,
replay and purge, stats).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from .conformance_ops import OperatorConformance
from .store import COPY_KEYS, COPY_TABLES, JSONText, Store
from .types import Message, Session

__all__ = ["StoreConformance"]

MakeStore = Callable[[], Awaitable[Store]]


async def _eventually(check: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def _quarantined(store: Store) -> list[dict[str, Any]]:
    return await store.export_rows("quarantine", None, 1000)


class StoreConformance(OperatorConformance):
    """Tests every store backend passes; see the module docstring."""

    # sessions -------------------------------------------------------------
    async def test_sessions_history_and_state(self, make_store: MakeStore) -> None:
        store = await make_store()
        session, history = await store.load_session("s1", 10)
        assert session.key == "s1" and session.state == {} and list(history) == []
        session.state["turns"] = 1
        await store.save_turn(session, [Message.user("hi"), Message.assistant("hello")], 10,
                              records=[("rec", "r1", {"a": 1}), ("rec", "r2", {"b": 2}, 60.0),
                                       ("rec", "r3", JSONText('{"c":"é"}'), None),
                                       ("rec", "gone", {"d": 4}, -1.0)])
        session2, history2 = await store.load_session("s1", 10)
        assert session2.state == {"turns": 1}
        assert [(m.role, m.text) for m in history2] == [("user", "hi"), ("assistant", "hello")]
        assert await store.kv_get("rec", "r1") == {"a": 1}
        # A record with a ttl expires; a JSONText value is stored as the JSON it is.
        assert await store.kv_get("rec", "r2") == {"b": 2}
        assert await store.kv_get("rec", "r3") == {"c": "é"}
        assert await store.kv_get("rec", "gone") is None
        other, none = await store.load_session("s2", 10)
        assert other.state == {} and list(none) == []

    async def test_history_limit_returns_the_last_turns(self, make_store: MakeStore) -> None:
        store = await make_store()
        session = Session("s", {})
        for i in range(30):
            await store.save_turn(session, [Message.user(f"m{i}")], 5)
        _, history = await store.load_session("s", 5)
        assert [m.text for m in history] == [f"m{i}" for i in range(25, 30)]
        _, nothing = await store.load_session("s", 0)
        assert list(nothing) == []

    async def test_reset_session_points_the_scope_at_a_fresh_one(
            self, make_store: MakeStore) -> None:
        store = await make_store()
        session, _ = await store.load_session("scope", 10)
        session.state["x"] = 1
        await store.save_turn(session, [Message.user("old")], 10)
        new_key = await store.reset_session("scope")
        assert new_key != "scope"
        fresh, history = await store.load_session("scope", 10)
        assert fresh.key == new_key and fresh.state == {} and list(history) == []
        # The old session stays stored, unreachable through the scope.
        kept = await store.export_rows("history", None, 100)
        assert [r["session"] for r in kept] == [session.key]
        assert await store.reset_session("scope") not in (new_key, "scope")

    # key-value --------------------------------------------------------------
    async def test_kv_put_get_delete_list(self, make_store: MakeStore) -> None:
        store = await make_store()
        assert await store.kv_get("ns", "missing") is None
        for i in range(5):
            await store.kv_put("ns", f"k{i}", {"i": i})
        await store.kv_put("ns", "other", [1, 2])
        await store.kv_put("ns2", "k0", "elsewhere")
        await store.kv_put("ns", "raw", JSONText('{"pre":"encoded"}'))
        assert await store.kv_get("ns", "k3") == {"i": 3}
        assert await store.kv_get("ns", "raw") == {"pre": "encoded"}
        assert await store.kv_get("ns2", "k0") == "elsewhere"
        rows = await store.kv_list("ns", "k")
        assert [k for k, _ in rows] == ["k0", "k1", "k2", "k3", "k4"]
        assert [k for k, _ in await store.kv_list("ns", "k", limit=2, after="k1")] == ["k2", "k3"]
        assert [k for k, _ in await store.kv_list("ns", "k", limit=2, descending=True)] == \
            ["k4", "k3"]
        assert [k for k, _ in await store.kv_list("ns", "k", after="k3", descending=True)] == \
            ["k2", "k1", "k0"]
        await store.kv_put("ns", "k0", {"i": "new"})
        assert await store.kv_get("ns", "k0") == {"i": "new"}
        assert await store.kv_delete("ns", "k0") is True
        assert await store.kv_delete("ns", "k0") is False
        assert await store.kv_get("ns", "k0") is None

    async def test_kv_keys_are_opaque(self, make_store: MakeStore) -> None:
        store = await make_store()
        odd = ["a%b", "a_b", "ä|ö", "x'); DROP TABLE kv; --", "\\", "%", "_"]
        for key in odd:
            await store.kv_put("ns", key, key)
        for key in odd:
            assert await store.kv_get("ns", key) == key
        assert [k for k, _ in await store.kv_list("ns", "a%")] == ["a%b"]
        assert [k for k, _ in await store.kv_list("ns", "a_")] == ["a_b"]

    async def test_ttls_and_purge(self, make_store: MakeStore) -> None:
        store = await make_store()
        await store.kv_put("ns", "short", 1, ttl=0.3)
        await store.kv_put("ns", "long", 2, ttl=60)
        await store.kv_put("ns", "forever", 3)
        assert await store.kv_add("ns", "dedupe", True, ttl=0.3) is True
        assert await store.kv_add("ns", "dedupe", True, ttl=0.3) is False
        assert await store.kv_add("ns", "forever", 9) is False
        assert await store.kv_get("ns", "short") == 1
        await asyncio.sleep(0.5)
        assert await store.kv_get("ns", "short") is None
        assert [k for k, _ in await store.kv_list("ns")] == ["forever", "long"]
        assert await store.kv_add("ns", "dedupe", "again", ttl=60) is True  # expired: re-added
        assert await store.kv_get("ns", "dedupe") == "again"
        assert await store.purge_expired() == 1  # "short"
        assert await store.purge_expired() == 0
        assert await store.kv_get("ns", "forever") == 3

    # links ----------------------------------------------------------------
    async def test_links(self, make_store: MakeStore) -> None:
        store = await make_store()
        assert await store.user_of("tg:1") is None
        assert await store.linked("tg:1") == (None, [])
        await store.link("tg:1", "u1", {"channel": "tg", "native_id": "1"})
        await store.link("teams:a", "u1", {"channel": "teams", "native_id": "a"})
        await store.link("tg:2", "u2", {"channel": "tg", "native_id": "2"})
        assert await store.user_of("teams:a") == "u1"
        ids = await store.identities_of("u1")
        assert sorted(i["native_id"] for i in ids) == ["1", "a"]
        user, linked = await store.linked("tg:1")
        assert user == "u1" and sorted(i["native_id"] for i in linked) == ["1", "a"]
        assert await store.unlink("tg:1") is True
        assert await store.unlink("tg:1") is False
        assert await store.user_of("tg:1") is None
        assert [i["native_id"] for i in await store.identities_of("u1")] == ["a"]

    # tasks ----------------------------------------------------------------
    async def test_enqueue_dedupes_keys_and_remembers_them(self, make_store: MakeStore) -> None:
        store = await make_store()
        first = await store.enqueue("k", {"n": 1}, partition="p", key="a")
        assert isinstance(first, int)
        assert await store.enqueue("k", {"n": 2}, partition="p", key="a") is None
        remembered = await store.enqueue("k", {"n": 3}, partition="q", key="b", remember=60)
        assert remembered is not None
        assert await store.count_pending() == 2
        for task in await store.claim("me", 10, 30):
            await store.finish(task.id, "me")
        assert await store.count_pending() == 0
        # "a" was not remembered: it may be queued again; "b" was.
        assert await store.enqueue("k", {"n": 4}, partition="p", key="a") is not None
        assert await store.enqueue("k", {"n": 5}, partition="q", key="b", remember=60) is None
        short = await store.enqueue("k", {}, key="c", remember=0.2)
        assert short is not None
        (task,) = [t for t in await store.claim("me", 10, 30) if t.key == "c"]
        await store.finish(task.id, "me")
        await asyncio.sleep(0.4)
        assert await store.enqueue("k", {}, key="c", remember=0.2) is not None

    async def test_claims_keep_one_task_per_partition_in_order(
            self, make_store: MakeStore) -> None:
        store = await make_store()
        ids = {}
        for p in ("a", "b"):
            ids[p] = [await store.enqueue("k", {"p": p, "i": i}, partition=p, key=f"{p}{i}")
                      for i in range(3)]
        claimed = await store.claim("me", 10, 30)
        assert sorted((t.partition, t.id) for t in claimed) == [("a", ids["a"][0]),
                                                                 ("b", ids["b"][0])]
        task = claimed[0]
        assert task.kind == "k" and task.state == "leased" and task.attempts == 1
        assert task.payload == {"p": task.partition, "i": 0} and task.key == f"{task.partition}0"
        assert await store.claim("me", 10, 30) == []  # both partitions busy
        for t in claimed:
            await store.finish(t.id, "me")
        order: dict[str, list[int]] = {"a": [], "b": []}
        while True:
            batch = await store.claim("me", 10, 30)
            if not batch:
                break
            assert len({t.partition for t in batch}) == len(batch)
            for t in batch:
                order[t.partition].append(t.id)
                await store.finish(t.id, "me")
        assert order == {"a": ids["a"][1:], "b": ids["b"][1:]}

    async def test_unpartitioned_tasks_run_side_by_side(self, make_store: MakeStore) -> None:
        store = await make_store()
        for i in range(4):
            await store.enqueue("k", {"i": i})
        assert len(await store.claim("me", 10, 30)) == 4

    async def test_claim_filters_kinds_limits_and_waits_for_delay(
            self, make_store: MakeStore) -> None:
        store = await make_store()
        await store.enqueue("x", {}, partition="1")
        await store.enqueue("y", {}, partition="2")
        await store.enqueue("y", {}, partition="3")
        await store.enqueue("y", {}, partition="4", delay=0.3)
        assert [t.kind for t in await store.claim("me", 10, 30, kinds=["x"])] == ["x"]
        assert len(await store.claim("me", 1, 30, kinds=["y"])) == 1
        assert len(await store.claim("me", 10, 30, kinds=["y"])) == 1
        assert await store.claim("me", 10, 30) == []
        await asyncio.sleep(0.4)
        assert [t.partition for t in await store.claim("me", 10, 30)] == ["4"]

    async def test_reschedule_dead_letter_and_retry(self, make_store: MakeStore) -> None:
        store = await make_store()
        tid = await store.enqueue("k", {}, partition="p", key="t")
        assert tid is not None
        (task,) = await store.claim("me", 10, 30)
        await store.reschedule(task.id, "me", "Boom: first", time.time() + 0.3)
        assert await store.claim("me", 10, 30) == []
        (pending,) = await store.list_tasks(["pending"])
        assert pending.last_error == "Boom: first" and pending.attempts == 1
        await asyncio.sleep(0.4)
        (again,) = await store.claim("me", 10, 30)
        assert again.id == tid and again.attempts == 2
        await store.reschedule(again.id, "me", "x" * 2000, None)
        (dead,) = await store.list_tasks(["dead"])
        assert dead.id == tid and dead.last_error is not None and len(dead.last_error) <= 500
        assert await store.count_pending() == 0
        assert await store.claim("me", 10, 30) == []
        assert [t.id for t in await store.list_tasks()] == [tid]
        assert await store.retry_task(tid) is True
        assert await store.retry_task(tid) is False  # not dead any more
        (retried,) = await store.claim("me", 10, 30)
        assert retried.id == tid
        await store.finish(tid, "me")
        assert await store.list_tasks() == []

    async def test_dead_letter_commits_a_dead_task(self, make_store: MakeStore) -> None:
        store = await make_store()
        tid = await store.dead_letter("k:update", {"update": {"bad": True}}, "unprocessable")
        assert tid is not None
        (dead,) = await store.list_tasks(["dead"])
        assert dead.id == tid and dead.kind == "k:update" and dead.last_error == "unprocessable"
        assert dead.payload == {"update": {"bad": True}}
        assert await store.count_pending() == 0 and await store.claim("me", 10, 30) == []

    async def test_release_gives_leases_back(self, make_store: MakeStore) -> None:
        store = await make_store()
        for i in range(3):
            await store.enqueue("k", {}, partition=str(i))
        assert len(await store.claim("me", 10, 30)) == 3
        assert await store.release("other") == 0
        assert await store.release("me") == 3
        again = await store.claim("you", 10, 30)
        assert len(again) == 3 and all(t.attempts == 1 for t in again)

    async def test_leases_are_extended_and_taken_over_when_they_expire(
            self, make_store: MakeStore) -> None:
        a, b = await make_store(), await make_store()
        await a.enqueue("k", {"n": 1}, partition="p", key="one")
        await a.enqueue("k", {"n": 2}, partition="p", key="two")
        (task,) = await a.claim("a", 10, 0.5)
        assert await b.claim("b", 10, 0.5) == []  # partition busy while the lease runs
        await asyncio.sleep(0.3)
        assert await a.extend(task.id, "a", 0.5) is True
        await asyncio.sleep(0.3)
        assert await b.claim("b", 10, 0.5) == []  # extended: still a's
        assert await b.extend(task.id, "b", 30) is False
        await asyncio.sleep(0.4)  # a "died": its lease expires
        (taken,) = await b.claim("b", 10, 30)
        assert taken.id == task.id and taken.attempts == 2 and taken.payload == {"n": 1}
        assert await a.extend(task.id, "a", 30) is False
        await b.finish(taken.id, "b")
        (second,) = await b.claim("b", 10, 30)
        assert second.key == "two"

    async def test_concurrent_writers(self, make_store: MakeStore) -> None:
        a, b = await make_store(), await make_store()

        async def fill(store: Store, who: str) -> list[int | None]:
            return await asyncio.gather(*(
                store.enqueue("k", {"who": who, "i": i}, partition=f"p{i % 7}",
                              key=f"{who}-{i}") for i in range(100)))

        ids_a, ids_b = await asyncio.gather(fill(a, "a"), fill(b, "b"))
        assert None not in ids_a and None not in ids_b
        assert len(set(ids_a) | set(ids_b)) == 200
        # Both race for one dedupe key: exactly one wins.
        wins = await asyncio.gather(*(s.kv_add("race", "key", n, ttl=60)
                                      for n, s in enumerate([a, b] * 10)))
        assert wins.count(True) == 1
        # Claims from both never hand out a task twice nor two tasks of a partition.
        seen: set[int] = set()

        async def drain(store: Store, owner: str) -> None:
            while True:
                batch = await store.claim(owner, 5, 30)
                if not batch:
                    if await store.count_pending() == 0:
                        return
                    await asyncio.sleep(0.01)
                    continue
                for t in batch:
                    assert t.id not in seen
                    seen.add(t.id)
                await asyncio.sleep(0)
                for t in batch:
                    await store.finish(t.id, owner)

        await asyncio.wait_for(asyncio.gather(drain(a, "a"), drain(b, "b")), 60)
        assert seen == set(ids_a) | set(ids_b)
        # Turns saved concurrently to one session all land.
        session = Session("shared", {})
        await asyncio.gather(*(s.save_turn(session, [Message.user(f"{i}")], 100)
                               for i, s in enumerate([a, b] * 10)))
        _, history = await a.load_session("shared", 100)
        assert sorted(int(m.text) for m in history) == list(range(20))

    # corrupt rows ---------------------------------------------------------------
    async def test_corrupt_rows_are_quarantined(self, make_store: MakeStore) -> None:
        store = await make_store()
        now = time.time()
        await store.import_rows("sessions", [{"key": "bad", "state": "[1, 2]",
                                              "updated_at": now}])
        await store.import_rows("history", [
            {"id": 9001, "session": "bad", "message": '{"role": 5}', "created_at": now},
            {"id": 9002, "session": "bad", "message": '{"role": "user", "content": '
                                                      '[{"type": "text", "text": "ok"}]}',
             "created_at": now}])
        await store.import_rows("tasks", [{
            "id": 9001, "kind": "k", "part": "p", "key": "corrupt", "payload": "[1]",
            "state": "pending", "attempts": 0, "next_at": now, "owner": None,
            "lease_until": None, "last_error": None, "created_at": now, "updated_at": now}])
        await store.import_rows("kv", [{"ns": "ns", "key": "bad", "value": "{not json",
                                        "expires_at": None}])
        session, history = await store.load_session("bad", 10)
        assert session.state == {}
        assert [m.text for m in history] == ["ok"]
        assert await store.claim("me", 10, 30) == []
        assert await store.kv_get("ns", "bad") is None
        assert "bad" not in [k for k, _ in await store.kv_list("ns")]

        async def all_moved() -> bool:
            rows = await _quarantined(store)
            tables = {r["tbl"] for r in rows}
            return {"sessions", "history", "tasks", "kv"} <= tables

        await _eventually(all_moved)
        rows = await _quarantined(store)
        assert all(r["error"] for r in rows)
        # Moved, not kept: reads stay clean afterwards.
        assert await store.count_pending() == 0
        _, again = await store.load_session("bad", 10)
        assert [m.text for m in again] == ["ok"]

    async def test_json_boundary_policy(self, make_store: MakeStore) -> None:
        """Values go in through :func:`hostline.encode_json` and come out through
        :func:`hostline.decode_stored_json`: a lone surrogate is stored as U+FFFD,
        an old row holding one reads back repaired, one nested too deep is corrupt."""
        store = await make_store()
        await store.kv_put("ns", "s", {"t\ud800": "x\udfff", "ok": "\U0001f600"})
        assert await store.kv_get("ns", "s") == {"t\ufffd": "x\ufffd", "ok": "\U0001f600"}
        tid = await store.enqueue("k", {"text": "\ud800"})
        (task,) = await store.claim("me", 10, 30)
        assert task.id == tid and task.payload == {"text": "\ufffd"}
        await store.import_rows("kv", [
            {"ns": "ns", "key": "old", "value": '{"text": "old \\ud800"}', "expires_at": None},
            {"ns": "ns", "key": "deep", "value": "[" * 300 + "]" * 300, "expires_at": None}])
        assert await store.kv_get("ns", "old") == {"text": "old \ufffd"}
        assert await store.kv_get("ns", "deep") is None

    # copy -----------------------------------------------------------------------
    async def test_export_import_round_trip_is_idempotent(self, make_store: MakeStore) -> None:
        store = await make_store()
        session = Session("s", {"n": 1})
        await store.save_turn(session, [Message.user("a"), Message.assistant("b")], 10)
        await store.reset_session("t")
        await store.kv_put("ns", "k", {"v": [1, "x"]}, ttl=300)
        await store.link("tg:1", "u", {"channel": "tg", "native_id": "1"})
        await store.enqueue("k", {"p": 1}, partition="q", key="task")
        before = {t: await self._all(store, t) for t in COPY_TABLES}
        assert all(set(r) == set(COPY_TABLES[t]) for t in before for r in before[t])
        assert before["history"] and before["tasks"] and before["aliases"]
        for table, rows in before.items():
            await store.import_rows(table, rows)
        after = {t: await self._all(store, t) for t in COPY_TABLES}
        assert after == before
        page = await store.export_rows("history", None, 1)
        rest = await store.export_rows("history", tuple(page[0][k] for k in COPY_KEYS["history"]),
                                       10)
        assert page + rest == before["history"]
        assert await store.count_rows("history") in (None, 2)
        await store.after_import()
        assert await store.enqueue("k", {}, key="new") not in {r["id"] for r in before["tasks"]}

    @staticmethod
    async def _all(store: Store, table: str) -> list[dict[str, Any]]:
        return await store.export_rows(table, None, 10_000)

    # locks and doorbell -----------------------------------------------------------
    async def test_lock_is_held_by_one_store_at_a_time(self, make_store: MakeStore) -> None:
        a, b = await make_store(), await make_store()
        la, lb = a.lock("poller"), b.lock("poller")
        other = b.lock("another")
        assert await la.acquire() is True
        assert await lb.acquire() is False
        assert await other.acquire() is True
        assert await la.held() is True
        assert await lb.held() is False
        await la.release()
        assert await la.held() is False
        assert await lb.acquire() is True
        assert await la.acquire() is False
        await lb.release()
        await other.release()

    async def test_doorbell_wakes_another_store(self, make_store: MakeStore) -> None:
        a, b = await make_store(), await make_store()
        listener, ringer = a.doorbell(), b.doorbell()
        if listener is None or ringer is None:
            return  # this backend polls
        woken = asyncio.Event()
        await listener.listen(woken.set)
        try:
            await asyncio.sleep(0.05)
            ringer.ring()
            await b.enqueue("k", {})
            await asyncio.wait_for(woken.wait(), 5)
        finally:
            await listener.close()
            await ringer.close()
