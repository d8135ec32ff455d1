"""State persistence. :class:`Store` is the interface (the backend contract);
:class:`SQLiteStore` the default backend."""

from __future__ import annotations

from .base import (
    COPY_KEYS,
    COPY_TABLES,
    AuditEntry,
    Doorbell,
    LeaseLock,
    Lock,
    SessionInfo,
    Store,
    StoreStats,
    owner_id,
)
from .contracts import (
    JSONText,
    KeyValueStore,
    LinkStore,
    SessionStore,
    Task,
    TaskQueue,
    TurnRecord,
    record_row,
)
from .erasure import Erasure
from .sqlite import SQLiteStore

__all__ = ["COPY_KEYS", "COPY_TABLES", "AuditEntry", "Doorbell", "Erasure", "JSONText",
           "KeyValueStore", "LeaseLock", "LinkStore", "Lock", "SQLiteStore", "SessionInfo",
           "SessionStore", "Store", "StoreStats", "Task", "TaskQueue", "TurnRecord", "owner_id",
           "record_row"]
