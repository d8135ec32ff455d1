"""Store backends as plugins: ``[host.store]``, ``hostline check``, ``store
migrate | copy``, and singletons on the store's lock."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from hostline import ConfigError, Host, Message, PluginError, SQLiteStore, load_config
from hostline.cli import main
from hostline.singleton import run_singleton
from hostline.store.copy import Progress
from hostline.store.sqlite import SCHEMA_VERSION


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "hostline.toml"
    p.write_text(f'[host]\nstate_dir = "{(tmp_path / "state").as_posix()}"\n{text}',
                 encoding="utf-8")
    return p


def test_default_backend_is_sqlite_in_state_dir(tmp_path: Path) -> None:
    host = Host(load_config(write(tmp_path, "")))
    assert isinstance(host.store, SQLiteStore)
    assert host.store.path == tmp_path / "state" / "hostline.sqlite3"


def test_sqlite_url_names_the_file(tmp_path: Path) -> None:
    host = Host(load_config(write(tmp_path, '[host.store]\nurl = "sqlite:other.db"\n')))
    assert isinstance(host.store, SQLiteStore)
    assert host.store.path == tmp_path / "state" / "other.db"
    with pytest.raises(ConfigError, match=r"\[host.store\] key 'url'"):
        Host(load_config(write(tmp_path, '[host.store]\nurl = "mysql://x"\n')))


def test_unknown_backend_names_the_key_and_what_is_installed(tmp_path: Path) -> None:
    with pytest.raises(PluginError) as info:
        Host(load_config(write(tmp_path, '[host.store]\nbackend = "nosuch"\n')))
    msg = str(info.value)
    assert "[host.store] backend" in msg and "'nosuch'" in msg and "sqlite" in msg


@pytest.mark.parametrize("body, key", [
    ("pool_min = 5\npool_max = 2\n", "pool_min"),
    ("pool_max = 0\n", "pool_max"),
    ('schema = "x; drop"\n', "schema"),
    ("pool_size = 3\n", "pool_size"),
])
def test_bad_store_options(tmp_path: Path, body: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, "[host.store]\n" + body))
    assert "[host.store]" in str(info.value) and key in str(info.value)


def test_the_store_url_is_a_secret(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[host.store]\nbackend = "sqlite"\n'
                                         'url = "${DATABASE_URL}"\n'),
                         env={"DATABASE_URL": "postgres://bob:hunter2@db/x"})
    assert "hunter2" not in repr(config) and "hunter2" not in str(config.host.store)
    assert config.host.store.url is not None
    assert config.host.store.url.reveal() == "postgres://bob:hunter2@db/x"
    with pytest.raises(ConfigError) as info:
        Host(config)
    assert "hunter2" not in str(info.value)


def test_check_connects_to_the_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write(tmp_path, "")
    assert main(["check", "--config", str(config)]) == 0
    assert "store: sqlite" in capsys.readouterr().out
    assert main(["store", "migrate", "--config", str(config)]) == 0
    assert f"version 0 -> {SCHEMA_VERSION}" in capsys.readouterr().out
    assert main(["check", "--config", str(config)]) == 0
    assert f"schema version {SCHEMA_VERSION} of {SCHEMA_VERSION}" in capsys.readouterr().out
    db = sqlite3.connect(tmp_path / "state" / "hostline.sqlite3")
    db.execute("PRAGMA user_version=99")
    db.close()
    assert main(["check", "--config", str(config)]) == 2
    assert "newer than this hostline" in capsys.readouterr().err
    assert main(["store", "migrate", "--config", str(config)]) == 2


def test_copy_between_stores_is_idempotent(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    async def fill() -> int | None:
        source = SQLiteStore(tmp_path / "old.sqlite3")
        await source.open()
        try:
            session, _ = await source.load_session("s", 10)
            session.state["n"] = 1
            await source.save_turn(session, [Message.user("hi"), Message.assistant("yo")], 10)
            for i in range(1500):
                await source.kv_put("ns", f"k{i:05d}", i)
            return await source.enqueue("push", {"x": 1}, partition="p", key="t1")
        finally:
            await source.close()

    task_id = asyncio.run(fill())
    config = write(tmp_path, "")
    args = ["store", "copy", "--config", str(config),
            "--from", f"sqlite:{tmp_path / 'old.sqlite3'}"]
    assert main(args) == 0
    out = capsys.readouterr()
    assert "copied 1,504 rows" in out.out and "kv: 1,500 rows" in out.err
    assert main(args) == 0  # again: nothing changes

    async def check() -> None:
        dest = SQLiteStore(tmp_path / "state" / "hostline.sqlite3")
        await dest.open()
        try:
            loaded, history = await dest.load_session("s", 10)
            assert loaded.state == {"n": 1} and [m.text for m in history] == ["hi", "yo"]
            assert await dest.kv_get("ns", "k01499") == 1499
            assert [t.id for t in await dest.list_tasks()] == [task_id]
            assert await dest.count_rows("kv") == 1500
            assert await dest.count_rows("history") == 2
        finally:
            await dest.close()

    asyncio.run(check())
    assert main(["store", "copy", "--config", str(config)]) == 2  # no --from


def test_progress_bar_on_a_terminal() -> None:
    import io

    out = io.StringIO()
    bar = Progress(out, tty=True)
    bar.update("kv", 500, 1000, False)
    bar.update("kv", 1000, 1000, True)
    text = out.getvalue()
    assert "\r" in text and "1,000/1,000" in text and "#" * 30 in text


async def test_singleton_runs_in_one_process_and_is_taken_over(tmp_path: Path) -> None:
    a, b = SQLiteStore(tmp_path / "s.sqlite3"), SQLiteStore(tmp_path / "s.sqlite3")
    await a.open()
    await b.open()
    running: list[str] = []

    def work(who: str):  # type: ignore[no-untyped-def]
        async def run() -> None:
            running.append(who)
            await asyncio.Event().wait()
        return run

    try:
        first = asyncio.create_task(run_singleton(a, "poller", work("a"), check_every=0.1))
        await asyncio.sleep(0.3)
        second = asyncio.create_task(run_singleton(b, "poller", work("b"), check_every=0.1))
        await asyncio.sleep(0.5)
        assert running == ["a"]
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        for _ in range(100):
            if running == ["a", "b"]:
                break
            await asyncio.sleep(0.05)
        assert running == ["a", "b"]
        second.cancel()
        with pytest.raises(asyncio.CancelledError):
            await second
    finally:
        await a.close()
        await b.close()
