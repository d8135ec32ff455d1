"""What is particular to the PostgreSQL store: configuration and secrecy,
schema versions, copying a SQLite deployment over, hostile text, locks that
die with their connection."""

from __future__ import annotations

import asyncio
from pathlib import Path

import psycopg
import pytest

from hostline import Host, Message, Session, SQLiteStore, StoreSchemaError, load_config
from hostline.cli import main
from hostline_postgres import SCHEMA_VERSION, PostgresStore, redact
from hostline_postgres.testing import PostgresDatabase


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "hostline.toml"
    p.write_text(f'[host]\nstate_dir = "{(tmp_path / "state").as_posix()}"\n{text}',
                 encoding="utf-8")
    return p


def test_config_builds_the_store_and_hides_the_password(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[host.store]\nbackend = "postgres"\n'
                                         'url = "${DATABASE_URL}"\npool_max = 3\n'
                                         'schema = "bot"\n'),
                         env={"DATABASE_URL": "postgres://bob:hunter2@db.example:5432/x"})
    host = Host(config)
    assert isinstance(host.store, PostgresStore)
    assert host.store.schema == "bot" and host.store.pool_max == 3
    assert "hunter2" not in repr(host.store) and "***" in repr(host.store)
    assert "hunter2" not in repr(config)
    assert redact("password=hunter2 host=x") == "password=*** host=x"


@pytest.mark.parametrize("body", ['url = "mysql://x"\n', "",
                                  'url = "postgres://x"\n[host.store.options]\nnope = 1\n'])
def test_bad_postgres_options_are_config_errors(tmp_path: Path, body: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, '[host.store]\nbackend = "postgres"\n' + body)
    assert main(["check", "--config", str(path)]) == 2
    assert "[host.store" in capsys.readouterr().err


def test_check_connects_and_never_prints_the_password(
        tmp_path: Path, postgres_db: PostgresDatabase, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, postgres_db.store_toml())
    assert main(["check", "--config", str(path)]) == 0
    assert "PostgreSQL 1" in capsys.readouterr().out
    bad = write(tmp_path, '[host.store]\nbackend = "postgres"\n'
                          'url = "postgresql://bob:hunter2@127.0.0.1:1/db"\n'
                          "[host.store.options]\nconnect_timeout = 2\n")
    assert main(["check", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "cannot connect" in err and "hunter2" not in err and "bob:***@" in err


async def test_start_up_refuses_a_database_ahead_of_the_code(
        tmp_path: Path, postgres_db: PostgresDatabase) -> None:
    stores = [PostgresStore(postgres_db.url, schema=postgres_db.schema) for _ in range(3)]
    await asyncio.gather(*(s.migrate() for s in stores))  # replicas starting together
    assert await stores[0].migrate() == (SCHEMA_VERSION, SCHEMA_VERSION)
    with psycopg.connect(postgres_db.url, autocommit=True) as conn:
        conn.execute(f"INSERT INTO {postgres_db.schema}.hostline_schema VALUES (99, 0)")
    with pytest.raises(StoreSchemaError, match="newer than this hostline-postgres"):
        await stores[1].open()
    with pytest.raises(StoreSchemaError):
        await stores[2].check()


def test_store_migrate_command(tmp_path: Path, postgres_db: PostgresDatabase,
                               capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, postgres_db.store_toml())
    assert main(["check", "--config", str(path)]) == 0
    assert "no tables yet" in capsys.readouterr().out
    assert main(["store", "migrate", "--config", str(path)]) == 0
    assert f"0 -> {SCHEMA_VERSION}" in capsys.readouterr().out
    assert main(["store", "migrate", "--config", str(path)]) == 0
    assert "nothing to do" in capsys.readouterr().out


def test_copy_a_sqlite_deployment_to_postgres(tmp_path: Path, postgres_db: PostgresDatabase,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    old = tmp_path / "old.sqlite3"

    async def fill() -> None:
        store = SQLiteStore(old)
        await store.open()
        try:
            session = Session("|telegram|chat:1", {"turns": 2})
            await store.save_turn(session, [Message.user("hi"), Message.assistant("yo")], 50)
            await store.reset_session("|telegram|chat:2")
            for i in range(2500):
                await store.kv_put("ns", f"k{i:05d}", {"i": i})
            await store.link("telegram:1", "u", {"channel": "telegram", "native_id": "1"})
            for i in range(5):
                await store.enqueue("push", {"n": i}, partition="p", key=f"t{i}")
            store.db.execute("INSERT INTO kv (ns, key, value) VALUES ('ns', 'bad', '{oops')")
        finally:
            await store.close()

    asyncio.run(fill())
    path = write(tmp_path, postgres_db.store_toml())
    args = ["store", "copy", "--config", str(path), "--from", f"sqlite:{old}"]
    assert main(args) == 0
    out = capsys.readouterr()
    assert "kv: 2,501 rows" in out.err and "tasks: 5 rows" in out.err
    assert main(args) == 0  # idempotent

    async def check() -> None:
        store = PostgresStore(postgres_db.url, schema=postgres_db.schema)
        await store.open()
        try:
            session, history = await store.load_session("|telegram|chat:1", 50)
            assert session.state == {"turns": 2}
            assert [m.text for m in history] == ["hi", "yo"]
            assert await store.kv_get("ns", "k02499") == {"i": 2499}
            assert await store.kv_get("ns", "bad") is None
            assert await store.user_of("telegram:1") == "u"
            tasks = await store.list_tasks()
            assert [t.key for t in tasks] == [f"t{i}" for i in range(5)]
            new = await store.enqueue("push", {}, key="after-copy")
            assert new is not None and new > max(t.id for t in tasks)
            assert [r["tbl"] for r in await store.export_rows("quarantine")] == ["kv"]
        finally:
            await store.close()

    asyncio.run(check())


async def test_hostile_text_is_stored(postgres_db: PostgresDatabase) -> None:
    store = PostgresStore(postgres_db.url, schema=postgres_db.schema)
    await store.open()
    try:
        text = "nul\x00 \\u0000 \ud800 \U0001f600 ' \"; DROP TABLE kv"
        session = Session("s", {"t": text})
        await store.save_turn(session, [Message.user(text)], 10)
        loaded, history = await store.load_session("s", 10)
        assert loaded.state["t"].startswith("nul\ufffd \\u0000 \ufffd \U0001f600")
        assert history[0].text == loaded.state["t"]
        await store.kv_put("ns", "k", {"v": text})
        assert (await store.kv_get("ns", "k"))["v"] == loaded.state["t"]
        assert await store.enqueue("k", {"v": text}, key="x") is not None
        (task,) = await store.claim("me", 1, 30)
        assert task.payload["v"] == loaded.state["t"]
    finally:
        await store.close()


async def test_a_lock_dies_with_its_connection(postgres_db: PostgresDatabase) -> None:
    a = PostgresStore(postgres_db.url, schema=postgres_db.schema)
    b = PostgresStore(postgres_db.url, schema=postgres_db.schema)
    await a.open()
    await b.open()
    try:
        la, lb = a.lock("poller"), b.lock("poller")
        assert await la.acquire() and not await lb.acquire()
        with psycopg.connect(postgres_db.url, autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_locks "
                         "WHERE locktype = 'advisory' AND pid <> pg_backend_pid()")
        assert await lb.acquire()  # the holder's connection is gone: so is its lock
        assert not await la.held()
        await lb.release()
    finally:
        await a.close()
        await b.close()
