"""A local HTTP sink recording deliveries (stdlib server in a thread)."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Sink:
    """Records POSTed JSON; ``delay`` slows every answer; ``hold`` blocks until released."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.records: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.release.set()
        self.arrived = threading.Event()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                sink.arrived.set()
                sink.release.wait(60)
                if sink.delay:
                    time.sleep(sink.delay)
                with sink.lock:
                    sink.records.append(body)
                self.send_response(200)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    def __enter__(self) -> Sink:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def keys(self) -> Counter[str]:
        with self.lock:
            return Counter(r["key"] for r in self.records)
