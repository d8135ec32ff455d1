"""A minimal channel: POST /say {"scope", "text"} runs one turn."""

from __future__ import annotations

import contextlib
import os
from typing import Any

import attrs
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import hostline


@attrs.frozen
class DemoConfig:
    greeting: str = "hello"


class DemoChannel(hostline.Channel):
    Config = DemoConfig
    needs_secrets = False

    @hostline.hookimpl
    def hostline_routes(self, host: hostline.Host) -> list[Any]:
        async def say(request: Request) -> JSONResponse:
            body = await hostline.read_json(request)
            turn = await host.begin_turn(channel=self.name, scope=str(body["scope"]),
                                         input=[hostline.Message.user(str(body["text"]))])
            reply = await turn.run()
            return JSONResponse({"reply": reply.text if reply else None, "pid": os.getpid(),
                                 "history": len(turn.request.history),
                                 "greeting": self.config.greeting,
                                 "started": self.started})

        return [Route("/say", say, methods=["POST"])]

    started = False

    @hostline.hookimpl
    def hostline_lifespan(self, host: hostline.Host) -> Any:
        @contextlib.asynccontextmanager
        async def run() -> Any:
            self.started = True
            yield
            self.started = False

        return run()
