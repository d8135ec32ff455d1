"""The host in-process: sessions, hooks, isolation, errors, lifespans, outbox."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from pathlib import Path
from typing import Any

import attrs
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hostline import (
    Destination,
    History,
    Host,
    Identity,
    IsolationKeys,
    Message,
    PermanentDeliveryError,
    Reject,
    RetryableDeliveryError,
    RunRequest,
    RunResult,
    StartupError,
    hookimpl,
    read_json,
)
from hostline.testing import make_host, run_host

from .conftest import eventually


async def counting(request: RunRequest) -> str:
    request.session.state["turns"] = request.session.state.get("turns", 0) + 1
    return f"{request.text}|history={len(request.history)}|turns={request.session.state['turns']}"


async def say(host: Host, text: str, scope: str = "s", **kw: Any) -> str:
    turn = await host.begin_turn(channel="test", scope=scope, input=[Message.user(text)], **kw)
    reply = await turn.run()
    assert reply is not None
    return reply.text


async def test_sessions_keep_history_and_state(tmp_path: Path) -> None:
    async with run_host(make_host(tmp_path, target=counting)) as (host, _):
        assert await say(host, "a") == "a|history=0|turns=1"
        assert await say(host, "b") == "b|history=2|turns=2"
        assert await say(host, "c", scope="other") == "c|history=0|turns=1"
    # A new host on the same state dir: the session survived the restart.
    async with run_host(make_host(tmp_path, target=counting)) as (host, _):
        assert await say(host, "d") == "d|history=4|turns=3"


async def test_history_is_bounded(tmp_path: Path) -> None:
    async with run_host(make_host(tmp_path, "[host]\nhistory_limit = 3\n", target=counting)) as (
            host, _):
        for i in range(6):
            out = await say(host, str(i))
        assert out.endswith("history=3|turns=6")


async def test_new_rotates_alias_old_history_kept(tmp_path: Path) -> None:
    async with run_host(make_host(tmp_path, target=counting)) as (host, _):
        await say(host, "a")
        reply = await host.dispatch_command("/new", channel="test", scope="s")
        assert reply == "Started a new conversation."
        assert await say(host, "b") == "b|history=0|turns=1"
    db = sqlite3.connect(tmp_path / "state" / "hostline.sqlite3")
    assert db.execute("SELECT COUNT(*) FROM history").fetchone()[0] == 4


async def test_isolation_keys_separate_sessions(tmp_path: Path) -> None:
    async with run_host(make_host(tmp_path, target=counting)) as (host, _):
        a, b = IsolationKeys("alice"), IsolationKeys("bob")
        assert await say(host, "x", isolation=a) == "x|history=0|turns=1"
        assert await say(host, "y", isolation=b) == "y|history=0|turns=1"
        assert await say(host, "z", isolation=a) == "z|history=2|turns=2"
        assert host.scoped("k", a) != host.scoped("k", b)


class Hooks:
    @hookimpl
    def hostline_run_hook(self, request: RunRequest, host: Host) -> Any:
        if request.text == "forbidden":
            raise Reject("not that", reason="test")
        return attrs.evolve(request, input=(Message.user(request.text.upper()),))

    @hookimpl
    async def hostline_response_hook(self, context: Any) -> Any:
        if context.result.text == "DROP":
            return False
        return RunResult.from_text(context.result.text + "!")


async def test_run_and_response_hooks(tmp_path: Path) -> None:
    from hostline.targets import echo

    async with run_host(make_host(tmp_path, target=echo, plugins=[Hooks()])) as (host, _):
        assert await say(host, "hi") == "HI!"
        with pytest.raises(Reject) as info:
            await host.begin_turn(channel="test", scope="s", input=[Message.user("forbidden")])
        assert info.value.reply == "not that"
        turn = await host.begin_turn(channel="test", scope="s", input=[Message.user("drop")])
        assert await turn.run() is None and turn.result is not None


async def streamer(request: RunRequest) -> Any:
    for word in request.text.split():
        yield word + " "


async def test_streaming_target(tmp_path: Path) -> None:
    async with run_host(make_host(tmp_path, target=streamer)) as (host, _):
        turn = await host.begin_turn(channel="t", scope="s", input=[Message.user("a b c")])
        deltas = [u.delta async for u in turn.stream()]
        assert deltas == ["a ", "b ", "c "]
        assert turn.reply is not None and turn.reply.text == "a b c "
        # The non-streaming path of a streaming target joins the deltas.
        t2 = await host.begin_turn(channel="t", scope="s", input=[Message.user("x y")])
        r2 = await t2.run()
        assert r2 is not None and r2.text == "x y "
        assert len(t2.request.history) == 2


async def test_stream_closed_early_saves_what_was_produced(tmp_path: Path) -> None:
    async with run_host(make_host(tmp_path, target=streamer)) as (host, _):
        turn = await host.begin_turn(channel="t", scope="s", input=[Message.user("a b c d")])
        agen = turn.stream()
        assert (await agen.__anext__()).delta == "a "
        await agen.aclose()
        assert turn.result is not None and turn.result.status == "incomplete"
        t2 = await host.begin_turn(channel="t", scope="s", input=[Message.user("next")])
        assert [m.text for m in t2.request.history] == ["a b c d", "a "]


async def test_corrupt_rows_are_quarantined(tmp_path: Path,
                                            caplog: pytest.LogCaptureFixture) -> None:
    async with run_host(make_host(tmp_path, target=counting)) as (host, _):
        await say(host, "a")
    db = sqlite3.connect(tmp_path / "state" / "hostline.sqlite3")
    db.execute("UPDATE history SET message='{not json' WHERE id=1")
    db.execute("UPDATE sessions SET state='[1,2]'")
    db.commit()
    caplog.set_level(logging.WARNING, "hostline.store")
    async with run_host(make_host(tmp_path, target=counting)) as (host, _):
        assert await say(host, "b") == "b|history=1|turns=1"
    assert "quarantined" in caplog.text
    assert db.execute("SELECT COUNT(*) FROM quarantine").fetchone()[0] == 2


async def test_history_is_decoded_only_when_a_target_reads_it(tmp_path: Path) -> None:
    async def ignores(request: RunRequest) -> str:
        return request.text

    async with run_host(make_host(tmp_path, target=counting)) as (host, _):
        await say(host, "a")
    db = sqlite3.connect(tmp_path / "state" / "hostline.sqlite3")
    db.execute("UPDATE history SET message='{not json' WHERE id=1")
    db.commit()
    async with run_host(make_host(tmp_path, target=ignores)) as (host, _):
        turn = await host.begin_turn(channel="test", scope="s", input=[Message.user("b")])
        assert isinstance(turn.request.history, History)
        assert "undecoded" in repr(turn.request.history)
        assert await turn.run() is not None
    assert db.execute("SELECT COUNT(*) FROM quarantine").fetchone()[0] == 0
    async with run_host(make_host(tmp_path, target=counting)) as (host, _):
        assert await say(host, "c") == "c|history=3|turns=2"
    assert db.execute("SELECT COUNT(*) FROM quarantine").fetchone()[0] == 1


def test_history_sequence_behaviour() -> None:
    rows = [(1, '{"role":"user","content":[{"type":"text","text":"hi"}]}'),
            (2, "not json"), (3, '{"role":"assistant","content":[]}')]
    bad: list[Any] = []
    h = History(rows, on_error=bad.extend)
    assert len(h) == 2 and h[0].text == "hi" and h[-1].role == "assistant"
    assert [m.role for m in h] == ["user", "assistant"]
    assert [b[0] for b in bad] == [2]
    assert h == (Message.user("hi"), Message("assistant", ()))
    request = RunRequest([Message.user("x")], h)
    assert attrs.evolve(request, channel="c").history is h
    assert RunRequest([Message.user("x")], [Message.user("y")]).history == (Message.user("y"),)


class Routes:
    @hookimpl
    def hostline_routes(self, host: Host) -> Any:
        async def post(request: Request) -> JSONResponse:
            return JSONResponse({"got": await read_json(request)})

        async def boom(request: Request) -> JSONResponse:
            raise RuntimeError("secret internals")

        return [Route("/echo", post, methods=["POST"]), Route("/boom", boom)]


async def test_bad_input_gets_json_errors(tmp_path: Path) -> None:
    host = make_host(tmp_path, "[host]\nmax_body_bytes = 100\n", plugins=[Routes()])
    async with run_host(host) as (_, client):
        assert (await client.post("/echo", json={"a": 1})).json() == {"got": {"a": 1}}
        r = await client.post("/echo", content=b"{nope")
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
        r = await client.post("/echo", content=b"x" * 101)
        assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"

        async def chunks() -> Any:
            for _ in range(20):
                yield b"xxxxxxxxxx"

        r = await client.post("/echo", content=chunks())
        assert r.status_code == 413
        r = await client.get("/boom")
        assert r.status_code == 500 and "secret internals" not in r.text
        assert r.json()["error"]["type"] == "server_error"
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        ready = (await client.get("/readyz")).json()
        assert ready["status"] == "ready" and ready["overloaded"] is False
        r = await client.get("/x", headers={"x-agent-user-isolation-key": "a\x01b"})
        assert r.status_code == 400


class BrokenLifespans:
    def __init__(self, name: str) -> None:
        self.__name__ = name

    @hookimpl
    def hostline_lifespan(self, host: Host) -> Any:
        @contextlib.asynccontextmanager
        async def cm() -> Any:
            raise ConnectionError(f"{self.__name__} cannot reach its API")
            yield

        return cm()


async def test_lifespan_errors_are_aggregated(tmp_path: Path) -> None:
    host = make_host(tmp_path, plugins=[BrokenLifespans("one"), BrokenLifespans("two")])
    with pytest.raises(StartupError) as info:
        async with host.lifespan():
            pass
    assert "one cannot reach" in str(info.value) and "two cannot reach" in str(info.value)


class Sink:
    def __init__(self, fail: list[Exception] | None = None) -> None:
        self.fail = list(fail or [])
        self.sent: list[tuple[str, str, str]] = []

    @hookimpl
    async def hostline_push(self, destination: Destination, message: Message,
                            key: str) -> Any:
        if self.fail:
            raise self.fail.pop(0)
        self.sent.append((destination.address, message.text, key))
        return True


FAST = "[host.outbox]\nbackoff_initial = 0.01\nbackoff_max = 0.05\nmax_attempts = 3\n"


async def test_push_retries_then_delivers(tmp_path: Path) -> None:
    sink = Sink([RetryableDeliveryError("503"), RetryableDeliveryError("timeout")])
    async with run_host(make_host(tmp_path, FAST, plugins=[sink])) as (host, _):
        await host.push("hello", to=Destination("sink", "42"))
        await eventually(lambda: bool(sink.sent))
        assert sink.sent[0][:2] == ("42", "hello")


async def test_permanent_failure_dead_letters(tmp_path: Path) -> None:
    sink = Sink([PermanentDeliveryError("blocked")])
    async with run_host(make_host(tmp_path, FAST, plugins=[sink])) as (host, _):
        (task_id,) = await host.push("hello", to=Destination("sink", "42"))

        async def dead() -> bool:
            return any(t.id == task_id for t in await host.store.list_tasks(["dead"]))

        await eventually(dead)
        assert await host.store.retry_task(task_id)
        await eventually(lambda: bool(sink.sent))


async def test_retryable_exhausts_attempts(tmp_path: Path) -> None:
    sink = Sink([RetryableDeliveryError("x")] * 3)
    async with run_host(make_host(tmp_path, FAST, plugins=[sink])) as (host, _):
        await host.push("hello", to=Destination("sink", "1"))

        async def dead() -> bool:
            return len(await host.store.list_tasks(["dead"])) == 1

        await eventually(dead)
        (task,) = await host.store.list_tasks(["dead"])
        assert task.attempts == 3 and "RetryableDeliveryError" in (task.last_error or "")


async def slow(request: RunRequest) -> str:
    await asyncio.sleep(0.3)
    return "done"


async def test_shutdown_waits_for_inflight_runs(tmp_path: Path) -> None:
    host = make_host(tmp_path, target=slow)
    results: list[str] = []
    async with host.lifespan():
        turn = await host.begin_turn(channel="t", scope="s", input=[Message.user("x")])

        async def go() -> None:
            reply = await turn.run()
            results.append(reply.text if reply else "")

        task = asyncio.create_task(go())
        await asyncio.sleep(0.05)
    await task
    assert results == ["done"]


async def test_denied_identity_never_reaches_target(tmp_path: Path) -> None:
    calls: list[str] = []

    async def target(request: RunRequest) -> str:
        calls.append(request.text)
        return "ok"

    cfg = '[channels.t]\nplugin = "responses"\n[channels.t.allow]\nnative_ids = ["alice"]\n'
    async with run_host(make_host(tmp_path, cfg, target=target)) as (host, _):
        ok = await host.begin_turn(channel="t", scope="a", input=[Message.user("hi")],
                                   identity=Identity("t", "alice"))
        await ok.run()
        with pytest.raises(Reject) as info:
            await host.begin_turn(channel="t", scope="b", input=[Message.user("secret text")],
                                  identity=Identity("t", "mallory"))
        assert "not allowed" in info.value.reply
        assert calls == ["hi"] and host.metrics["denied:t"] == 1


async def breaks_midway(request: RunRequest) -> Any:
    yield "partial "
    raise RuntimeError("model went away")


async def test_stream_failure_is_recorded_as_failed(tmp_path: Path) -> None:
    async with run_host(make_host(tmp_path, target=breaks_midway)) as (host, _):
        turn = await host.begin_turn(channel="t", scope="s", input=[Message.user("go")])
        with pytest.raises(RuntimeError):
            async for _ in turn.stream():
                pass
        assert turn.result is not None and turn.result.status == "failed"
        assert turn.result.error == "RuntimeError" and turn.result.text == "partial "


async def test_feedback_reaches_every_hook_even_when_one_fails(tmp_path: Path,
                                                               caplog: Any) -> None:
    from hostline import Feedback

    seen: list[Feedback] = []

    class Recorder:
        @hookimpl
        async def hostline_feedback(self, feedback: Feedback, host: Host) -> None:
            seen.append(feedback)

    class Broken:
        @hookimpl
        def hostline_feedback(self, feedback: Feedback) -> None:
            raise RuntimeError("metrics backend down")

    host = make_host(tmp_path, plugins=[Recorder(), Broken()])
    async with run_host(host) as (host, _):
        fb = Feedback("slack", "negative", answer="42", message_id="1.2",
                      identity=Identity("slack", "T:U", "Ann"), run_id="r1")
        with caplog.at_level(logging.WARNING, logger="hostline"):
            assert await host.feedback(fb) == 1
    assert seen == [fb] and not seen[0].positive
    assert "hostline_feedback" in caplog.text and "metrics backend down" in caplog.text
    assert host.metrics["feedback:negative"] == 1
