"""OpenTelemetry for hostline: traces, metrics and logs (extra ``hostline[otel]``).

Off unless ``[host.telemetry]`` names an exporter or the standard ``OTEL_*``
variables name one or an OTLP endpoint. While off nothing of OpenTelemetry
is imported and every hook in the host is one ``telemetry.active is None``
test.

Traces follow the GenAI semantic conventions: one ``invoke_agent`` span per
turn (``gen_ai.conversation.id`` is a hash of the session key, never the
ids in it), a server span per HTTP request (the webhook ack), a span per
runner task (``hostline.deliver`` for each outbox delivery attempt) and a
client span per outbound channel API call. The W3C trace context is stored
in each task's payload (``_trace``), so the runner process that handles a
task later continues the trace of the webhook that queued it. No message
text and no secret goes into an attribute unless ``capture_content`` is on.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .errors import ConfigError

if TYPE_CHECKING:
    from .config import Config
    from .host import Host
    from .store import Task
    from .turn import Turn

__all__ = ["TRACE_KEY", "Telemetry", "active", "configured", "from_config"]

log = logging.getLogger("hostline.telemetry")

#: The task payload key holding the W3C trace context of whoever queued it.
TRACE_KEY = "_trace"

#: The telemetry of the host running in this process, or ``None`` (off).
active: Telemetry | None = None

#: The last path segment of an API call names its operation when it looks
#: like a method name; ids and tokens (digits, ``-``, ``_``) never match.
_OPERATION = re.compile(r"[A-Za-z]{2,40}(?:\.[A-Za-z]{2,40})?")

_ENV_ON = ("OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT",
           "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def _exporter(config: Config) -> str | None:
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    chosen = config.host.telemetry.exporter
    if chosen is None and any(os.environ.get(v) for v in _ENV_ON):
        chosen = "console" if os.environ.get("OTEL_TRACES_EXPORTER") == "console" else "otlp"
    return None if chosen in (None, "none") else chosen


def configured(config: Config) -> bool:
    """Whether telemetry is on for ``config`` (cheap: imports nothing)."""
    return _exporter(config) is not None


def from_config(config: Config, role: str = "all") -> Telemetry | None:
    """Providers and exporters for ``config``, or ``None`` when telemetry is off.

    The providers also become OpenTelemetry's global ones when none is set,
    so spans a target makes itself join hostline's traces.
    """
    exporter = _exporter(config)
    if exporter is None:
        return None
    try:
        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import (
            ConsoleMetricExporter,
            PeriodicExportingMetricReader,
        )
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
    except ImportError:
        raise ConfigError(f"{config.source}: [host.telemetry]: OpenTelemetry is not installed; "
                          "pip install 'hostline[otel]'") from None
    tc = config.host.telemetry
    attributes: dict[str, Any] = {"hostline.role": role}
    if tc.service_name or not os.environ.get("OTEL_SERVICE_NAME"):
        attributes["service.name"] = tc.service_name or "hostline"
    resource = Resource.create(attributes)
    base = tc.endpoint.rstrip("/") if tc.endpoint else None
    interval = tc.metric_interval * 1000
    logger_provider = None
    if exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        spans: Any = OTLPSpanExporter(endpoint=f"{base}/v1/traces" if base else None)
        metric_exporter: Any = OTLPMetricExporter(
            endpoint=f"{base}/v1/metrics" if base else None)
        if tc.logs:
            from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
            from opentelemetry.sdk._logs import LoggerProvider
            from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

            logger_provider = LoggerProvider(resource=resource)
            logger_provider.add_log_record_processor(BatchLogRecordProcessor(
                OTLPLogExporter(endpoint=f"{base}/v1/logs" if base else None)))
    else:
        spans, metric_exporter = ConsoleSpanExporter(), ConsoleMetricExporter()
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(spans))
    meter_provider = MeterProvider(resource=resource, metric_readers=[
        PeriodicExportingMetricReader(metric_exporter, export_interval_millis=interval)])
    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        trace.set_tracer_provider(tracer_provider)
    if type(metrics.get_meter_provider()).__name__ == "_ProxyMeterProvider":
        metrics.set_meter_provider(meter_provider)
    return Telemetry(tracer_provider, meter_provider, logger_provider=logger_provider,
                     capture_content=tc.capture_content or os.environ.get(
                         "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "").lower()
                     == "true", owned=True)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("hostline")
    except PackageNotFoundError:
        return "0"


def conversation_id(session_key: str) -> str:
    """``gen_ai.conversation.id``: stable per session, without the ids in its key."""
    return hashlib.sha256(session_key.encode()).hexdigest()[:32]


class _TraceLogFilter(logging.Filter):
    """Appends the current trace and span id to each log line."""

    def __init__(self, trace_api: Any) -> None:
        super().__init__()
        self._trace = trace_api

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = self._trace.get_current_span().get_span_context()
        if ctx.is_valid and not getattr(record, "trace_id", None):
            trace_id, span_id = f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"
            record.trace_id, record.span_id = trace_id, span_id
            record.msg = f"{record.getMessage()} [trace_id={trace_id} span_id={span_id}]"
            record.args = ()
        return True


class TurnObserver:
    """The ``invoke_agent`` span and metrics of one turn."""

    def __init__(self, tel: Telemetry, turn: Turn, current: bool) -> None:
        from opentelemetry import context, trace

        req = turn.request
        self.tel = tel
        self.turn = turn
        self.started = time.perf_counter()
        self.first: float | None = None
        agent = turn.host.target.name
        self.labels = {"gen_ai.agent.name": agent, "hostline.channel": req.channel}
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": agent,
            "gen_ai.conversation.id": conversation_id(req.session.key),
            "hostline.channel": req.channel, "hostline.run_id": turn.run_id,
        }
        if tel.capture_content:
            attrs["gen_ai.input.messages"] = json.dumps([m.to_json() for m in req.input])
        self.span = tel.tracer.start_span(f"invoke_agent {agent}", kind=trace.SpanKind.INTERNAL,
                                          attributes=attrs)
        self._token = context.attach(trace.set_span_in_context(self.span)) if current else None

    def delta(self) -> None:
        """The first delta arrived (streaming turns)."""
        if self.first is None:
            self.first = time.perf_counter() - self.started

    def end(self, status: str, error: BaseException | str | None = None) -> None:
        """The turn ended with ``status`` (``completed``, ``failed``, ``incomplete``)."""
        from opentelemetry import context
        from opentelemetry.trace import Status, StatusCode

        took = time.perf_counter() - self.started
        span = self.span
        span.set_attribute("hostline.turn.outcome", status)
        result = self.turn.result
        if result is not None:
            usage = result.usage
            if usage.input_tokens:
                span.set_attribute("gen_ai.usage.input_tokens", usage.input_tokens)
            if usage.output_tokens:
                span.set_attribute("gen_ai.usage.output_tokens", usage.output_tokens)
            if self.tel.capture_content:
                span.set_attribute("gen_ai.output.messages",
                                   json.dumps([m.to_json() for m in result.messages]))
        if error is not None:
            name = error if isinstance(error, str) else type(error).__name__
            span.set_attribute("error.type", name)
            span.set_status(Status(StatusCode.ERROR, name))
        span.end()
        if self._token is not None:
            context.detach(self._token)
        labels = {**self.labels, "hostline.turn.outcome": status}
        self.tel.turns.add(1, labels)
        self.tel.first_delta.record(self.first if self.first is not None else took, self.labels)
        self.tel.answer.record(took, labels)


class TaskObserver:
    """The span and metrics of one runner task attempt (made current: the
    turn and the API calls it makes are its children)."""

    def __init__(self, tel: Telemetry, task: Task) -> None:
        from opentelemetry import context, trace

        self.tel = tel
        carrier = task.payload.get(TRACE_KEY)
        parent = tel._propagator.extract(carrier) if isinstance(carrier, dict) else None
        attrs: dict[str, Any] = {"hostline.task.kind": task.kind, "hostline.task.id": task.id,
                                 "hostline.task.attempt": task.attempts}
        if task.kind == "push":
            name, dest = "hostline.deliver", task.payload.get("destination")
            channel = str(dest.get("channel")) if isinstance(dest, dict) else ""
        else:
            name, channel = f"hostline.task {task.kind}", task.kind.partition(":")[0]
        attrs["hostline.channel"] = channel
        self.labels = {"hostline.task.kind": "push" if task.kind == "push"
                       else task.kind.partition(":")[2] or task.kind,
                       "hostline.channel": channel}
        self.span = tel.tracer.start_span(name, context=parent, kind=trace.SpanKind.CONSUMER,
                                          attributes=attrs)
        self._token = context.attach(trace.set_span_in_context(self.span))

    def end(self, outcome: str, error: str | None = None) -> None:
        """The attempt ended: ``done``, ``retry``, ``dead`` or ``cancelled``."""
        from opentelemetry import context
        from opentelemetry.trace import Status, StatusCode

        context.detach(self._token)
        self.span.set_attribute("hostline.task.outcome", outcome)
        if error:
            self.span.set_attribute("error.type", error)
            self.span.set_status(Status(StatusCode.ERROR, error))
        self.span.end()
        labels = {**self.labels, "hostline.task.outcome": outcome}
        self.tel.deliveries.add(1, labels)
        if outcome == "dead":
            self.tel.dead_letters.add(1, self.labels)


class Telemetry:
    """The tracer, meter and instruments of one process (``telemetry.active``).

    Build it with :func:`from_config`, or hand it providers of your own (the
    SDK's in-memory exporters in tests). ``owned=True`` shuts them down when
    the host stops.
    """

    def __init__(self, tracer_provider: Any, meter_provider: Any, *,
                 logger_provider: Any = None, capture_content: bool = False,
                 owned: bool = False) -> None:
        from opentelemetry import trace
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self.logger_provider = logger_provider
        self.capture_content = capture_content
        self._owned = owned
        self._trace = trace
        self._propagator = TraceContextTextMapPropagator()
        version = _version()
        self.tracer = tracer_provider.get_tracer("hostline", version)
        m = meter_provider.get_meter("hostline", version)
        self.meter = m
        self.turns = m.create_counter("hostline.turns", "{turn}", "Turns run, by outcome")
        self.first_delta = m.create_histogram(
            "hostline.turn.time_to_first_delta", "s", "Time from turn start to the first delta")
        self.answer = m.create_histogram("hostline.turn.duration", "s",
                                         "Time from turn start to the whole answer")
        self.deliveries = m.create_counter("hostline.deliveries", "{attempt}",
                                           "Runner task attempts, by outcome (done, retry, dead)")
        self.dead_letters = m.create_counter("hostline.dead_letters", "{task}",
                                             "Tasks moved to the dead letters")
        self.rate_limited = m.create_counter(
            "hostline.rate_limit.waits", "{response}",
            "Channel API answers asking to wait (HTTP 429)")
        self.denials = m.create_counter("hostline.allowlist.denials", "{decision}",
                                        "People refused by a channel's allowlists")
        self.api_duration = m.create_histogram("http.client.request.duration", "s",
                                               "Outbound channel API calls")
        self._host: Host | None = None
        self._log_filter: _TraceLogFilter | None = None
        self._log_handler: logging.Handler | None = None

    def __repr__(self) -> str:
        return f"<Telemetry capture_content={self.capture_content}>"

    # lifecycle ------------------------------------------------------------------
    def bind(self, host: Host) -> None:
        """Observe ``host`` (queue depth, runs and tasks in flight) and the log."""
        from opentelemetry.metrics import Observation

        if self._host is None:
            self.meter.create_observable_gauge(
                "hostline.queue.depth", [lambda _: [Observation(self._depth("queue"))]],
                "{task}", "Tasks queued and not done")
            self.meter.create_observable_up_down_counter(
                "hostline.runs.active", [lambda _: [Observation(self._depth("runs"))]],
                "{turn}", "Turns running now")
            self.meter.create_observable_up_down_counter(
                "hostline.tasks.inflight", [lambda _: [Observation(self._depth("tasks"))]],
                "{task}", "Runner tasks in flight in this process")
        self._host = host
        root = logging.getLogger()
        self._log_filter = _TraceLogFilter(self._trace)
        for handler in root.handlers:
            handler.addFilter(self._log_filter)
        if self.logger_provider is not None:
            from opentelemetry.sdk._logs import LoggingHandler

            self._log_handler = LoggingHandler(logger_provider=self.logger_provider)
            root.addHandler(self._log_handler)

    def _depth(self, what: str) -> int:
        host = self._host
        if host is None:
            return 0
        if what == "queue":
            return int(host.queue_depth)
        if what == "runs":
            return int(host.runs.count)
        return int(host.runner.inflight)

    def shutdown(self) -> None:
        """Detach from logging; flush and stop providers this object owns."""
        root = logging.getLogger()
        if self._log_filter is not None:
            for handler in root.handlers:
                handler.removeFilter(self._log_filter)
        if self._log_handler is not None:
            root.removeHandler(self._log_handler)
        for provider in (self.tracer_provider, self.meter_provider, self.logger_provider):
            if provider is None:
                continue
            try:
                provider.force_flush()
                if self._owned:
                    provider.shutdown()
            except Exception:
                log.warning("flushing telemetry failed", exc_info=True)

    # context through the queue ----------------------------------------------------
    def inject(self, payload: dict[str, Any]) -> dict[str, Any]:
        """``payload`` with the current trace context under :data:`TRACE_KEY`."""
        carrier: dict[str, str] = {}
        self._propagator.inject(carrier)
        return {**payload, TRACE_KEY: carrier} if carrier else payload

    def task(self, task: Task) -> TaskObserver:
        """Start the span of one runner task attempt, child of whoever queued it."""
        return TaskObserver(self, task)

    def turn(self, turn: Turn, *, current: bool) -> TurnObserver:
        """Start the ``invoke_agent`` span of ``turn`` (current unless streaming)."""
        return TurnObserver(self, turn, current)

    # edges ------------------------------------------------------------------------
    def denied(self, channel: str) -> None:
        """Count one allowlist denial."""
        self.denials.add(1, {"hostline.channel": channel})

    @contextlib.contextmanager
    def client_call(self, method: str, host: str, port: int, path: str
                    ) -> Iterator[dict[str, Any]]:
        """The client span of one outbound API call; the caller sets ``status``."""
        from opentelemetry import trace
        from opentelemetry.trace import Status, StatusCode

        operation = path.rsplit("/", 1)[-1]
        attrs: dict[str, Any] = {"http.request.method": method, "server.address": host,
                                 "server.port": port}
        if _OPERATION.fullmatch(operation):  # a method (sendMessage, chat.postMessage), no id
            attrs["hostline.api.operation"] = operation
        started = time.perf_counter()
        out: dict[str, Any] = {}
        with self.tracer.start_as_current_span(method, kind=trace.SpanKind.CLIENT,
                                               attributes=attrs,
                                               record_exception=False,
                                               set_status_on_exception=False) as span:
            try:
                yield out
            except BaseException as exc:
                out["error"] = type(exc).__name__
                raise
            finally:
                status = out.get("status")
                labels = {"http.request.method": method, "server.address": host}
                if status is not None:
                    span.set_attribute("http.response.status_code", status)
                    labels["http.response.status_code"] = status
                    if status == 429:
                        self.rate_limited.add(1, {"server.address": host})
                error = out.get("error") or (str(status) if status and status >= 400 else None)
                if error:
                    span.set_attribute("error.type", error)
                    span.set_status(Status(StatusCode.ERROR))
                    labels["error.type"] = error
                self.api_duration.record(time.perf_counter() - started, labels)


class TelemetryMiddleware:
    """Pure ASGI middleware: a server span per HTTP request (the webhook ack),
    continuing a caller's W3C trace context. Mounted only when telemetry is on."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        tel = active
        if tel is None or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from opentelemetry import trace
        from opentelemetry.trace import Status, StatusCode

        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]
                   if k in (b"traceparent", b"tracestate")}
        parent = tel._propagator.extract(headers) if headers else None
        method, path = scope["method"], scope["path"]
        status: list[int] = []

        async def send_status(message: Any) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        with tel.tracer.start_as_current_span(
                f"{method} {path}", context=parent, kind=trace.SpanKind.SERVER,
                attributes={"http.request.method": method, "url.path": path,
                            "url.scheme": scope.get("scheme", "http")}) as span:
            try:
                await self.app(scope, receive, send_status)
            finally:
                if status:
                    span.set_attribute("http.response.status_code", status[0])
                    if status[0] >= 500:
                        span.set_status(Status(StatusCode.ERROR))
