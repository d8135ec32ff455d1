"""The :class:`Host`: plugins, sessions, runs, delivery and the ASGI app."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.routing import BaseRoute

from . import builtins, telemetry
from .app import build_app, plugin_routes
from .auth import Allowed, Allowlist, AuthorizationResult, Denied, LinkRequired, authorize
from .commands import Command, CommandContext, parse_command
from .config import Config, HostConfig
from .delivery import Delivery, LinkPolicy, ResponseContext
from .errors import Reject
from .feedback import Feedback
from .isolation import current_isolation
from .lifespan import StartupError, check_runtime, host_lifespan
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
from .runner import Runner
from .singleton import run_singleton
from .store import Store
from .targets import Target, load_target
from .turn import RunsInFlight, Turn
from .types import (
    AuthorizationContext,
    Destination,
    History,
    Identity,
    IsolationKeys,
    Message,
    ResponseTarget,
    RunRequest,
    RunResult,
    Session,
)

log = logging.getLogger("hostline")

__all__ = ["ROLES", "Host", "RunsInFlight", "StartupError", "Turn"]

_LINK_PROMPT = ("To use this bot, link an account that is allowed: send /link there, then "
                "send /link CODE here with the code you got.")



#: What one process does: serve and run (``all``), serve and queue (``web``),
#: or run the queued work without HTTP (``runner``).
ROLES = ("all", "web", "runner")


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
        #: Each channel's allowlists, built (and so validated) at start-up.
        self.allowlists: dict[str, list[Allowlist]] = {}
        #: Target runs in flight in this process (shutdown waits for them).
        self.runs = RunsInFlight()
        #: Response hooks, fan-out and pushes through the outbox.
        self.delivery = Delivery(self, self.hooks, self.runner, self.store, self.channels,
                                 self.link_policy, self.metrics)
        source = self.config.source
        if target is not None:
            self.target = target if isinstance(target, Target) else Target(
                getattr(target, "__name__", "target"), target)
        else:
            self.target = load_target(self.config.host.target, self.config.host.target_options,
                                      entry_points(TARGETS_GROUP), source,
                                      state_dir=self.config.state_dir, store=self.store)
        register(self.pm, builtins, "hostline.builtins", "built-in plugin hostline.builtins")
        for instance in self.config.channels:
            channel = build_channel(self, instance)
            plugin_name = self.config.channels[instance].common.plugin
            register(self.pm, channel, instance, f"channel {instance!r} (plugin {plugin_name!r})")
            self.channels[instance] = channel
        for name in self.config.host.plugins:
            plugin = load_plugin(name, self.config.plugin_options.get(name),
                                 f"{self.config.source}: [plugins.{name}]")
            register(self.pm, plugin, name, f"plugin {name!r}")
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
        return plugin_routes(self)

    def build_app(self, *, lifespan: bool = True) -> Starlette:
        """A new ASGI app. ``lifespan=False`` leaves :meth:`lifespan` to the
        caller (``hostline serve`` enters it itself for clean start-up errors)."""
        return build_app(self, lifespan=lifespan)

    # lifespan (see hostline.lifespan) ------------------------------------------
    def lifespan(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Open the store, enter every plugin lifespan, start the runner.

        All lifespan failures are reported together in one :class:`StartupError`.
        """
        return host_lifespan(self)

    def check_runtime(self) -> None:
        """Refuse an in-process runner on hosts that freeze or kill idle processes."""
        check_runtime(self.config)

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

    # delivery (see hostline.delivery) ---------------------------------------
    async def apply_response_hooks(self, context: ResponseContext) -> RunResult | None:
        """Run the response hook chain for one destination; ``None`` if dropped."""
        return await self.delivery.apply_response_hooks(context)

    async def push(self, message: Message | str, *,
                   to: ResponseTarget | Destination | Iterable[Destination],
                   identity: Identity | None = None) -> list[int]:
        """Queue a proactive message; returns the outbox task ids.

        ``to`` is a :class:`Destination`, several, or a :class:`ResponseTarget`
        resolved for ``identity`` (``all_linked``, ``channel(name)``...).
        """
        return await self.delivery.push(message, to=to, identity=identity)

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
        lists = self.allowlists.get(channel)
        if lists is None:
            lists = await self.collect("hostline_allowlists", channel=channel, host=self)
        spec = self.config.channels.get(channel)
        if not lists and (spec is None or spec.common.allow is None):
            return Allowed("open channel")  # nothing to consult: skip the store
        user, identities = await self.store.linked(identity.key)
        linked = tuple(Identity.from_json(i) for i in identities)
        ctx = AuthorizationContext(channel, identity, user, linked, request)
        policy = spec.common.allow.policy if spec and spec.common.allow else (
            "deny" if lists else "allow")
        result = await authorize(ctx, lists, policy=policy, link_channels=tuple(self.channels))
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

