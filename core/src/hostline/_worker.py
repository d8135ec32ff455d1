"""The ASGI app of one ``hostline serve --workers N`` worker process.

Hypercorn spawns workers and imports ``hostline._worker:app`` in each; the
parent passes the config path in ``HOSTLINE_WORKER_CONFIG`` and the bind address
in ``HOSTLINE_WORKER_BIND``.
"""

from __future__ import annotations

import os

import attrs

from .cli import _config
from .host import Host

_config_ = _config(os.environ.get("HOSTLINE_WORKER_CONFIG") or None)
_bind = os.environ.get("HOSTLINE_WORKER_BIND")
if _bind:
    _config_ = attrs.evolve(_config_, host=attrs.evolve(_config_.host, bind=_bind))
_host = Host(_config_)
_host.role = os.environ.get("HOSTLINE_ROLE", "all")  # "web" beside runner processes
app = _host.app
