"""The ASGI app of one ``hostline serve --workers N`` worker process.

Hypercorn spawns workers and imports ``hostline._worker:app`` in each; the
parent passes the config path in ``HOSTLINE_WORKER_CONFIG``.
"""

from __future__ import annotations

import os

from .cli import _config
from .host import Host

app = Host(_config(os.environ.get("HOSTLINE_WORKER_CONFIG") or None)).app
