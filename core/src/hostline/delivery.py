"""Where a run's result goes: :class:`ResponseTarget` resolution and fan-out.

The originating destination is answered on the open request by its channel;
every other destination becomes an outbox task committed before any send.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from .types import Destination, Identity, ResponseTarget, RunResult

if TYPE_CHECKING:
    from .host import Host

__all__ = ["LinkPolicy", "Resolution", "ResponseContext", "SkippedTarget", "resolve"]


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


async def _linked(host: Host, identity: Identity | None) -> list[Identity]:
    if identity is None:
        return []
    user, identities = await host.store.linked(identity.key)
    if user is None:
        return [identity]
    return [Identity.from_json(i) for i in identities]


async def resolve(host: Host, target: ResponseTarget, identity: Identity | None,
                  origin: Destination | None) -> Resolution:
    """Resolve ``target`` for a person into destinations, honouring the link policy."""
    if target.kind == "none":
        return Resolution((), (), ())
    if target.kind == "originating":
        if origin is None:
            return Resolution((), ("originating",), (SkippedTarget("originating",
                                                                   "no conversation reference"),))
        return Resolution((origin,), (f"{origin.channel}:{origin.address}",), ())
    candidates: list[tuple[str, Identity | None]] = []
    linked = await _linked(host, identity)
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
    policy = host.link_policy
    for label, ident in candidates:
        if ident is None:
            skipped.append(SkippedTarget(label, "not linked"))
            continue
        if ident.channel not in host.channels:
            skipped.append(SkippedTarget(label, "channel not configured"))
            continue
        if origin is not None and ident.key == origin.identity:
            dests.append((float("inf"), origin))
            continue
        ref: Any = await host.store.kv_get("dest", ident.key)
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
