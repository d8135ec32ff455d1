"""The durable outbox with real processes: crashes, leases, shutdown, CLI, fan-out."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from hostline import (
    Destination,
    Identity,
    Message,
    ResponseContext,
    ResponseTarget,
    SQLiteStore,
    hookimpl,
)
from hostline.delivery import DELIVERY, delivery_task
from hostline.testing import ServerProcess, make_host, run_host

from .conftest import HELPERS, eventually
from .helpers.sink_server import Sink

ENV = {"PYTHONPATH": os.pathsep.join([str(HELPERS), os.environ.get("PYTHONPATH", "")])}


def config(tmp_path: Path, sink: Sink, outbox: str = "") -> Path:
    path = tmp_path / "hostline.toml"
    path.write_text(
        f'[host]\nstate_dir = "{(tmp_path / "state").as_posix()}"\nshutdown_grace = 5.0\n'
        f"[host.outbox]\nbackoff_initial = 0.05\nbackoff_max = 0.5\n{outbox}\n"
        f'[channels.sink]\nplugin = "sinkchannel:SinkChannel"\nsink_url = "{sink.url}"\n')
    return path


async def enqueue(state: Path, n: int) -> list[str]:
    store = SQLiteStore(state / "hostline.sqlite3")
    await store.open()
    keys = []
    try:
        for i in range(n):
            key = f"push-{i}-{uuid.uuid4().hex[:6]}"
            keys.append(key)
            payload, partition = delivery_task(Destination("sink", str(i % 50)),
                                           Message.assistant(f"message {i}"))
            await store.enqueue(DELIVERY, payload, partition=partition, key=key)
    finally:
        await store.close()
    return keys


def wait_until(check: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.05)


def test_kill_9_loses_nothing(tmp_path: Path) -> None:
    rng = random.Random(7)
    with Sink(delay=0.002) as sink:
        path = config(tmp_path, sink, "lease_seconds = 2.0\nconcurrency = 8")
        server = ServerProcess(path, env=ENV)
        server.start()
        keys = asyncio.run(enqueue(tmp_path / "state", 1000))
        kills = 0
        while kills < 5:
            time.sleep(rng.uniform(0.05, 0.4))
            server.kill()
            kills += 1
            server.start()
        wait_until(lambda: set(keys) <= set(sink.keys()), timeout=120)
        server.stop()
        seen = sink.keys()
    lost = len(set(keys) - set(seen))
    resent = sum(c - 1 for c in seen.values())
    duplicates_after_dedupe = len(seen) - len(set(seen))
    print(f"\ncrash test: {kills} kills, 1000 pushes, lost={lost}, "
          f"resent (at-least-once)={resent}, duplicates after dedupe={duplicates_after_dedupe}")
    assert lost == 0
    assert set(seen) == set(keys)  # nothing delivered that was not queued
    assert duplicates_after_dedupe == 0


def _die_holding_a_lease(tmp_path: Path, sink: Sink, outbox: str) -> tuple[Path, str]:
    """A server process that dies holding the lease of one delivery
    (partition "0"); returns the config and the delivery's key."""
    path = config(tmp_path, sink, outbox)
    first = ServerProcess(path, env=ENV)
    first.start()
    sink.release.clear()  # the first worker's send hangs
    (key,) = asyncio.run(enqueue(tmp_path / "state", 1))
    assert sink.arrived.wait(20)
    first.kill()  # dies holding the lease
    sink.release.set()
    sink.records.clear()
    return path, key


def test_lease_takeover_between_processes(tmp_path: Path) -> None:
    with Sink() as sink:
        path, key = _die_holding_a_lease(tmp_path, sink, "lease_seconds = 1.0")
        second = ServerProcess(path, env=ENV)
        second.start()
        try:
            wait_until(lambda: key in sink.keys(), timeout=30)
        finally:
            second.stop()


