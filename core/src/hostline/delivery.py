"""Where a run's result goes: :class:`ResponseTarget` resolution, response
hooks, fan-out, and pushes through the outbox.

The originating destination is answered on the open request by its channel;
every other destination becomes a *delivery*: an outbox task, committed
before any send, that the runner hands to the owning channel's
``hostline_push``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING, Any

import attrs

from .errors import PermanentDeliveryError
from .ids import random_hex
from .plugins import Channel, Hooks
from .types import Destination, Identity, Message, ResponseTarget, RunResult

if TYPE_CHECKING:
    from collections import Counter

    from .host import Host
    from .runner import Runner
    from .store import Store, Task
    from .turn import Turn

__all__ = ["DELIVERY", "Delivery", "DeliveryPlan", "LinkPolicy", "Resolution", "ResponseContext",
           "SkippedTarget", "delivery_task", "resolve"]

#: The task kind of outbox deliveries (stored in queued tasks: never renamed).
DELIVERY = "push"


def delivery_task(destination: Destination, message: Message) -> tuple[dict[str, Any], str]:
    """The payload and partition of a delivery (one destination's deliveries
    go out in order)."""
    return ({"destination": destination.to_json(), "message": message.to_json()},
            f"{destination.channel}:{destination.address}")


@attrs.frozen
class SkippedTarget:
    """A destination that was intended but not used, and why."""

    target: str
    reason: str


@attrs.define
class ResponseContext:
    """What a ``hostline_response_hook`` sees for one destination."""

    result: RunResult
    destination: Destination
    is_echo: bool
    is_originating: bool
    intended_targets: tuple[str, ...]
    skipped_targets: tuple[SkippedTarget, ...]
    identity: Identity | None
    run_id: str
    host: Host


@attrs.frozen
class LinkPolicy:
    """Which channels may be linked and where private content may go.

    ``links`` maps a channel instance to the instances it may be linked
    with (``"*"`` for any); ``private_to_group`` allows content that arrived
    in a private chat to be delivered to a group destination.
    """

    links: dict[str, tuple[str, ...]] = attrs.field(factory=dict)
    private_to_group: bool = False

    def may_link(self, a: str, b: str) -> bool:
        """Whether identities on channels ``a`` and ``b`` may be linked."""
        if not self.links:
            return True
        return any(x in self.links.get(src, ()) or "*" in self.links.get(src, ())
                   for src, x in ((a, b), (b, a)))


@attrs.frozen
class Resolution:
    """The destinations of one result and the ones skipped."""

    destinations: tuple[Destination, ...]
    intended: tuple[str, ...]
    skipped: tuple[SkippedTarget, ...]


@attrs.frozen
class DeliveryPlan:
    """Where one result goes, decided and not yet written: the ``reply`` for
    the originating destination (``None`` when nothing goes back there) and
    the ``outbox`` messages for the others, each ``(destination, message,
    idempotency key)``."""

    reply: RunResult | None
    outbox: tuple[tuple[Destination, Message, str], ...] = ()


async def _linked(store: Store, identity: Identity | None) -> list[Identity]:
    if identity is None:
        return []
    user, identities = await store.linked(identity.key)
    if user is None:
        return [identity]
    return [Identity.from_json(i) for i in identities]


async def resolve(target: ResponseTarget, identity: Identity | None,
                  origin: Destination | None, *, store: Store, channels: Collection[str],
                  policy: LinkPolicy) -> Resolution:
    """Resolve ``target`` for a person into destinations on the configured
    ``channels``, honouring the link ``policy``."""
    if target.kind == "none":
        return Resolution((), (), ())
    if target.kind == "originating":
        if origin is None:
            return Resolution((), ("originating",), (SkippedTarget("originating",
                                                                   "no conversation reference"),))
        return Resolution((origin,), (f"{origin.channel}:{origin.address}",), ())
    candidates: list[tuple[str, Identity | None]] = []
    linked = await _linked(store, identity)
    if target.kind == "identities":
        by_key = {i.key: i for i in linked}
        for key in target.names:
            channel, _, native = key.partition(":")
            candidates.append((key, by_key.get(key) or Identity(channel, native)))
    elif target.kind == "channels":
        for name in target.names:
            match = [i for i in linked if i.channel == name]
            if not match:
                candidates.append((name, None))
            candidates.extend((name, i) for i in match)
    else:  # all_linked, active
        candidates = [(i.key, i) for i in linked]
    dests: list[tuple[float, Destination]] = []
    skipped: list[SkippedTarget] = []
    for label, ident in candidates:
        if ident is None:
            skipped.append(SkippedTarget(label, "not linked"))
            continue
        if ident.channel not in channels:
            skipped.append(SkippedTarget(label, "channel not configured"))
            continue
        if origin is not None and ident.key == origin.identity:
            dests.append((float("inf"), origin))
            continue
        ref: Any = await store.kv_get("dest", ident.key)
        if ref is None:
            skipped.append(SkippedTarget(label, "no conversation reference"))
            continue
        dest = Destination.from_json(ref["destination"])
        if (origin is not None and not origin.is_group and dest.is_group
                and not policy.private_to_group):
            skipped.append(SkippedTarget(label, "not allowed: private content to a group"))
            continue
        dests.append((float(ref.get("at", 0.0)), dest))
    if target.kind == "active" and dests:
        dests = [max(dests, key=lambda d: d[0])]
    seen: set[tuple[str, str]] = set()
    out: list[Destination] = []
    for _, d in dests:
        if (d.channel, d.address) not in seen:
            seen.add((d.channel, d.address))
            out.append(d)
    return Resolution(tuple(out), tuple(label for label, _ in candidates), tuple(skipped))


class Delivery:
    """Response hooks, fan-out and pushes of one host.

    Vocabulary: a *push* is a proactive message (:meth:`push`); a *delivery*
    is one message for one destination, queued in the outbox
    (:meth:`enqueue`) and sent by the owning channel (:meth:`send`) when the
    runner hands the task to :meth:`handle`.
    """

    def __init__(self, host: Host, hooks: Hooks, runner: Runner, store: Store,
                 channels: Collection[str], policy: LinkPolicy, metrics: Counter[str]) -> None:
        self._host = host  # passed to the hooks, whose contract includes it
        self._hooks = hooks
        self._runner = runner
        self._store = store
        self._channels = channels
        self._policy = policy
        self._metrics = metrics

    async def resolve(self, target: ResponseTarget, identity: Identity | None,
                      origin: Destination | None) -> Resolution:
        """:func:`resolve` on this host's store, channels and link policy."""
        return await resolve(target, identity, origin, store=self._store,
                             channels=self._channels, policy=self._policy)

    async def plan(self, turn: Turn, result: RunResult) -> DeliveryPlan:
        """Where ``result`` goes, as the turn's response target says: the
        destinations resolved and the response hooks run, writing nothing.
        The reply for the originating destination is the plan's ``reply``;
        :meth:`commit` queues the messages for every other destination."""
        req = turn.request
        target = result.response_target or req.response_target or ResponseTarget.originating()
        origin = req.destination or Destination(req.channel, "open-request",
                                                req.identity.key if req.identity else None)
        res = await self.resolve(target, req.identity, origin)
        reply: RunResult | None = None
        queued: list[tuple[Destination, Message, str]] = []
        for dest in res.destinations:
            is_origin = dest == origin
            outgoing: list[tuple[RunResult, bool]] = []
            if target.echo_input and not is_origin:
                echo = Message("user", tuple(p for m in req.input for p in m.content))
                outgoing.append((RunResult((echo,)), True))
            outgoing.append((result, False))
            for candidate, is_echo in outgoing:
                ctx = ResponseContext(candidate, dest, is_echo, is_origin, res.intended,
                                      res.skipped, req.identity, turn.run_id, self._host)
                final = await self.apply_response_hooks(ctx)
                if final is None:
                    continue
                if is_origin:
                    reply = final
                    continue
                queued += [(dest, message, f"{turn.run_id}:{dest.channel}:{dest.address}:"
                                           f"{int(is_echo)}:{i}")
                           for i, message in enumerate(final.messages)]
        return DeliveryPlan(reply, tuple(queued))

    async def commit(self, plan: DeliveryPlan) -> None:
        """Commit the planned deliveries to other destinations to the outbox."""
        for dest, message, key in plan.outbox:
            await self.enqueue(dest, message, key=key)

    async def apply_response_hooks(self, context: ResponseContext) -> RunResult | None:
        """Run the response hook chain for one destination; ``None`` if dropped."""
        def feed(result: RunResult) -> dict[str, Any]:
            context.result = result
            return {"context": context}

        final = await self._hooks.chain("hostline_response_hook", context.result, feed)
        if final is not None and not isinstance(final, RunResult):
            raise TypeError(f"a hostline_response_hook returned {type(final).__name__}; "
                            "expected RunResult, False or None")
        return final

    async def enqueue(self, destination: Destination, message: Message, *,
                      key: str | None = None) -> int | None:
        """Commit one delivery to the outbox (idempotent on ``key``)."""
        payload, partition = delivery_task(destination, message)
        return await self._runner.enqueue(DELIVERY, payload, partition=partition,
                                          key=key or random_hex())

    async def push(self, message: Message | str, *,
                   to: ResponseTarget | Destination | Iterable[Destination],
                   identity: Identity | None = None) -> list[int]:
        """Queue a proactive message; the outbox task ids (see :meth:`Host.push`)."""
        msg = Message.assistant(message) if isinstance(message, str) else message
        if isinstance(to, ResponseTarget):
            dests: list[Destination] = list((await self.resolve(to, identity, None)).destinations)
        elif isinstance(to, Destination):
            dests = [to]
        else:
            dests = list(to)
        run_id = random_hex()
        ids = []
        for d in dests:
            task_id = await self.enqueue(d, msg, key=f"{run_id}:{d.channel}:{d.address}")
            if task_id is not None:
                ids.append(task_id)
        return ids

    async def send(self, destination: Destination, message: Message, key: str) -> Any:
        """Ask the owning channel to send now (``hostline_push``, *firstresult*):
        channel instances other than ``destination.channel`` are not asked;
        other plugins may answer."""
        def other_channel(impl: Any) -> bool:
            return isinstance(impl.plugin, Channel) and impl.plugin.name != destination.channel

        return await self._hooks.first("hostline_push", skip=other_channel,
                                       destination=destination, message=message,
                                       host=self._host, key=key)

    async def handle(self, task: Task) -> None:
        """The runner's handler of delivery tasks."""
        dest = Destination.from_json(task.payload["destination"])
        message = Message.from_json(task.payload["message"])
        receipt = await self.send(dest, message, task.key or str(task.id))
        if receipt is None:
            raise PermanentDeliveryError(f"no channel answers pushes to {dest.channel!r}")
        self._metrics["delivered"] += 1
