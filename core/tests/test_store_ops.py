"""The operator part of the Store contract on SQLite: erase, audit, replay/purge, stats."""

from __future__ import annotations

import sqlite3
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hostline import Message, Session
from hostline.store import AuditEntry, Erasure, SQLiteStore


@pytest.fixture
async def store(tmp_path):
    s = SQLiteStore(tmp_path / "s.sqlite3")
    await s.open()
    yield s
    await s.close()


def dump(path) -> str:
    """Every row of every table, as text."""
    db = sqlite3.connect(path)
    try:
        out = []
        for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'"):
            for row in db.execute(f"SELECT * FROM {table}"):
                out.append(f"{table}: {row!r}")
        return "\n".join(out)
    finally:
        db.close()


async def seed(store, uid: str = "4242424242", other: str = "5151515151") -> None:
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


async def test_erase_removes_every_mention_and_keeps_the_rest(store, tmp_path):
    await seed(store)
    await store.audit_append(AuditEntry(time.time(), "cli", "test", "h:abc"))
    erasure = Erasure.of(["telegram:4242424242", "teams:29:abc"], ["u1"])
    counts = await store.erase(erasure)
    assert counts["links"] == 2 and counts["tasks"] == 2 and counts["sessions"] >= 1
    text = dump(tmp_path / "s.sqlite3")
    assert "4242424242\n" not in text
    for line in text.splitlines():
        assert not erasure.mentions(line), line
    assert "5151515151" in text            # the other person is untouched
    assert "-4242424242" in text           # a group with a similar id is not them
    assert "audit:" in text                # the audit log is kept
    again = await store.erase(erasure)
    assert sum(again.values()) == 0        # idempotent


async def test_sessions_of_finds_current_and_reset_sessions(store):
    await seed(store)
    found = await store.sessions_of(Erasure.of(["telegram:4242424242"]))
    assert len(found) == 1 and found[0].messages == 2
    assert found[0].key == "|telegram|chat:4242424242:user:4242424242"
    assert await store.sessions_of(Erasure.of(["telegram:999"])) == []


async def test_audit_log_newest_first(store):
    for i in range(3):
        await store.audit_append(AuditEntry(float(i), "admin", f"a{i}", None, {"i": i}))
    log = await store.audit_list(limit=2)
    assert [e.action for e in log] == ["a2", "a1"]
    assert [e.action for e in await store.audit_list(before=log[-1].id)] == ["a0"]


async def test_replay_and_purge_by_id_state_and_age(store):
    ids = [await store.enqueue("push", {"n": i}, key=f"p{i}") for i in range(4)]
    claimed = await store.claim("w", 4, 30)
    for t in claimed[:3]:
        await store.reschedule(t.id, "w", "boom", None)  # dead
    assert await store.replay_tasks(ids=[ids[0]]) == 1
    assert await store.replay_tasks(states=["leased"]) == 0   # never one in flight
    assert await store.purge_tasks(older_than=3600) == 0       # too young
    assert await store.purge_tasks() == 2
    stats = await store.stats()
    assert stats.tasks == {"pending": 1, "leased": 1}
    assert stats.oldest_pending_at is not None
    assert await store.purge_tasks(ids=[]) == 0


async def test_links_list_pages(store):
    for i in range(5):
        await store.link(f"t:{i}", "u", {"channel": "t", "native_id": str(i)})
    first = await store.links_list(limit=3)
    rest = await store.links_list(limit=3, after=first[-1][0])
    assert [r[0] for r in first + rest] == [f"t:{i}" for i in range(5)]


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=12), st.sampled_from(' :,"[]{}|/'))
def test_any_id_is_found_between_delimiters(native, sep):
    e = Erasure.of([f"c:{native}"])
    assert e.mentions(f"x{sep}{native}{sep}y" if sep != " " else f" {native} ")


@settings(max_examples=200, deadline=None)
@given(st.from_regex(r"[A-Za-z0-9]{1,12}", fullmatch=True))
def test_an_id_inside_a_longer_token_is_not_a_mention(native):
    e = Erasure.of([f"c:{native}"])
    assert not e.mentions(f"a{native}b") and not e.mentions(f"-{native}_")


def test_mentions_boundaries():
    e = Erasure.of(["telegram:42"])
    assert e.mentions('{"id":42,"x":1}') and e.mentions("chat:42:user:42")
    assert not e.mentions("chat:-42") and not e.mentions("1428") and not e.mentions("42a")
    assert Erasure.of(["teams:名前"]).mentions('{"id":"\\u540d\\u524d"}')
    with pytest.raises(ValueError):
        Erasure.of(["nope"])
