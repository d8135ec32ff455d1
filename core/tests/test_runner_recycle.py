"""A runner that is idle and has grown past ``runner_recycle_mib`` hands over
to a fresh process, and no queued work is lost on the way."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from hostline._runners import MemoryWatch
from hostline.cli import main as cli_main

from .helpers.sink_server import Sink
from .test_outbox import start_with_runner, wait_until


def test_a_grown_idle_runner_hands_over_and_nothing_is_lost(tmp_path: Path) -> None:
    with Sink() as sink:
        server, runners = start_with_runner(tmp_path, sink, host="runner_recycle_mib = 8\n")

        def push(text: str) -> None:
            r = httpx.post(server.url + "/sink/push", json={"text": text, "address": "a"})
            assert r.status_code == 200, r.text

        try:
            wait_until(runners, timeout=30)
            [first] = runners()
            push("small")  # a little growth stays below the limit
            wait_until(lambda: len(sink.records) >= 1, timeout=20)
            push("hold:32")  # the runner keeps 32 MiB
            wait_until(lambda: len(sink.records) >= 2, timeout=20)
            assert {r["pid"] for r in sink.records} == {first}
            # Pushed while the runner hands over: each one arrives, once.
            for i in range(40):
                push(f"m{i}")
            wait_until(lambda: runners() and runners() != [first], timeout=30)
            [second] = runners()
            for i in range(40, 50):
                push(f"m{i}")
            wait_until(lambda: len(sink.records) >= 52, timeout=30)
            assert sink.records[-1]["pid"] == second
        finally:
            server.stop()
        texts = [r["text"] for r in sink.records]
        assert sorted(texts[2:]) == sorted(f"m{i}" for i in range(50))
        assert "handing over to a fresh process" in server.output()


def test_memory_watch_waits_for_idle_and_growth() -> None:
    watch = MemoryWatch(limit=1.0)
    assert watch.start is not None
    assert not watch.should_recycle(inflight=3)  # busy: never
    watch.start -= 2**20  # as if the process had grown by a MiB
    assert not watch.should_recycle(inflight=0)  # idle, but only just
    watch._idle_since = 0.0  # idle for long enough
    assert watch.should_recycle(inflight=0)
    assert watch.growth >= 2**20
    watch.limit = 64 * 2**20
    assert not watch.should_recycle(inflight=0)  # grown less than the limit


def test_a_negative_recycle_limit_is_refused(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "hostline.toml"
    path.write_text("[host]\nrunners = 1\nrunner_recycle_mib = -1\n")
    assert cli_main(["serve", "--config", str(path)]) == 2
    assert "runner_recycle_mib" in capsys.readouterr().err
