"""State persistence. :class:`Store` is the interface (the backend contract);
:class:`SQLiteStore` the default backend."""

from __future__ import annotations

from .base import (
    COPY_KEYS,
    COPY_TABLES,
    AuditEntry,
    Doorbell,
    JSONText,
    LeaseLock,
    Lock,
    SessionInfo,
    Store,
    StoreStats,
    Task,
    owner_id,
)
from .erasure import Erasure
from .sqlite import SQLiteStore

__all__ = ["COPY_KEYS", "COPY_TABLES", "AuditEntry", "Doorbell", "Erasure", "JSONText",
           "LeaseLock", "Lock", "SQLiteStore", "SessionInfo", "Store", "StoreStats", "Task",
           "owner_id"]
