"""The loopback UDP doorbell: a runner that replaces a dead one hears the next ring."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from hostline.store.doorbell import UdpDoorbell

from .conftest import eventually


async def test_a_new_runner_hears_the_very_next_ring(tmp_path: Path) -> None:
    wake_dir = tmp_path / "runners"
    rings: list[str] = []
    first, ringer = UdpDoorbell(wake_dir), UdpDoorbell(wake_dir)
    await first.listen(lambda: rings.append("first"))
    ringer.ring()
    await eventually(lambda: rings == ["first"])

    # The first runner dies without cleaning up (SIGKILL) and another one
    # starts straight away: the ringer's cached port list must not hide it.
    assert first._beacon is not None and first._beacon._transport is not None
    first._beacon._transport.close()
    (wake_dir / str(os.getpid())).unlink()
    second = UdpDoorbell(wake_dir)
    await second.listen(lambda: rings.append("second"))
    ringer.ring()
    await eventually(lambda: "second" in rings, timeout=5)
    await asyncio.gather(second.close(), ringer.close(), first.close())
    assert not any(p.name.isdigit() for p in wake_dir.iterdir())
