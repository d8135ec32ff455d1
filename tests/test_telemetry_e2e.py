"""OpenTelemetry against a real ``hostline serve`` with a runner process.

The host exports over OTLP/HTTP to a local receiver; the Telegram Bot API is
its local fake. One update must become one trace from the webhook (web
process) through the turn to the reply (runner process).
"""

from __future__ import annotations

import time
from typing import Any

import httpx
from otlp_receiver import OTLPReceiver
from test_linking_e2e import SECRET, tg_update

from hostline_telegram.testing import FakeBotAPI

ANN, EVE = 4242, 9090
TEXT = "my very private words"


def wait(check: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not reached")


def latest(points: list[dict[str, Any]], name: str) -> dict[tuple[Any, ...], Any]:
    """The last value of each series of a cumulative metric, by (role, attributes)."""
    out: dict[tuple[Any, ...], tuple[int, Any]] = {}
    for p in points:
        if p["name"] != name:
            continue
        key = (p["resource"].get("hostline.role"), *sorted(p["attributes"].items()))
        if key not in out or p["time"] >= out[key][0]:
            out[key] = (p["time"], p["value"])
    return {k: v for k, (_, v) in out.items()}


def test_one_update_is_one_trace_across_the_runner_process(hostline_server: Any) -> None:
    with FakeBotAPI() as tg, OTLPReceiver() as otlp:
        config = (
            "[host]\nrunners = 1\nshutdown_grace = 2\n[host.outbox]\npoll_interval = 0.05\n"
            f'[host.telemetry]\nexporter = "otlp"\nendpoint = "{otlp.url}"\n'
            "metric_interval = 0.5\n"
            f'[channels.telegram]\ntoken = "{tg.token}"\nsecret_token = "{SECRET}"\n'
            f'api_base = "{tg.url}"\n[channels.telegram.allow]\nnative_ids = ["{ANN}"]\n')
        server = hostline_server(config, env={"OTEL_BSP_SCHEDULE_DELAY": "100",
                                              "OTEL_BLRP_SCHEDULE_DELAY": "100"})
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        r = httpx.post(server.url + "/telegram/webhook", json=tg_update(TEXT, ANN),
                       headers=headers)
        assert r.status_code == 200
        wait(lambda: TEXT in tg.texts(ANN))
        r = httpx.post(server.url + "/telegram/webhook", json=tg_update("let me in", EVE),
                       headers=headers)
        wait(lambda: tg.texts(EVE))
        server.stop()   # both processes flush their exporters on the way out

        spans = otlp.spans()
        ack = [s for s in spans if s["name"] == "POST /telegram/webhook"]
        assert len(ack) == 2 and {s["resource"]["hostline.role"] for s in ack} == {"web"}
        trace_id = ack[0]["trace_id"]
        trace = [s for s in spans if s["trace_id"] == trace_id]
        by_name = {s["name"]: s for s in trace}
        task = by_name["hostline.task telegram:update"]
        turn = by_name["invoke_agent echo"]
        calls = [s for s in trace if s["attributes"].get("hostline.api.operation")
                 == "sendMessage"]
        assert task["parent"] == ack[0]["span_id"]           # continued from the queue
        assert task["resource"]["hostline.role"] == "runner"  # in the other process
        assert turn["parent"] == task["span_id"] and calls
        assert all(c["resource"]["hostline.role"] == "runner" for c in calls)
        a = turn["attributes"]
        assert a["gen_ai.operation.name"] == "invoke_agent"
        assert a["hostline.channel"] == "telegram"
        assert a["hostline.turn.outcome"] == "completed"
        assert len(a["gen_ai.conversation.id"]) == 32 and str(ANN) not in a[
            "gen_ai.conversation.id"]
        # Nothing said, and no secret, in any attribute of any span or metric.
        everything = repr([(s["attributes"], s["resource"]) for s in spans]) + repr(
            [p["attributes"] for p in otlp.metrics()]) + repr(
            [r["attributes"] for r in otlp.logs()])
        for needle in (TEXT, "let me in", tg.token, SECRET):
            assert needle not in everything

        points = otlp.metrics()
        turns = latest(points, "hostline.turns")
        assert sum(turns.values()) == 1
        assert ("runner", ("gen_ai.agent.name", "echo"), ("hostline.channel", "telegram"),
                ("hostline.turn.outcome", "completed")) in turns
        first = latest(points, "hostline.turn.time_to_first_delta")
        assert sum(v["count"] for v in first.values()) == 1
        done = latest(points, "hostline.deliveries")
        assert sum(v for k, v in done.items() if ("hostline.task.outcome", "done") in k) == 2
        denials = latest(points, "hostline.allowlist.denials")
        assert sum(denials.values()) == 1
        assert latest(points, "hostline.queue.depth")
        # Logs carry the trace they were written in.
        denied = [r for r in otlp.logs() if "denied" in str(r["body"])]
        assert denied and denied[0]["trace_id"] == ack[1]["trace_id"]
        assert "trace_id=" + ack[1]["trace_id"] in server.output()
