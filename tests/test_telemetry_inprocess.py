"""Telemetry with the OpenTelemetry SDK's in-memory exporters, and telemetry off."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from test_linking_e2e import SECRET, send_tg, until

from hostline.telemetry import Telemetry
from hostline.testing import make_host, run_host
from hostline_telegram.testing import FakeBotAPI


def telemetry(capture: bool = False) -> tuple[Telemetry, InMemorySpanExporter,
                                               InMemoryMetricReader]:
    spans = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    return Telemetry(tp, MeterProvider(metric_readers=[reader]), capture_content=capture), \
        spans, reader


def config(tg: FakeBotAPI) -> str:
    return ("[host]\nshutdown_grace = 2\n[host.outbox]\npoll_interval = 0.05\n"
            f'[channels.telegram]\ntoken = "{tg.token}"\nsecret_token = "{SECRET}"\n'
            f'api_base = "{tg.url}"\nstream = false\n')


def metric(reader: InMemoryMetricReader, name: str) -> list[Any]:
    data = reader.get_metrics_data()
    return [p for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
            if m.name == name for p in m.data.data_points]


async def test_content_stays_out_unless_asked_for(tmp_path: Path) -> None:
    for capture in (False, True):
        tel, spans, reader = telemetry(capture)
        with FakeBotAPI() as tg:
            host = make_host(tmp_path / str(capture), config(tg))
            host.telemetry = tel
            async with run_host(host) as (_, client):
                await send_tg(client, "hello there", uid=777)
                await until(lambda: "hello there" in tg.texts(777))
            finished = spans.get_finished_spans()
            names = [s.name for s in finished]
            assert "POST /telegram/webhook" in names and "invoke_agent echo" in names
            turn = next(s for s in finished if s.name == "invoke_agent echo")
            ack = next(s for s in finished if s.name == "POST /telegram/webhook")
            assert turn.context.trace_id == ack.context.trace_id
            text = json.dumps([dict(s.attributes or {}) for s in finished])
            assert ("hello there" in text) is capture
            if capture:
                assert "hello there" in turn.attributes["gen_ai.input.messages"]
                assert "hello there" in turn.attributes["gen_ai.output.messages"]
            assert tg.token not in text
            (turns,) = metric(reader, "hostline.turns")
            assert turns.value == 1
            assert dict(turns.attributes)["hostline.turn.outcome"] == "completed"


def test_telemetry_off_imports_nothing(tmp_path: Path) -> None:
    code = (
        "import asyncio, sys\n"
        "from hostline.testing import make_host, run_host\n"
        "async def main():\n"
        f"    async with run_host(make_host(__import__('pathlib').Path({str(tmp_path)!r}),"
        " '[channels.responses]\\n')) as (h, c):\n"
        "        r = await c.post('/responses/v1/responses', json={'model': 'echo',"
        " 'input': 'hi'})\n"
        "        assert r.status_code == 200, r.text\n"
        "asyncio.run(main())\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n")
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("OTEL_")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
