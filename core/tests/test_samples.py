"""Per-minute samples: written by every process, summed for the last hour."""

from __future__ import annotations

from collections import Counter

from hostline.samples import Sampler, last_hour
from hostline.store import SQLiteStore


async def test_samples_of_two_processes_are_summed(tmp_path):
    store = SQLiteStore(tmp_path / "s.sqlite3")
    await store.open()
    try:
        now = 1_800_000_000.0
        a, b = Counter(), Counter()
        sa = Sampler(store, "web", a, lambda: 5)
        sb = Sampler(store, "runner", b, lambda: 7)
        a["done"] += 3
        b["done"] += 2
        b["dead"] += 1
        await sa.flush(now - 120)
        await sb.flush(now - 120)
        a["done"] += 1
        await sa.flush(now - 115)   # same minute: added to it
        await sa.flush(now)         # nothing new: a point with the queue only
        points = await last_hour(store, now)
        assert len(points) == 60 and points[-1]["t"] == int(now // 60) * 60
        two_ago = points[-3]
        assert (two_ago["done"], two_ago["dead"], two_ago["queue"]) == (6, 1, 7)
        assert (points[-1]["done"], points[-1]["queue"]) == (0, 5)
        assert points[0]["queue"] is None
    finally:
        await store.close()