def test_a_dead_processs_lease_is_taken_over_without_polling(tmp_path: Path) -> None:
    # The next task of a partition waits behind a task a killed process had
    # leased; nothing rings when that lease runs out, and the poll interval
    # is far away: the runner still looks again within a lease.
    with Sink() as sink:
        path, held = _die_holding_a_lease(tmp_path, sink,
                                          "lease_seconds = 1.0\npoll_interval = 600.0")
        second = ServerProcess(path, env=ENV)
        second.start()
        try:
            (behind,) = asyncio.run(enqueue(tmp_path / "state", 1))  # partition "0" too
            wait_until(lambda: {held, behind} <= set(sink.keys()), timeout=30)
        finally:
            second.stop()


def test_shutdown_drains_inflight_and_leaves_the_rest_pending(tmp_path: Path) -> None:
    with Sink(delay=0.5) as sink:
        path = config(tmp_path, sink, "concurrency = 1")
        server = ServerProcess(path, env=ENV)
        server.start()
        keys = asyncio.run(enqueue(tmp_path / "state", 5))
        assert sink.arrived.wait(20)
        assert server.stop() == 0
        delivered = set(sink.keys())

    async def states() -> dict[str, str]:
        store = SQLiteStore(tmp_path / "state" / "hostline.sqlite3")
        await store.open()
        try:
            return {t.key or "": t.state for t in await store.list_tasks()}
        finally:
            await store.close()

    left = asyncio.run(states())
    assert delivered, "the in-flight delivery finished during shutdown"
    assert set(left) == set(keys) - delivered
    assert set(left.values()) <= {"pending"}


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hostline", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=60, env={**os.environ, **ENV, **(env or {})})


def test_ephemeral_host_refused_unless_allowed(tmp_path: Path) -> None:
    with Sink() as sink:
        path = config(tmp_path, sink)
        out = run_cli("check", "--config", str(path), cwd=tmp_path, env={"K_SERVICE": "svc"})
        assert out.returncode == 2
        assert "K_SERVICE" in out.stderr and "allow_in_process_runner = true" in out.stderr
        path.write_text(path.read_text().replace("[host]\n",
                                                 "[host]\nallow_in_process_runner = true\n"))
        assert run_cli("check", "--config", str(path), cwd=tmp_path,
                       env={"K_SERVICE": "svc"}).returncode == 0


def test_cli_push_and_outbox_while_serving(tmp_path: Path) -> None:
    with Sink() as sink:
        path = config(tmp_path, sink, "max_attempts = 1")
        server = ServerProcess(path, env=ENV)
        server.start()
        try:
            out = run_cli("push", "--config", str(path), "--channel", "sink", "--to", "42",
                          "hello from cron", cwd=tmp_path)
            assert out.returncode == 0, out.stderr
            wait_until(lambda: any(r["text"] == "hello from cron" for r in sink.records), 30)
            bad = run_cli("push", "--config", str(path), "--channel", "nope", "--to", "1", "x",
                          cwd=tmp_path)
            assert bad.returncode == 2 and "nope" in bad.stderr
        finally:
            server.stop()
    # The sink is gone: the next push fails once and is dead-lettered (max_attempts = 1).
    server.start()
    try:
        run_cli("push", "--config", str(path), "--channel", "sink", "--to", "7", "lost?",
                cwd=tmp_path)

        def dead() -> bool:
            return "dead" in run_cli("outbox", "--failed", "--config", str(path),
                                     cwd=tmp_path).stdout
        wait_until(dead, 30)
        listing = run_cli("outbox", "--failed", "--config", str(path), cwd=tmp_path).stdout
        task_id = listing.split()[0]
        assert "sink:7" in listing
        retry = run_cli("outbox", "retry", task_id, "--config", str(path), cwd=tmp_path)
        assert retry.returncode == 0 and "queued again" in retry.stdout
    finally:
        server.stop()


