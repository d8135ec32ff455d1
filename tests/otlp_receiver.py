"""A local OTLP/HTTP receiver: what an OpenTelemetry Collector would get.

Accepts protobuf ``POST /v1/traces``, ``/v1/metrics`` and ``/v1/logs`` the
way a collector does (415 for another content type, 400 for a body that
does not decode) and keeps the decoded requests.
"""

from __future__ import annotations

import gzip
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

_KINDS = {"/v1/traces": (ExportTraceServiceRequest, ExportTraceServiceResponse),
          "/v1/metrics": (ExportMetricsServiceRequest, ExportMetricsServiceResponse),
          "/v1/logs": (ExportLogsServiceRequest, ExportLogsServiceResponse)}


def value(v: Any) -> Any:
    """An OTLP AnyValue as Python."""
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: value(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, kind) if kind else None


def attrs(items: Any) -> dict[str, Any]:
    return {kv.key: value(kv.value) for kv in items}


class OTLPReceiver:
    """``with OTLPReceiver() as r: ... r.url ... r.spans()``."""

    def __init__(self) -> None:
        self.requests: dict[str, list[Any]] = {k: [] for k in _KINDS}
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                kinds = _KINDS.get(self.path)
                if kinds is None:
                    self.send_error(404)
                    return
                if self.headers.get("content-type") != "application/x-protobuf":
                    self.send_error(415)
                    return
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                request = kinds[0]()
                try:
                    request.ParseFromString(body)
                except DecodeError:
                    self.send_error(400)
                    return
                with receiver._lock:
                    receiver.requests[self.path].append(request)
                out = kinds[1]().SerializeToString()
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> OTLPReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()

    def spans(self) -> list[dict[str, Any]]:
        """Every span received: name, ids, kind, attributes and its resource's."""
        out = []
        with self._lock:
            for req in self.requests["/v1/traces"]:
                for rs in req.resource_spans:
                    resource = attrs(rs.resource.attributes)
                    for ss in rs.scope_spans:
                        for s in ss.spans:
                            out.append({"name": s.name, "trace_id": s.trace_id.hex(),
                                        "span_id": s.span_id.hex(),
                                        "parent": s.parent_span_id.hex(), "kind": s.kind,
                                        "attributes": attrs(s.attributes),
                                        "status": s.status.code, "resource": resource})
        return out

    def metrics(self) -> list[dict[str, Any]]:
        """Every data point: metric name, attributes, value (sum, gauge or count)."""
        out = []
        with self._lock:
            for req in self.requests["/v1/metrics"]:
                for rm in req.resource_metrics:
                    resource = attrs(rm.resource.attributes)
                    for sm in rm.scope_metrics:
                        for m in sm.metrics:
                            kind = m.WhichOneof("data")
                            for p in getattr(m, kind).data_points:
                                if kind == "histogram":
                                    v: Any = {"count": p.count, "sum": p.sum}
                                else:
                                    v = p.as_int if p.WhichOneof("value") == "as_int" \
                                        else p.as_double
                                out.append({"name": m.name, "attributes": attrs(p.attributes),
                                            "value": v, "kind": kind, "resource": resource,
                                            "time": p.time_unix_nano})
        return out

    def logs(self) -> list[dict[str, Any]]:
        out = []
        with self._lock:
            for req in self.requests["/v1/logs"]:
                for rl in req.resource_logs:
                    for sl in rl.scope_logs:
                        for r in sl.log_records:
                            out.append({"body": value(r.body), "trace_id": r.trace_id.hex(),
                                        "span_id": r.span_id.hex(),
                                        "attributes": attrs(r.attributes)})
        return out
