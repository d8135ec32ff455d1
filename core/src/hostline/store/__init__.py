"""State persistence. :class:`Store` is the interface; :class:`SQLiteStore` the default."""

from __future__ import annotations

from .base import JSONText, Store, Task
from .sqlite import SQLiteStore

__all__ = ["JSONText", "SQLiteStore", "Store", "Task"]