class Spy:
    def __init__(self) -> None:
        self.seen: list[tuple[str, bool]] = []

    @hookimpl
    def hostline_response_hook(self, context: ResponseContext) -> None:
        self.seen.append((context.destination.channel, context.is_echo))


async def test_all_linked_fan_out_with_echo(tmp_path: Path) -> None:
    from sinkchannel import SENT

    SENT.clear()
    spy = Spy()
    cfg = ('[channels.a]\nplugin = "sinkchannel:SinkChannel"\n'
           '[channels.b]\nplugin = "sinkchannel:SinkChannel"\n'
           'response_target = "all_linked"\n')
    async with run_host(make_host(tmp_path, cfg, plugins=[spy])) as (host, client):
        # Both people talk once (so a conversation reference exists), then link.
        await client.post("/a/in", json={"user": "u1", "text": "hi from a"})
        await client.post("/b/in", json={"user": "u2", "text": "hi from b"})
        challenge = await host.dispatch_command("/link", channel="a", scope="u1",
                                                identity=Identity("a", "u1"))
        assert challenge is not None
        code = challenge.split("/link ")[1].split()[0]
        linked = await host.dispatch_command(f"/link {code}", channel="b", scope="u2",
                                             identity=Identity("b", "u2"))
        assert linked == "Linked with your a account."
        # B's default target is all_linked: B answers on the open request, A gets a push.
        spy.seen.clear()
        r = await client.post("/b/in", json={"user": "u2", "text": "fan out"})
        assert r.json()["reply"] == "fan out"
        await eventually(lambda: any(s["text"] == "fan out" for s in SENT))
        assert [(s["channel"], s["address"]) for s in SENT] == [("a", "u1")]
        assert sorted(spy.seen) == [("a", False), ("b", False)]
        # echo_input mirrors the user's words to the other destinations, flagged as echo.
        SENT.clear()
        spy.seen.clear()
        turn = await host.begin_turn(channel="b", scope="u2", input=[Message.user("mirror")],
                                     identity=Identity("b", "u2"),
                                     destination=Destination("b", "u2", "b:u2"))
        turn.request.response_target = ResponseTarget.all_linked(echo_input=True)
        await turn.run()
        await eventually(lambda: len(SENT) == 2)
        assert sorted(spy.seen) == [("a", False), ("a", True), ("b", False)]
        assert sorted((s["role"], s["text"]) for s in SENT) == [("assistant", "mirror"),
                                                                 ("user", "mirror")]
        # Unlinked: the next all_linked result stays on the originating channel.
        assert await host.dispatch_command("/unlink", channel="a", scope="u1",
                                           identity=Identity("a", "u1")) == "Unlinked this account."
        SENT.clear()
        r = await client.post("/b/in", json={"user": "u2", "text": "alone"})
        assert r.json()["reply"] == "alone"
        await asyncio.sleep(0.3)
        assert SENT == []


