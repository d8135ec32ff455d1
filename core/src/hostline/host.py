"""The :class:`Host`: plugins, sessions, runs, delivery and the ASGI app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route, Router

from . import builtins, telemetry
from .auth import (
    Allowed,
    Allowlist,
    AuthorizationResult,
    Denied,
    LinkedClaimAllowlist,
    LinkRequired,
    combine,
    decide,
)
from .commands import Command, CommandContext, parse_command
from .config import Config, HostConfig
from .delivery import LinkPolicy, ResponseContext, resolve
from .errors import HostlineError, PermanentDeliveryError, Reject
from .http import BadRequest, BodyLimitMiddleware, BodyTooLarge, ErrorMiddleware, error_response
from .ids import random_hex
from .isolation import IsolationMiddleware, current_isolation
from .json_boundary import JSONResponse
from .plugins import (
    TARGETS_GROUP,
    Channel,
    Hooks,
    await_maybe,
    build_channel,
    entry_points,
    load_plugin,
    load_store,
    make_plugin_manager,
    register,
)
from .runner import PUSH, Runner, push_task
from .samples import Sampler
from .singleton import run_singleton
from .store import Store, Task
from .targets import Target, load_target
from .types import (
    AllowlistDecision,
    AuthorizationContext,
    Destination,
    Feedback,
    History,
    Identity,
    IsolationKeys,
    Message,
    ResponseTarget,
    RunRequest,
    RunResult,
    RunUpdate,
    Session,
    Usage,
)

log = logging.getLogger("hostline")

__all__ = ["ROLES", "Host", "StartupError", "Turn"]

_LINK_PROMPT = ("To use this bot, link an account that is allowed: send /link there, then "
                "send /link CODE here with the code you got.")

EPHEMERAL_ENV = ("FOUNDRY_HOSTING_ENVIRONMENT", "AZURE_FUNCTIONS_ENVIRONMENT",
                 "AWS_LAMBDA_FUNCTION_NAME", "K_SERVICE")


#: What one process does: serve and run (``all``), serve and queue (``web``),
#: or run the queued work without HTTP (``runner``).
ROLES = ("all", "web", "runner")


class StartupError(HostlineError):
    """One or more lifespans failed to start; the message lists all of them."""


class Turn:
    """One run of the target for one incoming message.

    Get one from :meth:`Host.begin_turn`, then either ``await turn.run()`` or
    ``async for update in turn.stream()``. Afterwards :attr:`result` holds the
    target's result and :attr:`reply` what the originating channel should
    send (after response hooks; ``None`` when nothing goes back there).
    Deliveries to other destinations are already committed to the outbox.
    """

    def __init__(self, host: Host, request: RunRequest) -> None:
        self.host = host
        self.request = request
        self.run_id = random_hex()
        self.result: RunResult | None = None
        self.reply: RunResult | None = None
        self.records: list[tuple[str, str, Any]] = []

    async def run(self) -> RunResult | None:
        """Run the target to completion; returns :attr:`reply`."""
        tel = telemetry.active
        obs = tel.turn(self, current=True) if tel is not None else None
        try:
            async with self.host._track():
                self.result = await self.host.target.run(self.request)
                await self._finish(self.result)
        except BaseException as exc:
            if obs is not None:
                obs.end("failed", exc)
            raise
        if obs is not None:
            obs.end(self.result.status)
        return self.reply

    async def stream(self) -> AsyncIterator[RunUpdate]:
        """Yield the target's updates; history and delivery happen at the end.

        If the consumer stops early (a client disconnect), what was produced
        so far is saved as an incomplete result.
        """
        text: list[str] = []
        parts: list[Any] = []
        usage = Usage()
        status = "incomplete"  # unless the target finishes or fails
        error: str | None = None
        tel = telemetry.active
        obs = tel.turn(self, current=False) if tel is not None else None
        async with self.host._track():
            try:
                async for update in self.host.target.stream(self.request):
                    if obs is not None and update.delta:
                        obs.delta()
                    text.append(update.delta)
                    if update.part is not None:
                        parts.append(update.part)
                    if update.usage is not None:
                        usage = update.usage
                    yield update
                status = "completed"
            except Exception as exc:
                status, error = "failed", type(exc).__name__
                raise
            finally:
                content: list[Any] = ["".join(text)] if any(text) else []
                message = Message("assistant", (*content, *parts))
                self.result = RunResult((message,), usage=usage, status=status,  # type: ignore[arg-type]
                                        error=error)
                try:
                    if status == "completed" or any(text):
                        await asyncio.shield(self._finish(self.result))
                finally:
                    if obs is not None:
                        obs.end(status, error)

    async def _finish(self, result: RunResult) -> None:
        host, req = self.host, self.request
        await host.store.save_turn(req.session, [*req.input, *result.messages],
                                   host.config.host.history_limit, records=self.records)
        await host._deliver_result(self, result)


class Host:
    """Serves one target behind the configured channels.

    Build it from a :class:`hostline.config.Config` (``Host.from_config``) or
    programmatically; ``host.app`` is the ASGI application.
    """

    def __init__(self, config: Config | None = None, *, target: Any = None,
                 store: Store | None = None, plugins: Iterable[Any] = (),
                 role: str = "all") -> None:
        self.config = config or Config(None, HostConfig(), {}, {})
        self.pm = make_plugin_manager()
        #: The one caller of every hook (pluggy's order, wrappers, awaiting).
        self.hooks = Hooks(self.pm)
        self.channels: dict[str, Channel] = {}
        self.store: Store = store or load_store(self.config)
        self.runner = Runner(self.store, self.config.host.outbox)
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        #: ``"all"`` (serve and run), ``"web"`` (serve and queue; runner
        #: processes do the work) or ``"runner"`` (run queued work, no HTTP).
        self.role = role
        links = self.config.host.links
        self.link_policy = LinkPolicy({k: tuple(v) for k, v in links.allow.items()},
                                      links.private_to_group)
        self.metrics: Counter[str] = Counter()
        #: WARNING-or-worse log records for the admin page (when it is enabled).
        self.error_log: Any = None
        if self.config.host.admin.enabled:
            from .admin import ErrorLog

            self.error_log = ErrorLog()
        #: OpenTelemetry of this host (set before start-up to use providers of
        #: your own; otherwise built from ``[host.telemetry]`` when on).
        self.telemetry: telemetry.Telemetry | None = None
        self.ready = False
        self._app: Starlette | None = None
        self._active_runs = 0
        self._allowlists: dict[str, list[Allowlist]] = {}
        self._idle = asyncio.Event()
        self._idle.set()
        source = self.config.source
        if target is not None:
            self.target = target if isinstance(target, Target) else Target(
                getattr(target, "__name__", "target"), target)
        else:
            self.target = load_target(self.config.host.target, self.config.host.target_options,
                                      entry_points(TARGETS_GROUP), source,
                                      state_dir=self.config.state_dir)
        register(self.pm, builtins, "hostline.builtins", "built-in plugin hostline.builtins")
        for instance in self.config.channels:
            channel = build_channel(self, instance)
            plugin_name = self.config.channels[instance].common.plugin
            register(self.pm, channel, instance, f"channel {instance!r} (plugin {plugin_name!r})")
            self.channels[instance] = channel
        for name in self.config.host.plugins:
            register(self.pm, load_plugin(name, self.config.plugin_options.get(name)), name,
                     f"plugin {name!r}")
        for i, plugin in enumerate(plugins):
            register(self.pm, plugin, getattr(plugin, "__name__", f"plugin-{i}"),
                     f"plugin {plugin!r}")

    def __repr__(self) -> str:
        return f"<Host target={self.target.name!r} channels={list(self.channels)}>"

    @classmethod
    def from_config(cls, path: str | os.PathLike[str] | None = None, **kwargs: Any) -> Host:
        """Load ``hostline.toml`` and build the host."""
        from .config import load_config

        return cls(load_config(path), **kwargs)

    # hooks ------------------------------------------------------------------
    async def collect(self, name: str, **kwargs: Any) -> list[Any]:
        """Call a *collect* hook through :attr:`hooks`; flatten lists; drop ``None``."""
        out: list[Any] = []
        for value in await self.hooks.collect(name, **kwargs):
            if isinstance(value, (list, tuple)):
                out.extend(v for v in value if v is not None)
            else:
                out.append(value)
        return out

    # app ----------------------------------------------------------------------
    @property
    def app(self) -> Any:
        """The ASGI application (built once)."""
        if self._app is None:
            self._app = self.build_app()
        return self._app

    def routes(self) -> list[tuple[str, BaseRoute]]:
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
        for routes in self.hooks.collect_now("hostline_routes", each=note_owner, host=self):
            name = owner.get(id(routes))
            if name is None:
                out.extend(("", r) for r in routes)
            else:
                # No slash redirects: a 307 sent before the body is read breaks
                # keep-alive for POST clients; an unknown path is a plain 404.
                out.append((name, Mount(f"/{name}", app=Router(list(routes),
                                                               redirect_slashes=False))))
        return out

    def build_app(self, *, lifespan: bool = True) -> Starlette:
        """A new ASGI app. ``lifespan=False`` leaves :meth:`lifespan` to the
        caller (``hostline serve`` enters it itself for clean start-up errors)."""
        routes: list[BaseRoute] = [
            Route("/healthz", self._healthz, methods=["GET"]),
            Route("/readyz", self._readyz, methods=["GET"]),
        ]
        # Channels in config order so `hostline routes` reads like the config.
        mounted = self.routes()
        order = {name: i for i, name in enumerate(self.channels)}
        mounted.sort(key=lambda item: order.get(item[0], -1))
        routes.extend(r for _, r in mounted)
        if self.error_log is not None:
            from . import admin

            routes.extend(admin.routes(self, self.error_log))

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

        traced = self.telemetry is not None or telemetry.configured(self.config)
        app = Starlette(
            routes=routes,
            middleware=[
                *([Middleware(telemetry.TelemetryMiddleware)] if traced else []),
                Middleware(ErrorMiddleware, metrics=self.metrics),
                Middleware(IsolationMiddleware),
                Middleware(BodyLimitMiddleware, max_bytes=self.config.host.max_body_bytes),
            ],
            exception_handlers={
                HTTPException: http_error,
                BadRequest: bad_request,
                BodyTooLarge: too_large,
            },
            lifespan=(lambda app: self.lifespan()) if lifespan else None,
        )
        app.router.redirect_slashes = False
        return app

    async def _healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def _readyz(self, request: Request) -> Response:
        hw = self.config.host.outbox.high_water
        body = {"status": "ready" if self.ready else "starting", "queue": self.queue_depth,
                "high_water": hw, "overloaded": self.overloaded,
                "channels": list(self.channels)}
        return JSONResponse(body, status_code=200 if self.ready else 503)

    # lifespan -----------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """Open the store, enter every plugin lifespan, start the runner.

        All lifespan failures are reported together in one :class:`StartupError`.
        """
        self.check_runtime()
        await self.store.open()
        self.runner.register(PUSH, self._push_task)
        for handlers in await self.collect("hostline_task_handlers", host=self):
            for kind, handler in dict(handlers).items():
                self.runner.register(kind, handler)
        stack = contextlib.AsyncExitStack()
        errors: list[str] = []
        # Allowlists are built (and so validated) once, at start-up.
        self._allowlists = {}
        for channel in self.channels:
            try:
                self._allowlists[channel] = await self.collect(
                    "hostline_allowlists", channel=channel, host=self)
            except Exception as exc:  # noqa: BLE001 - every failure goes in the report
                errors.append(f"  {channel} allowlists: {type(exc).__name__}: {exc}")
        def label(impl: Any) -> str:
            return str(impl.plugin.name if isinstance(impl.plugin, Channel)
                       else impl.plugin_name)

        def failed(impl: Any, exc: BaseException) -> None:
            errors.append(f"  {label(impl)}: {type(exc).__name__}: {exc}")

        labels: dict[int, str] = {}

        def note_label(impl: Any, cm: Any) -> Any:
            labels[id(cm)] = label(impl)
            return cm

        managers = await self.hooks.collect("hostline_lifespan", host=self, on_error=failed,
                                            each=note_label)
        for cm in reversed(managers):  # registration order
            try:
                await stack.enter_async_context(cm)
            except Exception as exc:  # noqa: BLE001 - every failure goes in the report
                errors.append(f"  {labels.get(id(cm), 'a lifespan wrapper')}: "
                              f"{type(exc).__name__}: {exc}")
        if errors:
            await stack.aclose()
            await self.store.close()
            raise StartupError("start-up failed:\n" + "\n".join(errors))
        await self.runner.start(claim=self.role != "web")
        janitor = asyncio.create_task(self._janitor(), name="hostline-janitor")
        sampler = Sampler(self.store, self.runner.owner, self.runner.outcomes,
                          lambda: self.queue_depth)
        sampler.start()
        tel, own_tel = self.telemetry, self.telemetry is None
        if tel is None:
            tel = self.telemetry = telemetry.from_config(self.config, self.role)
        if tel is not None:
            tel.bind(self)
            telemetry.active = tel
        if self.error_log is not None:
            logging.getLogger().addHandler(self.error_log)
        self.ready = True
        log.info("hostline ready: target %s, channels %s", self.target.name,
                 ", ".join(self.channels) or "none")
        try:
            yield
        finally:
            self.ready = False
            janitor.cancel()
            grace = self.config.host.shutdown_grace
            await self.runner.stop(grace)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._idle.wait(), grace)
            await sampler.stop()
            if self.error_log is not None:
                logging.getLogger().removeHandler(self.error_log)
            if tel is not None:
                if telemetry.active is tel:
                    telemetry.active = None
                tel.shutdown()
                if own_tel:
                    self.telemetry = None
            await stack.aclose()
            await self.store.close()

    async def _janitor(self, period: float = 300.0) -> None:
        """Expired dedupe keys and link codes are deleted now and then, so the
        store does not grow with traffic."""
        while True:
            try:
                await self.store.purge_expired()
            except Exception:
                log.warning("purging expired records failed", exc_info=True)
            await asyncio.sleep(period)

    def check_runtime(self) -> None:
        """Refuse an in-process runner on hosts that freeze or kill idle processes."""
        found = [name for name in EPHEMERAL_ENV if os.environ.get(name)]
        if found and not self.config.host.allow_in_process_runner:
            raise StartupError(
                f"{self.config.source}: [host]: this looks like an ephemeral host ({found[0]} "
                "is set): queued deliveries and background runs could be frozen or lost "
                "between requests. Run hostline on an always-on host, or set "
                "allow_in_process_runner = true in [host] to accept the risk.")

    @contextlib.asynccontextmanager
    async def _track(self) -> AsyncIterator[None]:
        self._active_runs += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._active_runs -= 1
            if self._active_runs == 0:
                self._idle.set()

    # sessions ---------------------------------------------------------------
    def session_scope(self, channel: str, scope: str,
                      isolation: IsolationKeys | None = None) -> str:
        """The store key of a conversation: isolation scope + channel + scope."""
        iso = isolation if isolation is not None else current_isolation()
        return f"{iso.scope}|{channel}|{scope}"

    async def reset_session(self, channel: str, scope: str,
                            isolation: IsolationKeys | None = None) -> None:
        """Start a fresh session; the old history stays stored but unreachable."""
        await self.store.reset_session(self.session_scope(channel, scope, isolation))

    def scoped(self, key: str, isolation: IsolationKeys | None = None) -> str:
        """Prefix ``key`` with the current isolation scope (for plugin records)."""
        iso = isolation if isolation is not None else current_isolation()
        return f"{iso.scope}|{key}"

    # runs -------------------------------------------------------------------
    async def begin_turn(self, *, channel: str, scope: str, input: Sequence[Message],
                         identity: Identity | None = None,
                         destination: Destination | None = None,
                         options: dict[str, Any] | None = None,
                         isolation: IsolationKeys | None = None,
                         authorize: bool = True, fresh: bool = False) -> Turn:
        """Authorize, load the session, apply run hooks: a :class:`Turn` ready to run.

        ``fresh=True`` says the scope was never used before (a new response
        id, say): the session starts empty without a lookup.
        Raises :class:`hostline.Reject` when the person is not allowed or a
        run hook refuses; its ``reply`` is what to tell them.
        """
        iso = isolation if isolation is not None else current_isolation()
        if identity is not None and authorize:
            decision = await self.authorize(channel, identity)
            if isinstance(decision, Denied):
                raise Reject(self._denied_reply(channel), reason=decision.reason)
            if isinstance(decision, LinkRequired):
                raise Reject(_LINK_PROMPT, reason="link required")
        key = self.session_scope(channel, scope, iso)
        history: Sequence[Message]
        if fresh:
            session, history = Session(key, {}), History()
        else:
            session, history = await self.store.load_session(key,
                                                             self.config.host.history_limit)
        spec = self.config.channels.get(channel)
        default_target = ResponseTarget.parse(spec.common.response_target) if spec else None
        request = RunRequest(tuple(input), history, session, identity, channel,
                             dict(options or {}), iso, default_target, destination)
        changed = await self.hooks.chain("hostline_run_hook", request,
                                         lambda r: {"request": r, "host": self})
        turn = Turn(self, changed if changed is not None else request)
        if identity is not None and destination is not None:
            # Where this person can be reached, saved with the turn.
            turn.records.append(("dest", identity.key, {"destination": destination.to_json(),
                                                        "at": time.time()}))
        return turn

    async def _deliver_result(self, turn: Turn, result: RunResult) -> None:
        req = turn.request
        target = result.response_target or req.response_target or ResponseTarget.originating()
        origin = req.destination or Destination(req.channel, "open-request",
                                                req.identity.key if req.identity else None)
        res = await resolve(self, target, req.identity, origin)
        destinations, intended, skipped = res.destinations, res.intended, res.skipped
        echo = Message("user", tuple(p for m in req.input for p in m.content))
        for dest in destinations:
            is_origin = dest == origin
            outgoing: list[tuple[RunResult, bool]] = []
            if target.echo_input and not is_origin:
                outgoing.append((RunResult((echo,)), True))
            outgoing.append((result, False))
            for res_, is_echo in outgoing:
                ctx = ResponseContext(res_, dest, is_echo, is_origin, intended, skipped,
                                      req.identity, turn.run_id, self)
                final = await self.apply_response_hooks(ctx)
                if final is None:
                    continue
                if is_origin:
                    turn.reply = final
                else:
                    for i, message in enumerate(final.messages):
                        await self.enqueue_push(dest, message,
                                                key=f"{turn.run_id}:{dest.channel}:"
                                                    f"{dest.address}:{int(is_echo)}:{i}")

    async def apply_response_hooks(self, context: ResponseContext) -> RunResult | None:
        """Run the response hook chain for one destination; ``None`` if dropped."""
        def feed(result: RunResult) -> dict[str, Any]:
            context.result = result
            return {"context": context}

        final = await self.hooks.chain("hostline_response_hook", context.result, feed)
        if final is not None and not isinstance(final, RunResult):
            raise TypeError(f"a hostline_response_hook returned {type(final).__name__}; "
                            "expected RunResult, False or None")
        return final

    # poison input -------------------------------------------------------------
    async def dead_letter(self, channel: str, kind: str, reason: str, *,
                          update: Any = None, raw: bytes | None = None) -> None:
        """Record an inbound update that can never be stored or processed, so
        the webhook can ack it (200) and the sender stops retrying it.

        It becomes a dead task of ``kind`` (the channel's update kind: ``hostline
        outbox retry`` hands it to the channel's handler again) holding the
        decoded ``update`` or the first 4 KiB of the ``raw`` body, with
        ``reason`` as its error; counted in ``metrics["dead_letters:<channel>"]``
        and logged at WARNING. Never raises: a failure to record is logged.
        """
        self.metrics[f"dead_letters:{channel}"] += 1
        log.warning("%s: dead-lettered an inbound update: %s", channel, reason)
        payload: dict[str, Any] = {"dead_letter": reason}
        if update is not None:
            payload["update"] = update
        if raw is not None:
            payload["raw"] = raw[:4096].decode("utf-8", "replace")
            payload["size"] = len(raw)
        try:
            await self.store.dead_letter(kind, payload, reason)
        except Exception as exc:  # noqa: BLE001 - the ack must not depend on it
            log.warning("%s: could not record a dead letter (%s: %s)", channel,
                        type(exc).__name__, exc)

    # delivery ---------------------------------------------------------------
    async def enqueue_push(self, destination: Destination, message: Message, *,
                           key: str | None = None) -> int | None:
        """Commit one delivery to the outbox (idempotent on ``key``)."""
        payload, partition = push_task(destination, message)
        return await self.runner.enqueue(PUSH, payload, partition=partition,
                                         key=key or random_hex())

    async def push(self, message: Message | str, *,
                   to: ResponseTarget | Destination | Iterable[Destination],
                   identity: Identity | None = None) -> list[int]:
        """Queue a proactive message; returns the outbox task ids.

        ``to`` is a :class:`Destination`, several, or a :class:`ResponseTarget`
        resolved for ``identity`` (``all_linked``, ``channel(name)``...).
        """
        msg = Message.assistant(message) if isinstance(message, str) else message
        if isinstance(to, ResponseTarget):
            res = await resolve(self, to, identity, None)
            dests: list[Destination] = list(res.destinations)
        elif isinstance(to, Destination):
            dests = [to]
        else:
            dests = list(to)
        run_id = random_hex()
        ids = []
        for d in dests:
            task_id = await self.enqueue_push(d, msg, key=f"{run_id}:{d.channel}:{d.address}")
            if task_id is not None:
                ids.append(task_id)
        return ids

    async def call_push(self, destination: Destination, message: Message, key: str) -> Any:
        """Ask the owning channel to send now (used by the outbox worker).

        Firstresult with awaiting: channel instances other than
        ``destination.channel`` are skipped; other plugins may answer.
        """
        def other_channel(impl: Any) -> bool:
            return isinstance(impl.plugin, Channel) and impl.plugin.name != destination.channel

        return await self.hooks.first("hostline_push", skip=other_channel,
                                      destination=destination, message=message,
                                      host=self, key=key)

    async def _push_task(self, task: Task) -> None:
        dest = Destination.from_json(task.payload["destination"])
        message = Message.from_json(task.payload["message"])
        receipt = await self.call_push(dest, message, task.key or str(task.id))
        if receipt is None:
            raise PermanentDeliveryError(f"no channel answers pushes to {dest.channel!r}")
        self.metrics["delivered"] += 1

    async def singleton(self, name: str, work: Callable[[], Awaitable[None]]) -> None:
        """Run ``work()`` in one process at a time among all that share the
        store (replicas on one database, workers on one state dir); another
        takes over when it dies. Never returns: run it as a task and cancel it
        to stop (see :func:`hostline.singleton.run_singleton`)."""
        await run_singleton(self.store, name, work)

    @property
    def queue_depth(self) -> int:
        """Queued tasks not yet done (an estimate kept by this process)."""
        return self.runner.pending_estimate

    @property
    def overloaded(self) -> bool:
        """Whether the durable queue is past its high-water mark (answer 429/503)."""
        return self.runner.pending_estimate >= self.config.host.outbox.high_water

    # feedback -----------------------------------------------------------------
    async def feedback(self, feedback: Feedback) -> int:
        """Hand a rating to every ``hostline_feedback`` implementation.

        Each implementation is called (and awaited) in hook order; one that
        raises is logged and the others still run, so a failing metrics
        plugin never costs the channel its durable task. Returns how many
        implementations took it without error.
        """
        self.metrics[f"feedback:{feedback.rating}"] += 1
        taken: list[str] = []

        def took(impl: Any, value: Any) -> None:
            taken.append(impl.plugin_name)

        def failed(impl: Any, exc: BaseException) -> None:
            log.warning("hostline_feedback in %s failed", impl.plugin_name, exc_info=exc)

        await self.hooks.collect("hostline_feedback", each=took, on_error=failed,
                                 feedback=feedback, host=self)
        return len(taken)

    # authorization ----------------------------------------------------------
    def _denied_reply(self, channel: str) -> str:
        spec = self.config.channels.get(channel)
        return spec.common.denied_reply if spec else "Sorry, you are not allowed to use this."

    async def authorize(self, channel: str, identity: Identity,
                        request: RunRequest | None = None) -> AuthorizationResult:
        """Decide whether ``identity`` may use ``channel`` (see :mod:`hostline.auth`)."""
        lists = self._allowlists.get(channel)
        if lists is None:
            lists = await self.collect("hostline_allowlists", channel=channel, host=self)
        spec = self.config.channels.get(channel)
        if not lists and (spec is None or spec.common.allow is None):
            return Allowed("open channel")  # nothing to consult: skip the store
        user, identities = await self.store.linked(identity.key)
        linked = tuple(Identity.from_json(i) for i in identities)
        ctx = AuthorizationContext(channel, identity, user, linked, request)
        decision = combine([await decide(a, ctx) for a in lists])
        result: AuthorizationResult
        if decision is AllowlistDecision.DENY:
            result = Denied("denied by an allowlist")
        elif decision is AllowlistDecision.ALLOW:
            result = Allowed()
        else:
            policy = spec.common.allow.policy if spec and spec.common.allow else (
                "deny" if lists else "allow")
            if policy == "allow":
                result = Allowed("channel default")
            elif user is None and any(isinstance(a, LinkedClaimAllowlist) for a in lists):
                result = LinkRequired(channels=tuple(self.channels))
            else:
                result = Denied("no allowlist allowed")
        if not isinstance(result, Allowed):
            self.metrics[f"denied:{channel}"] += 1
            if telemetry.active is not None:
                telemetry.active.denied(channel)
            log.info("denied %s on %s: %s", identity.key, channel, result.reason)
        return result

    # commands ---------------------------------------------------------------
    async def commands(self) -> dict[str, Command]:
        """Every command by name; a plugin's command wins over a built-in."""
        out: dict[str, Command] = {}
        for cmd in await self.collect("hostline_commands", host=self):
            out.setdefault(cmd.name, cmd)
        return out

    async def dispatch_command(self, text: str, *, channel: str, scope: str,
                               identity: Identity | None = None,
                               bot_username: str | None = None,
                               isolation: IsolationKeys | None = None) -> str | None:
        """Run ``/name args`` if ``text`` is a known command; its reply, else ``None``.

        ``/name@bot`` is accepted when ``bot`` is ``bot_username``, ignored
        (``None``) when it names another bot.
        """
        parsed = parse_command(text, bot_username)
        if parsed is None:
            return None
        name, args = parsed
        cmd = (await self.commands()).get(name)
        if cmd is None:
            return None
        if identity is not None and not cmd.public:
            decision = await self.authorize(channel, identity)
            if isinstance(decision, Denied):
                return self._denied_reply(channel)
            if isinstance(decision, LinkRequired):
                return _LINK_PROMPT
        ctx = CommandContext(self, channel, scope, identity, args,
                             isolation if isolation is not None else current_isolation())
        return str(await await_maybe(cmd.handler(ctx)))

