"""A test channel: inbound turns over HTTP, pushes to a sink (HTTP or in memory).

``[channels.a] plugin = "sinkchannel:SinkChannel"`` with this directory on
``PYTHONPATH``; ``sink_url`` makes pushes POST ``{key, text, address, channel}``
to a local sink server, otherwise they are recorded in :data:`SENT`.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import attrs
import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import hostline

SENT: list[dict[str, Any]] = []
#: Memory kept by pushes whose text is ``hold:<MiB>`` (a process that grows).
HELD: list[bytes] = []


@attrs.frozen
class SinkConfig:
    sink_url: str | None = None


class SinkChannel(hostline.Channel):
    Config = SinkConfig

    client: httpx.AsyncClient | None = None

    @hostline.hookimpl
    def hostline_lifespan(self, host: hostline.Host) -> Any:
        @contextlib.asynccontextmanager
        async def run() -> Any:
            async with httpx.AsyncClient(timeout=10) as self.client:
                yield

        return run()

    @hostline.hookimpl
    def hostline_routes(self, host: hostline.Host) -> list[Any]:
        async def inbound(request: Request) -> JSONResponse:
            body = await hostline.read_json(request)
            user = str(body["user"])
            group = bool(body.get("group", False))
            address = str(body.get("chat", user))
            identity = hostline.Identity(self.name, user, claims=body.get("claims") or {})
            try:
                turn = await host.begin_turn(
                    channel=self.name, scope=address, input=[hostline.Message.user(body["text"])],
                    identity=identity,
                    destination=hostline.Destination(self.name, address, identity.key, group))
            except hostline.Reject as exc:
                return JSONResponse({"reply": exc.reply, "rejected": True})
            reply = await turn.run()
            return JSONResponse({"reply": reply.text if reply else None})

        async def push(request: Request) -> JSONResponse:
            body = await hostline.read_json(request)
            ids = await host.push(str(body["text"]),
                                  to=hostline.Destination(self.name, str(body["address"])))
            return JSONResponse({"queued": ids})

        return [Route("/in", inbound, methods=["POST"]), Route("/push", push, methods=["POST"])]

    @hostline.hookimpl
    async def hostline_push(self, destination: hostline.Destination, message: hostline.Message,
                            key: str) -> Any:
        if message.text.startswith("hold:"):
            HELD.append(b"x" * int(float(message.text[5:]) * 2**20))
        record = {"channel": self.name, "address": destination.address, "text": message.text,
                  "role": message.role, "key": key, "pid": os.getpid()}
        if self.config.sink_url:
            assert self.client is not None
            try:
                r = await self.client.post(self.config.sink_url, json=record)
            except httpx.HTTPError as exc:
                raise hostline.RetryableDeliveryError(type(exc).__name__) from None
            if r.status_code >= 500:
                raise hostline.RetryableDeliveryError(f"sink answered {r.status_code}")
            if r.status_code >= 400:
                raise hostline.PermanentDeliveryError(f"sink answered {r.status_code}")
        else:
            SENT.append(record)
        return hostline.DeliveryReceipt(destination, (key,))
