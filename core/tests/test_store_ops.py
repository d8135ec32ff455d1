"""The operator part of the Store contract on SQLite beyond the conformance
suite (which runs erase, audit, replay/purge and stats on every backend): an
erasure leaves no mention in any table of the file, and the mention rules."""

from __future__ import annotations

import sqlite3
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hostline.conformance_ops import seed
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
