"""State persistence. :class:`Store` is the interface; :class:`SQLiteStore` the default."""

from __future__ import annotations

from .base import Store, Task
from .sqlite import SQLiteStore

__all__ = ["SQLiteStore", "Store", "Task"]
