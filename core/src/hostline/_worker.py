"""The ASGI app of one ``hostline serve --workers N`` worker process.

Hypercorn spawns workers and imports ``hostline._worker:app`` in each; the
parent passes the config path in ``HOSTLINE_WORKER_CONFIG``, the bind address
in ``HOSTLINE_WORKER_BIND`` and the process role in ``HOSTLINE_ROLE`` (``web``
beside runner processes): environment variables are all Hypercorn lets a
parent hand its workers.
"""

from __future__ import annotations

import os
from typing import Any

from ._bootstrap import build_host, resolve_config, settle_memory

_host = build_host(resolve_config(os.environ.get("HOSTLINE_WORKER_CONFIG") or None,
                                  bind=os.environ.get("HOSTLINE_WORKER_BIND") or None),
                   role=os.environ.get("HOSTLINE_ROLE", "all"))
_app = _host.app


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The host's app; once its start-up completes, the worker's memory is
    settled (:func:`~hostline._bootstrap.settle_memory`)."""
    if scope["type"] != "lifespan":
        await _app(scope, receive, send)
        return

    async def started(message: dict[str, Any]) -> None:
        if message["type"] == "lifespan.startup.complete":
            settle_memory()
        await send(message)

    await _app(scope, receive, started)