async def test_remembered_keys_dedupe_after_the_task_finished(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.sqlite3")
    await store.open()
    try:
        first = await store.enqueue("k", {"n": 1}, key="u:1", remember=60.0)
        assert first is not None
        assert await store.enqueue("k", {"n": 1}, key="u:1", remember=60.0) is None
        [task] = await store.claim("me", 10, 30.0)
        await store.finish(task.id, "me")
        # Finished and gone, yet a redelivery of the same key is still a duplicate...
        assert await store.enqueue("k", {"n": 1}, key="u:1", remember=60.0) is None
        # ...while a key without memory is free again once its task is done.
        plain = await store.enqueue("k", {"n": 2}, key="u:2")
        [task] = await store.claim("me", 10, 30.0)
        assert task.id == plain
        await store.finish(task.id, "me")
        assert await store.enqueue("k", {"n": 2}, key="u:2") is not None
        # Once the memory expires the key is accepted again.
        assert await store.enqueue("k", {"n": 3}, key="u:3", remember=0.0) is not None
        for task in await store.claim("me", 10, 30.0):
            await store.finish(task.id, "me")
        assert await store.enqueue("k", {"n": 3}, key="u:3", remember=60.0) is not None
    finally:
        await store.close()


def start_with_runner(tmp_path: Path, sink: Sink, *, host: str = "", outbox: str = ""
                      ) -> tuple[ServerProcess, Callable[[], list[int]]]:
    """``hostline serve`` with one runner process and the sink channel; also
    a function listing the runner pids (from their doorbells)."""
    path = tmp_path / "hostline.toml"
    path.write_text(
        f'[host]\nstate_dir = "{(tmp_path / "state").as_posix()}"\nshutdown_grace = 5.0\n'
        f"runners = 1\n{host}[host.outbox]\nlease_seconds = 2.0\n{outbox}"
        f'[channels.sink]\nplugin = "sinkchannel:SinkChannel"\nsink_url = "{sink.url}"\n')
    server = ServerProcess(path, env=ENV).start()
    doorbells = tmp_path / "state" / "runners"

    def runners() -> list[int]:
        if not doorbells.exists():
            return []
        return [int(p.name) for p in doorbells.iterdir() if p.name.isdigit()]

    return server, runners


def test_runner_processes_do_the_queued_work(tmp_path: Path) -> None:
    with Sink() as sink:
        # A poll interval far beyond the waits below: deliveries that arrive
        # in time were woken by the web process, not found by polling.
        server, runners = start_with_runner(tmp_path, sink, outbox="poll_interval = 60.0\n")
        try:
            wait_until(runners, timeout=30)
            [runner] = runners()
            assert server.proc is not None and runner != server.proc.pid

            def push(i: int) -> None:
                r = httpx.post(server.url + "/sink/push", json={"text": f"m{i}", "address": "a"})
                assert r.status_code == 200, r.text

            for i in range(20):
                push(i)
            wait_until(lambda: len(sink.records) >= 20, timeout=20)
            assert {r["pid"] for r in sink.records} == {runner}  # not the web process
            assert [r["text"] for r in sink.records] == [f"m{i}" for i in range(20)]

            os.kill(runner, signal.SIGKILL)  # serve starts another one
            wait_until(lambda: any(pid != runner for pid in runners()), timeout=30)
            for i in range(20, 30):
                push(i)
            wait_until(lambda: len({r["text"] for r in sink.records}) >= 30, timeout=30)
        finally:
            server.stop()
        assert {r["text"] for r in sink.records} == {f"m{i}" for i in range(30)}
        assert runners() == []  # doorbells removed at shutdown


async def test_a_write_waits_out_another_writer_without_blocking_the_loop(
        tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    store = SQLiteStore(path)
    await store.open()
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        write = asyncio.create_task(store.kv_put("ns", "k", 1))
        ticks = 0
        for _ in range(20):
            await asyncio.sleep(0.005)
            ticks += 1
        assert not write.done()
        assert ticks == 20  # the loop kept running meanwhile
        assert await store.kv_get("ns", "k") is None  # reads are not held up
        other.execute("COMMIT")
        await asyncio.wait_for(write, 10)
        assert await store.kv_get("ns", "k") == 1
    finally:
        other.close()
        await store.close()
    # Checkpoints ran on their own thread; at close the WAL is folded back.
    wal = path.with_name(path.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0


async def test_a_failing_write_does_not_undo_the_others_in_its_commit(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.sqlite3")
    await store.open()
    try:
        results = await asyncio.gather(
            store.kv_put("ns", "a", 1),
            store._write(lambda db: db.execute("INSERT INTO no_such_table VALUES (1)")),
            store.kv_put("ns", "b", 2),
            return_exceptions=True)
        assert results[0] is None and results[2] is None
        assert isinstance(results[1], sqlite3.OperationalError)
        assert await store.kv_get("ns", "a") == 1
        assert await store.kv_get("ns", "b") == 2
    finally:
        await store.close()
