"""Waking runners in other processes when work is queued: the loopback UDP
doorbell of the SQLite store (one machine). Other backends bring their own
(PostgreSQL: ``LISTEN/NOTIFY``); see :class:`hostline.Doorbell`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .base import Doorbell

__all__ = ["UdpDoorbell"]


class _Beacon(asyncio.DatagramProtocol):
    """A runner process's doorbell: a UDP port on loopback, published as
    ``<wake_dir>/<pid>``; any datagram wakes the runner (no polling delay for
    tasks queued by a web process)."""

    def __init__(self, path: Path, wake: Callable[[], None]) -> None:
        self.path = path
        self._wake = wake
        self._transport: asyncio.DatagramTransport | None = None

    @classmethod
    async def open(cls, wake_dir: Path, wake: Callable[[], None]) -> _Beacon:
        beacon = cls(wake_dir / str(os.getpid()), wake)
        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: beacon, local_addr=("127.0.0.1", 0))
        beacon.publish(transport.get_extra_info("sockname")[1])
        return beacon

    def publish(self, port: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _doorbells(self.path.parent)  # drops those of runners that died
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(str(port))
        tmp.replace(self.path)  # readers never see a half-written file

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self._wake()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink()
        if self._transport is not None:
            self._transport.close()


def _doorbells(wake_dir: Path) -> list[int]:
    """The doorbell ports of the live runner processes; files left by dead
    ones are removed."""
    ports: list[int] = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(wake_dir):
            if not entry.name.isdigit():
                continue
            try:
                os.kill(int(entry.name), 0)
                ports.append(int(Path(entry.path).read_text()))
            except ProcessLookupError:
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
            except (OSError, ValueError):
                continue
    return ports


class UdpDoorbell(Doorbell):
    """Listening publishes a loopback UDP port in ``wake_dir``; ringing sends a
    datagram to every live port there, at most once per loop turn.

    The list of ports is read again whenever ``wake_dir`` changed (a runner
    started or stopped), so a runner that replaced a dead one hears the very
    next ring; one ``stat`` per ring keeps that cheap.
    """

    # Directory mtimes tick coarsely: a runner that published within this
    # window of the last listing may not have moved the mtime, so list again.
    SETTLE = 1.0

    def __init__(self, wake_dir: Path) -> None:
        self.wake_dir = wake_dir
        self._beacon: _Beacon | None = None
        self._sock: socket.socket | None = None
        self._ports: list[int] = []
        self._listed_mtime: int | None = None
        self._pending = False

    async def listen(self, wake: Callable[[], None]) -> None:
        self._beacon = await _Beacon.open(self.wake_dir, wake)

    def ring(self) -> None:
        if not self._pending:
            self._pending = True
            asyncio.get_running_loop().call_soon(self._send)

    def _send(self) -> None:
        self._pending = False
        if self._sock is None:
            self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._sock.setblocking(False)
        if self._stale():
            self._ports = _doorbells(self.wake_dir)
        for port in self._ports:
            with contextlib.suppress(OSError):
                self._sock.sendto(b"!", ("127.0.0.1", port))

    def _stale(self) -> bool:
        try:
            mtime = os.stat(self.wake_dir).st_mtime_ns
        except OSError:
            return True
        recent = time.time_ns() - mtime < self.SETTLE * 1e9
        stale = not self._ports or mtime != self._listed_mtime or recent
        self._listed_mtime = mtime
        return stale

    async def close(self) -> None:
        if self._beacon is not None:
            self._beacon.close()
            self._beacon = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
