"""``hostline store copy``: every table from one store to another.

Rows move in their portable shapes (:data:`hostline.store.COPY_TABLES`) in
pages, so a store of any size copies in bounded memory; rows already in the
destination are upserted or skipped, so a copy run again changes nothing.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

from .base import COPY_KEYS, COPY_TABLES, Store

__all__ = ["Progress", "copy_store"]

PAGE = 1000


class Progress:
    """A one-line progress bar on a terminal; one line per table elsewhere."""

    def __init__(self, out: TextIO | None = None, *, tty: bool | None = None) -> None:
        self.out = out or sys.stderr
        self.tty = self.out.isatty() if tty is None else tty
        self._last = 0.0

    def update(self, table: str, done: int, total: int | None, final: bool = False) -> None:
        """Show ``done`` of ``total`` rows of ``table``."""
        if not self.tty:
            if final:
                print(f"{table}: {done:,} rows", file=self.out)
            return
        now = time.monotonic()
        if not final and now - self._last < 0.1:
            return
        self._last = now
        width = 30
        if total:
            filled = min(width, int(width * done / total))
            bar = "#" * filled + "-" * (width - filled)
            line = f"\r{table:11} [{bar}] {done:,}/{total:,}"
        else:
            line = f"\r{table:11} {done:,} rows"
        self.out.write(line + ("\n" if final else ""))
        self.out.flush()


async def copy_store(source: Store, dest: Store, *,
                     progress: Callable[[str, int, int | None, bool], None] | None = None
                     ) -> dict[str, int]:
    """Copy every :data:`COPY_TABLES` table; rows read per table (both open)."""
    counts: dict[str, int] = {}
    for table in COPY_TABLES:
        total = await source.count_rows(table)
        done, after = 0, None
        while True:
            rows = await source.export_rows(table, after, PAGE)
            if not rows:
                break
            await dest.import_rows(table, rows)
            done += len(rows)
            after = tuple(rows[-1][k] for k in COPY_KEYS[table])
            if progress is not None:
                progress(table, done, total, False)
            if len(rows) < PAGE:
                break
        counts[table] = done
        if progress is not None:
            progress(table, done, total, True)
    await dest.after_import()
    return counts
