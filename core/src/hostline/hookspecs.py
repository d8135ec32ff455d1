"""Every extension point of hostline, in one flat file.

Implement a hook by decorating a function or method of the same name with
:data:`hostline.hookimpl`. Any hook may return an awaitable instead of a
value ("await me maybe"): the host awaits it.

**Who gets called.** Channel instances (one object per ``[channels.<name>]``
table) and enabled plugins (``[host] plugins = [...]``, ``hostline.plugins``
entry points) are registered on one pluggy ``PluginManager``. Built-in
behaviour (the built-in commands, the one-time-code linker, the
config-driven allowlists) is registered the same way, as the default plugin
``hostline.builtins``.

**Order.** pluggy calls implementations last-registered first: enabled
plugins before channels, channels in reverse config order, built-ins last.
``tryfirst=True`` / ``trylast=True`` on the hookimpl move an implementation
to the front or back.

**Wrappers.** Every hook accepts ``@hookimpl(wrapper=True)`` (new style)
and ``@hookimpl(hookwrapper=True)`` (old style) implementations, as in
pytest. A wrapper is a plain generator function: the code before its
``yield`` runs before the other implementations, the code after it once
they are done (their awaitables awaited). A new-style wrapper receives the
hook's result from ``yield`` (or the exception, raised there) and returns
the result to use; an old-style one receives a :class:`pluggy.Result` and
may ``force_result()``. The wrappers' own code cannot ``await``. What a
wrapper sees as the result depends on the kind:

* *collect*: every implementation is called; the result is the list of
  their non-``None`` results (each as the implementation returned it: a
  list of routes, a context manager...). The host then flattens lists.
* *chained*: the host calls implementations one after another, feeding each
  the previous one's result; ``None`` means "unchanged". The result is the
  final value (``None`` when a response hook dropped the delivery).
* *firstresult*: calls stop at the first non-``None`` result, which is the
  result.

``hostline_routes`` is called while the app is built, outside the event
loop: its implementations must answer without waiting on I/O.

**Store backends** are not hooks: a backend is a :class:`hostline.Store`
subclass registered under the ``hostline.stores`` entry-point group and
chosen by ``[host.store] backend``. Its contract (durability, claims and
leases across processes, quarantine, doorbell, locks, copy) is the
docstring of :mod:`hostline.store.base` and ``docs/stores.md``; the suite
``hostline.testing.StoreConformance`` checks it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from .delivery import ResponseContext
    from .feedback import Feedback
    from .host import Host
    from .types import Destination, Message, RunRequest

hookspec = pluggy.HookspecMarker("hostline")
hookimpl = pluggy.HookimplMarker("hostline")


@hookspec
def hostline_routes(host: Host) -> Any:
    """Return a list of Starlette routes (*collect*).

    Routes of a channel instance are mounted under ``/<instance>``: a
    channel named ``telegram`` returning ``Route("/webhook", ...)`` serves
    ``POST /telegram/webhook``. Routes of a non-channel plugin are mounted
    at the root, like Datasette's ``register_routes``.

    Example::

        @hookimpl
        def hostline_routes(self, host):
            return [Route("/webhook", self.webhook, methods=["POST"])]
    """


@hookspec
def hostline_lifespan(host: Host) -> Any:
    """Return an async context manager entered at start-up (*collect*).

    Use it for polling loops, webhook registration and HTTP client pools.
    Lifespans are entered in registration order (channels in config order)
    and exited in reverse. If any fails to enter, the host exits those already
    entered and reports *all* failures in one error.

    Example::

        @hookimpl
        def hostline_lifespan(self, host):
            @contextlib.asynccontextmanager
            async def run():
                async with httpx.AsyncClient() as self.client:
                    yield
            return run()
    """


@hookspec
def hostline_commands(host: Host) -> Any:
    """Return a list of :class:`hostline.Command` (*collect*).

    Commands are what people type in chat channels (``/new``, ``/help``,
    ``/link``). Chat channels show them (Telegram ``setMyCommands``) and
    dispatch to them through :meth:`hostline.Host.handle_turn`. Built-ins come
    from the default plugin; a plugin's command of the same name wins.
    """


@hookspec
def hostline_run_hook(request: RunRequest, host: Host) -> Any:
    """Inspect or change a run before the target sees it (*chained*).

    Return a changed :class:`hostline.RunRequest` (``attrs.evolve``), or
    ``None`` to leave it as it is. Raise :class:`hostline.Reject` to refuse
    the run; its ``reply`` goes back to the person and the target never runs.
    Setting ``request.response_target`` routes the result elsewhere.
    """


@hookspec
def hostline_response_hook(context: ResponseContext) -> Any:
    """Change or drop the result for one destination (*chained*, per destination).

    Called once per destination with a :class:`hostline.ResponseContext`
    holding a private copy of the result (``context.result``), the
    ``context.destination``, ``context.is_echo`` (the user's mirrored input,
    not the agent's answer), ``context.intended_targets`` and
    ``context.skipped_targets``. Return a new :class:`hostline.RunResult`
    to replace it, ``False`` to drop the delivery, or ``None`` to keep it.
    """


@hookspec(firstresult=True)
def hostline_push(destination: Destination, message: Message, host: Host, key: str) -> Any:
    """Send ``message`` to ``destination`` proactively (*firstresult*).

    The host calls only the channel instance named ``destination.channel``
    (and non-channel plugins, which may answer for any destination). Return
    a :class:`hostline.DeliveryReceipt`. ``key`` is an idempotency key stable
    across retries of one delivery, for channels whose API can deduplicate.
    Raise :class:`hostline.RetryableDeliveryError` for transient failures
    and :class:`hostline.PermanentDeliveryError` for destinations that
    cannot be reached; the outbox retries or dead-letters. Called from the
    outbox worker, never on the request path.
    """


@hookspec
def hostline_allowlists(channel: str, host: Host) -> Any:
    """Return allowlists consulted by ``host.authorize`` for ``channel`` (*collect*).

    Return a :class:`hostline.Allowlist` or a list of them, or ``None``. Any
    DENY wins; otherwise one ALLOW is needed; when all abstain the channel's
    ``default_policy`` decides.
    """


@hookspec
def hostline_identity_linkers(host: Host) -> Any:
    """Return :class:`hostline.IdentityLinker` objects (*collect*).

    The built-in one-time-code linker (``/link``) is registered by the
    default plugin.
    """


@hookspec
def hostline_task_handlers(host: Host) -> Any:
    """Return a ``{kind: async handler(task)}`` dict for the durable runner (*collect*).

    Channels persist inbound webhook updates as tasks and process them in
    the runner's workers; the handler gets the :class:`hostline.Task` and may
    raise :class:`hostline.RetryableDeliveryError` to be retried later.
    """


@hookspec
def hostline_feedback(feedback: Feedback, host: Host) -> Any:
    """A person rated an answer (*collect*).

    Chat channels with feedback buttons (Slack ``feedback_buttons``, Discord,
    Teams) call :meth:`hostline.Host.feedback` when someone clicks one; every
    implementation gets the :class:`hostline.Feedback`: the ``rating``
    (``"positive"`` / ``"negative"``), the ``answer`` text it refers to, its
    native ``message_id``, the person's ``identity``, the session ``scope`` and
    the ``run_id`` when the channel knows it. Use it to record ratings, feed an
    evaluation pipeline or alert on bad answers. The return value is ignored.

    Channels call it from their durable task handlers, so a click is
    delivered once per accepted interaction even across restarts. An
    implementation that raises is logged and does not stop the others.

    Example::

        @hookimpl
        async def hostline_feedback(feedback, host):
            await host.store.kv_put("ratings", feedback.message_id,
                                    {"rating": feedback.rating, "answer": feedback.answer})
    """
