"""Ids: random ones, and ordered ones that sort by creation time."""

from __future__ import annotations

import time

import pytest

from hostline import ordered_hex
from hostline.ids import random_hex


def test_ordered_ids_sort_by_time_and_stay_unique():
    first = [ordered_hex(18) for _ in range(500)]
    time.sleep(0.002)
    later = ordered_hex(18)
    assert len(set(first)) == 500 and all(len(i) == 36 for i in first)
    assert all(i[:12] <= later[:12] for i in first) and max(first) < later
    assert int(later[:12], 16) == pytest.approx(time.time() * 1000, abs=5000)
    with pytest.raises(ValueError):
        ordered_hex(13)


def test_random_ids_are_distinct_hex():
    ids = {random_hex(16) for _ in range(2000)}
    assert len(ids) == 2000 and all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
