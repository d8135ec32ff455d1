"""hostline-postgres: the PostgreSQL store backend, for many replicas on one database.

Enable it with::

    [host.store]
    backend = "postgres"
    url = "${DATABASE_URL}"
"""

from __future__ import annotations

from ._schema import SCHEMA_VERSION
from ._wake import NotifyDoorbell, PostgresLock, redact
from .store import PostgresStore

__all__ = ["SCHEMA_VERSION", "NotifyDoorbell", "PostgresLock", "PostgresStore", "redact"]
