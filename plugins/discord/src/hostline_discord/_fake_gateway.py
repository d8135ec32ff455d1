"""The Gateway side of :class:`hostline_discord.testing.FakeDiscordAPI`.

A WebSocket endpoint (on :class:`hostline.testing.FakeWebSocket`) that
speaks the Gateway protocol as Discord does: HELLO with a heartbeat
interval, IDENTIFY (token checked: 4004 otherwise), READY with a session id
and a resume URL, HEARTBEAT answered with ACK, RESUME replaying the events
the session missed then RESUMED (an unknown session gets INVALID SESSION),
dispatches numbered by ``s``. Tests push events with
:meth:`FakeGateway.dispatch`, cut the connection with :meth:`FakeGateway.drop`
and ask for a reconnect with :meth:`FakeGateway.reconnect`.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import attrs

from hostline.testing import FakeWebSocket

__all__ = ["FakeGateway"]


@attrs.define
class _Session:
    id: str
    seq: int = 0
    events: list[dict[str, Any]] = attrs.field(factory=list)
    socket: FakeWebSocket | None = None


class FakeGateway:
    """Gateway sessions of one fake bot (lives on the fake's event loop)."""

    def __init__(self, token: str, bot_user: dict[str, Any], url: Any) -> None:
        self._token = token
        self._bot_user = bot_user
        self._url = url  # () -> the ws:// base URL
        self._lock = threading.RLock()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.heartbeat_interval = 0.5
        self.sessions: dict[str, _Session] = {}
        self.current: _Session | None = None
        self.open = 0
        self.max_open = 0
        self.connections = 0
        self.identifies: list[dict[str, Any]] = []
        self.resumes: list[dict[str, Any]] = []
        self.heartbeats = 0

    async def endpoint(self, ws: FakeWebSocket) -> None:
        """One client connection (the handshake is answered already)."""
        with self._lock:
            self.open += 1
            self.connections += 1
            self.max_open = max(self.max_open, self.open)
        session: _Session | None = None
        try:
            await ws.send_json({"op": 10, "s": None, "t": None,
                                "d": {"heartbeat_interval": int(self.heartbeat_interval * 1000)}})
            while True:
                message = await ws.receive_json()
                op = message.get("op") if isinstance(message, dict) else None
                data = message.get("d") if isinstance(message, dict) else None
                if op == 1:
                    with self._lock:
                        self.heartbeats += 1
                    await ws.send_json({"op": 11})
                elif op == 2 and isinstance(data, dict):
                    if data.get("token") != self._token:
                        await ws.close(4004, "Authentication failed.")
                        return
                    if not isinstance(data.get("intents"), int):
                        await ws.close(4013, "Invalid intent(s).")
                        return
                    session = self._identify(data, ws)
                    await self._send(session, "READY", {
                        "v": 10, "session_id": session.id, "user": self._bot_user,
                        "resume_gateway_url": self._url(), "guilds": []})
                elif op == 6 and isinstance(data, dict):
                    session = await self._resume(data, ws)
                    if session is None:
                        await ws.send_json({"op": 9, "d": False})
                else:
                    await ws.close(4001 if op is not None else 4002, "Unknown opcode.")
                    return
        except (OSError, ValueError):  # closed (WebSocketClosed), reset, or not JSON
            pass
        finally:
            with self._lock:
                self.open -= 1
                if session is not None and session.socket is ws:
                    session.socket = None

    def _identify(self, data: dict[str, Any], ws: FakeWebSocket) -> _Session:
        with self._lock:
            self.identifies.append(data)
            session = _Session(f"fake-session-{len(self.identifies)}", socket=ws)
            self.sessions[session.id] = session
            self.current = session
        return session

    async def _resume(self, data: dict[str, Any], ws: FakeWebSocket) -> _Session | None:
        with self._lock:
            self.resumes.append(data)
            session = self.sessions.get(str(data.get("session_id")))
            if session is None or data.get("token") != self._token:
                return None
            seq = data.get("seq") if isinstance(data.get("seq"), int) else 0
            missed = [e for e in session.events if e["s"] > seq]
            session.socket = ws
            self.current = session
        for event in missed:
            await ws.send_json(event)
        await self._send(session, "RESUMED", {})
        return session

    async def _send(self, session: _Session, event: str, data: dict[str, Any]) -> None:
        with self._lock:
            session.seq += 1
            frame = {"op": 0, "t": event, "s": session.seq, "d": data}
            session.events.append(frame)
            socket = session.socket
        if socket is not None:
            try:
                await socket.send_json(frame)
            except OSError:  # closed (WebSocketClosed) or reset
                pass  # delivered on RESUME

    def _run(self, coro: Any) -> Any:
        assert self.loop is not None, "the fake is not running"
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send a dispatch to the current session (kept for RESUME if nobody is connected)."""
        session = self.current
        if session is None:
            raise RuntimeError("no gateway session has identified yet")
        self._run(self._send(session, event, data))

    def drop(self) -> None:
        """Cut the current connection without ending the session (the client should RESUME)."""
        session = self.current
        socket = session.socket if session is not None else None
        if socket is not None:
            session.socket = None  # type: ignore[union-attr]
            self._run(socket.close(4000, "Unknown error."))

    def reconnect(self) -> None:
        """Send RECONNECT (op 7) on the current connection."""
        session = self.current
        if session is not None and session.socket is not None:
            self._run(session.socket.send_json({"op": 7, "d": None}))
