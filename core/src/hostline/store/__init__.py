"""State persistence. :class:`Store` is the interface; :class:`SQLiteStore` the default."""

from __future__ import annotations

from .base import AuditEntry, JSONText, SessionInfo, Store, StoreStats, Task
from .erasure import Erasure
from .sqlite import SQLiteStore

__all__ = ["AuditEntry", "Erasure", "JSONText", "SQLiteStore", "SessionInfo", "Store",
           "StoreStats", "Task"]
