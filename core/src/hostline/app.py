"""The ASGI app of a host: routes, health, error handlers, middlewares.

The app is plain data, as in Starlette: ``/healthz`` and ``/readyz``, every
plugin's routes (a channel's under ``/<instance>``), the error shape for
4xx answers and the middlewares (errors, isolation keys, body limit).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route, Router

from . import telemetry
from .http import BadRequest, BodyLimitMiddleware, BodyTooLarge, ErrorMiddleware, error_response
from .isolation import IsolationMiddleware
from .json_boundary import JSONResponse
from .plugins import Channel

if TYPE_CHECKING:
    from .host import Host

__all__ = ["build_app", "plugin_routes"]


def plugin_routes(host: Host) -> list[tuple[str, BaseRoute]]:
    """``(instance or "", route)`` for every plugin route, mount points applied."""
    # Which channel each list of routes came from, so a wrapper sees what
    # implementations returned and routes it adds are mounted at the root.
    owner: dict[int, str] = {}

    def note_owner(impl: Any, routes: Any) -> Any:
        if routes is not None and isinstance(impl.plugin, Channel):
            owner[id(routes)] = impl.plugin.name
        return routes

    out: list[tuple[str, BaseRoute]] = []
    # Routes are built synchronously (``hostline routes``, ``build_app``).
    for routes in host.hooks.collect_now("hostline_routes", each=note_owner, host=host):
        name = owner.get(id(routes))
        if name is None:
            out.extend(("", r) for r in routes)
        else:
            # No slash redirects: a 307 sent before the body is read breaks
            # keep-alive for POST clients; an unknown path is a plain 404.
            out.append((name, Mount(f"/{name}", app=Router(list(routes),
                                                           redirect_slashes=False))))
    return out


def build_app(host: Host, *, lifespan: bool = True) -> Starlette:
    """A new ASGI app for ``host``: health routes, every plugin's routes,
    the error handlers and middlewares. ``lifespan=False`` leaves the
    host's lifespan to the caller (``hostline serve`` enters it itself for
    clean start-up errors)."""
    routes: list[BaseRoute] = [
        Route("/healthz", _healthz, methods=["GET"]),
        Route("/readyz", _readyz(host), methods=["GET"]),
    ]
    # Channels in config order so `hostline routes` reads like the config.
    mounted = plugin_routes(host)
    order = {name: i for i, name in enumerate(host.channels)}
    mounted.sort(key=lambda item: order.get(item[0], -1))
    routes.extend(r for _, r in mounted)
    if host.error_log is not None:
        from . import admin

        routes.extend(admin.routes(host, host.error_log))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        message = {404: f"no route for {request.url.path}",
                   405: f"method {request.method} not allowed on {request.url.path}"
                   }.get(exc.status_code, str(exc.detail))
        return error_response(exc.status_code, message, headers=dict(exc.headers or {}))

    async def bad_request(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, BadRequest)
        return error_response(exc.status, exc.message, code=exc.code, param=exc.param)

    async def too_large(request: Request, exc: Exception) -> Response:
        return error_response(413, str(exc), code="body_too_large")

    traced = host.telemetry is not None or telemetry.configured(host.config)
    app = Starlette(
        routes=routes,
        middleware=[
            *([Middleware(telemetry.TelemetryMiddleware)] if traced else []),
            Middleware(ErrorMiddleware, metrics=host.metrics),
            Middleware(IsolationMiddleware),
            Middleware(BodyLimitMiddleware, max_bytes=host.config.host.max_body_bytes),
        ],
        exception_handlers={
            HTTPException: http_error,
            BadRequest: bad_request,
            BodyTooLarge: too_large,
        },
        lifespan=(lambda app: host.lifespan()) if lifespan else None,
    )
    app.router.redirect_slashes = False
    return app


async def _healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def _readyz(host: Host) -> Any:
    async def readyz(request: Request) -> Response:
        hw = host.config.host.outbox.high_water
        body = {"status": "ready" if host.ready else "starting", "queue": host.queue_depth,
                "high_water": hw, "overloaded": host.overloaded,
                "channels": list(host.channels)}
        return JSONResponse(body, status_code=200 if host.ready else 503)

    return readyz
