"""The Discord Gateway (optional): plain DMs and mentions over a websocket.

:class:`GatewayClient` speaks the Gateway protocol (v10, JSON) with the
``websockets`` library: HELLO, then IDENTIFY (or RESUME of the last session
after a drop), heartbeats at the interval HELLO gave with a zombie check
(no HEARTBEAT ACK since the last beat: reconnect), RECONNECT and INVALID
SESSION handling, and reconnects with backoff. Dispatches go to a callback,
which only commits them to the durable queue.

:func:`hold_lock` makes one process of a state dir the holder: Discord
delivers every event to every connection of a bot, so two would answer twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("hostline.discord")

__all__ = ["DEFAULT_INTENTS", "GatewayClient", "GatewayFatal", "hold_lock"]

GUILD_MESSAGES = 1 << 9
DIRECT_MESSAGES = 1 << 12
MESSAGE_CONTENT = 1 << 15
#: Guild messages (content only when the bot is mentioned) and DMs.
DEFAULT_INTENTS = GUILD_MESSAGES | DIRECT_MESSAGES
#: Close codes after which reconnecting cannot help (bad token, intents, shards).
FATAL_CLOSE = frozenset({4004, 4010, 4011, 4012, 4013, 4014})
#: Close codes that end the session: identify anew instead of resuming.
SESSION_CLOSE = frozenset({4007, 4009})

Dispatch = Callable[[str, dict[str, Any]], Awaitable[None]]


class GatewayFatal(RuntimeError):
    """The Gateway refused the bot for good (its close code says why)."""


class _Reconnect(Exception):
    """Leave this connection and open another (resuming when possible)."""


class GatewayClient:
    """One Gateway connection, kept up until :meth:`run` is cancelled."""

    def __init__(self, token: str, *, intents: int, gateway_url: Callable[[], Awaitable[str]],
                 on_dispatch: Dispatch, max_backoff: float = 60.0) -> None:
        self._token = token
        self.intents = intents
        self._gateway_url = gateway_url
        self._on_dispatch = on_dispatch
        self.max_backoff = max_backoff
        self.session_id: str | None = None
        self.seq: int | None = None
        self.resume_url: str | None = None
        self.user: dict[str, Any] = {}
        self.ready = asyncio.Event()

    def __repr__(self) -> str:
        return f"<GatewayClient session={self.session_id}>"

    async def run(self) -> None:
        """Connect, and reconnect after every drop, until cancelled or refused."""
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed, InvalidHandshake

        failures = 0
        while True:
            resuming = self.session_id is not None and self.resume_url is not None
            try:
                base = self.resume_url if resuming and self.resume_url else \
                    await self._gateway_url()
                async with connect(f"{base.rstrip('/')}/?v=10&encoding=json",
                                   max_size=1 << 22, open_timeout=20,
                                   ping_interval=None) as ws:
                    await self._session(ws, resume=resuming)
                failures = 0
            except asyncio.CancelledError:
                raise
            except ConnectionClosed as exc:
                code = getattr(exc.rcvd, "code", None)
                if code in FATAL_CLOSE:
                    raise GatewayFatal(f"gateway closed the connection with {code}") from None
                if code in SESSION_CLOSE:
                    self.session_id = None
                log.info("discord gateway: connection closed (%s); reconnecting", code)
                failures += 1
            except _Reconnect:
                failures = 0
                continue
            except (OSError, InvalidHandshake, asyncio.TimeoutError, ValueError) as exc:
                failures += 1
                log.warning("discord gateway: %s: %s", type(exc).__name__, exc)
            except Exception as exc:
                failures += 1
                log.warning("discord gateway failed: %s", type(exc).__name__, exc_info=True)
            delay = min(self.max_backoff, 0.5 * 2 ** min(failures, 7)) * random.uniform(0.5, 1)
            await asyncio.sleep(delay if failures else 0.0)

    async def _session(self, ws: Any, *, resume: bool) -> None:
        hello = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if not isinstance(hello, dict) or hello.get("op") != 10:
            raise ValueError("expected HELLO")
        interval = float(hello["d"]["heartbeat_interval"]) / 1000.0
        acked = asyncio.Event()
        acked.set()
        beat = asyncio.create_task(self._heartbeat(ws, interval, acked))
        try:
            if resume:
                await ws.send(json.dumps({"op": 6, "d": {
                    "token": self._token, "session_id": self.session_id, "seq": self.seq}}))
            else:
                await self._identify(ws)
            async for raw in ws:
                await self._handle(ws, json.loads(raw), acked)
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat

    async def _identify(self, ws: Any) -> None:
        await ws.send(json.dumps({"op": 2, "d": {
            "token": self._token, "intents": self.intents,
            "properties": {"os": os.name, "browser": "hostline", "device": "hostline"}}}))

    async def _heartbeat(self, ws: Any, interval: float, acked: asyncio.Event) -> None:
        await asyncio.sleep(interval * random.random())
        while True:
            if not acked.is_set():
                log.info("discord gateway: no heartbeat ack; reconnecting")
                await ws.close(4000, "zombied connection")
                return
            acked.clear()
            await ws.send(json.dumps({"op": 1, "d": self.seq}))
            await asyncio.sleep(interval)

    async def _handle(self, ws: Any, message: Any, acked: asyncio.Event) -> None:
        if not isinstance(message, dict):
            return
        op = message.get("op")
        if isinstance(message.get("s"), int):
            self.seq = message["s"]
        if op == 11:
            acked.set()
        elif op == 1:
            await ws.send(json.dumps({"op": 1, "d": self.seq}))
        elif op == 7:
            await ws.close(4000, "reconnect requested")
            raise _Reconnect
        elif op == 9:
            if not message.get("d"):
                self.session_id, self.seq = None, None
            await asyncio.sleep(random.uniform(1.0, 5.0) if message.get("d") is False else 0.5)
            await ws.close(4000, "invalid session")
            raise _Reconnect
        elif op == 0:
            event, data = message.get("t"), message.get("d")
            if not isinstance(event, str) or not isinstance(data, dict):
                return
            if event == "READY":
                self.session_id = str(data.get("session_id"))
                url = data.get("resume_gateway_url")
                self.resume_url = url if isinstance(url, str) else None
                user = data.get("user")
                self.user = user if isinstance(user, dict) else {}
                self.ready.set()
                log.info("discord gateway: ready (session %s)", self.session_id)
            elif event == "RESUMED":
                log.info("discord gateway: resumed session %s at %s", self.session_id, self.seq)
            try:
                await self._on_dispatch(event, data)
            except Exception:
                log.exception("discord gateway: handling %s failed", event)


@contextlib.asynccontextmanager
async def hold_lock(path: Path, *, retry: float = 5.0) -> AsyncIterator[None]:
    """Wait until this process holds the exclusive lock file ``path`` (``flock``),
    hold it inside the block. A process that dies releases it at once."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                await asyncio.sleep(retry)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
