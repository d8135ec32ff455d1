"""A bench-only channel that accepts outbox pushes and counts them.

``[channels.sink] plugin = "benchsink:SinkChannel"`` with ``bench/`` on
``PYTHONPATH``. Each serving process writes ``sink-<pid>.json`` (count, first
and last delivery wall-clock time) into ``stats_dir`` a few times a second and
at shutdown, so the bench can time an outbox drain across several workers
without asking the server anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import attrs

import hostline


@attrs.frozen
class SinkConfig:
    """``stats_dir``: where each process writes its delivery counts."""

    stats_dir: str = ""


class SinkChannel(hostline.Channel):
    """Takes every push, does nothing with it, counts it."""

    Config = SinkConfig
    needs_secrets = False

    def __init__(self, name: str, config: SinkConfig, host: hostline.Host) -> None:
        super().__init__(name, config, host)
        self.count = 0
        self.first: float | None = None
        self.last: float | None = None

    def _write(self) -> None:
        if not self.config.stats_dir:
            return
        path = Path(self.config.stats_dir) / f"sink-{os.getpid()}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"pid": os.getpid(), "count": self.count,
                                   "first": self.first, "last": self.last}))
        tmp.replace(path)

    @hostline.hookimpl
    def hostline_lifespan(self, host: hostline.Host) -> Any:
        @contextlib.asynccontextmanager
        async def run() -> AsyncIterator[None]:
            async def report() -> None:
                written = -1
                while True:
                    if self.count != written:
                        written = self.count
                        self._write()
                    await asyncio.sleep(0.2)

            task = asyncio.create_task(report())
            try:
                yield
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                self._write()

        return run()

    @hostline.hookimpl
    async def hostline_push(self, destination: hostline.Destination, message: hostline.Message,
                            key: str) -> Any:
        if destination.channel != self.name:
            return None
        now = time.time()
        if self.first is None:
            self.first = now
        self.last = now
        self.count += 1
        return hostline.DeliveryReceipt(destination, (key,))


async def queue_pushes(store: hostline.Store, n: int) -> None:
    """Queue ``n`` pushes for the sink channel (1,000 partitions), ahead of
    a drain: the same work for every backend's outbox run."""
    from hostline.delivery import DELIVERY, delivery_task

    message = hostline.Message.assistant("bench push")
    tasks = [delivery_task(hostline.Destination("sink", f"user-{i % 1000}"), message)
             for i in range(n)]
    for start in range(0, n, 500):
        await asyncio.gather(*(store.enqueue(
            DELIVERY, payload, partition=partition, key=f"bench-{i}")
            for i, (payload, partition) in enumerate(tasks[start:start + 500], start)))
