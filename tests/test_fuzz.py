"""Hostile input against every route of every channel, on one real ``hostline serve``.

The channels, their routes, seeds and authentication live in
:mod:`hostile_kit` (``CHANNELS``): **a new channel joins by adding one
function there** (start its fakes, return its config table, auth and routes)
and appending it to ``CHANNELS``; every test below then covers it.

Hostile classes: lone surrogates (in values and keys), deep nesting (63 to
50,000 levels), huge numbers, NaN/Infinity, duplicate keys, wrong types,
wrong content types, invalid UTF-8, truncated and garbage bodies, odd path
ids and query strings; bodies over the limit (declared and chunked); bodies
cut short by a client that goes away.

Properties: no answer is a 5xx (nor a hang), every event stream ends with
its protocol's terminal event, every later read of what was accepted answers
2xx or 404, the server logs no ERROR line or traceback, and it still answers
normal requests afterwards.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator

import hostile_kit as kit
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[kit.Sender]:
    with contextlib.ExitStack() as stack:
        channels = [make(stack) for make in kit.CHANNELS]
        process = kit.start_server(tmp_path_factory.mktemp("fuzz"), channels)
        stack.callback(process.stop)
        sender = kit.Sender(process.url, channels)
        stack.callback(sender.close)
        sender.process = process  # type: ignore[attr-defined]
        yield sender


def _problems(outcomes: list[kit.Outcome]) -> list[str]:
    return [f"{o.kind} {o.path}: {o.problem}" for o in outcomes if o.problem]


def test_every_route_gets_every_hostile_class(server: kit.Sender) -> None:
    rnd = random.Random(17)
    outcomes = []
    for index in range(len(server.routes)):
        for kind in kit.CLASSES:
            outcomes += server.send(rnd, index, kind)
    assert _problems(outcomes) == []
    # Not everything was refused: valid seeds got through on every channel.
    accepted = {o.path.split("/")[1] for o in outcomes if 200 <= o.status < 300}
    assert accepted >= {c.name for c in server.channels}


@settings(max_examples=200, deadline=None, database=None)
@given(rnd=st.randoms(use_true_random=False), index=st.integers(0, 10_000))
def test_random_hostile_requests(server: kit.Sender, rnd: random.Random, index: int) -> None:
    assert _problems(server.send(rnd, index)) == []


def test_oversized_bodies_declared_and_chunked(server: kit.Sender) -> None:
    outcomes = [server.oversized(i, chunked=chunked) for i, (_, route) in
                enumerate(server.routes) if route.seed is not None for chunked in (False, True)]
    assert _problems(outcomes) == []
    # The connection a chunked oversized body was cut from is not reused half-read.
    assert _problems(server.send(random.Random(1), 0, "valid")) == []


def test_truncated_bodies_are_not_errors(server: kit.Sender) -> None:
    for i, (_, route) in enumerate(server.routes):
        if route.seed is not None:
            server.truncated(i)
    assert _problems(server.send(random.Random(2), 0, "valid")) == []


def test_server_logged_no_error_and_still_serves(server: kit.Sender) -> None:
    process = server.process  # type: ignore[attr-defined]
    r = httpx.post(process.url + "/responses/v1/responses",
                   json={"model": "m", "input": "still there?"},
                   headers={"authorization": f"Bearer {kit.API_KEY}"}, timeout=30)
    assert r.status_code == 200 and r.json()["output"][0]["content"][0]["text"] == "still there?"
    assert httpx.get(process.url + "/readyz").status_code == 200
    assert kit.log_problems(process.output()) == [], process.output()[-5000:]
