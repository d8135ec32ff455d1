"""State persistence. :class:`Store` is the interface (the backend contract);
:class:`SQLiteStore` the default backend."""

from __future__ import annotations

from .base import (
    COPY_KEYS,
    COPY_TABLES,
    Doorbell,
    JSONText,
    LeaseLock,
    Lock,
    Store,
    Task,
    owner_id,
)
from .sqlite import SQLiteStore

__all__ = ["COPY_KEYS", "COPY_TABLES", "Doorbell", "JSONText", "LeaseLock", "Lock",
           "SQLiteStore", "Store", "Task", "owner_id"]
