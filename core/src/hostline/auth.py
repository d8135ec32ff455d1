"""Allowlists and authorization decisions.

How ``host.authorize`` decides for one person on one channel:

1. Every allowlist for the channel is asked (config ``[channels.X.allow]``
   and every plugin's ``hostline_allowlists``).
2. Any ``DENY`` wins: the person is denied.
3. Otherwise one ``ALLOW`` is enough.
4. If all abstain (or there are none), the channel's default decides:
   ``policy = "deny"`` (the default whenever an allow table exists) or
   ``"allow"``. A channel with no allow table and no plugin allowlists allows.
5. A denied person whose allowlist could be satisfied by linking an identity
   on another channel (a :class:`LinkedClaimAllowlist`) gets ``LinkRequired``.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import attrs

from .errors import ChannelConfigurationError
from .types import AllowlistDecision, AuthorizationContext

__all__ = [
    "AllOf",
    "AllowAll",
    "Allowed",
    "Allowlist",
    "AnyOf",
    "AuthorizationResult",
    "CallableAllowlist",
    "Denied",
    "LinkRequired",
    "LinkedClaimAllowlist",
    "NativeIdAllowlist",
    "authorize",
    "combine",
]

ALLOW, DENY, ABSTAIN = AllowlistDecision.ALLOW, AllowlistDecision.DENY, AllowlistDecision.ABSTAIN


@runtime_checkable
class Allowlist(Protocol):
    """Anything with ``check(context) -> AllowlistDecision`` (sync or async)."""

    def check(self, context: AuthorizationContext) -> AllowlistDecision | Awaitable[
            AllowlistDecision]:
        """Decide for one person."""
        ...


@attrs.frozen
class Allowed:
    """The person may use the channel."""

    reason: str = "allowed"


@attrs.frozen
class Denied:
    """The person may not; ``reason`` is for logs, never shown with content."""

    reason: str = "denied"


@attrs.frozen
class LinkRequired:
    """Linking an identity from another channel would allow the person."""

    reason: str = "link required"
    channels: tuple[str, ...] = ()


AuthorizationResult = Allowed | Denied | LinkRequired


def combine(decisions: Iterable[AllowlistDecision]) -> AllowlistDecision:
    """Any DENY wins; else any ALLOW; else ABSTAIN."""
    seen_allow = False
    for d in decisions:
        if d is DENY:
            return DENY
        if d is ALLOW:
            seen_allow = True
    return ALLOW if seen_allow else ABSTAIN


async def authorize(context: AuthorizationContext, allowlists: Sequence[Allowlist], *,
                    policy: str, link_channels: tuple[str, ...] = ()) -> AuthorizationResult:
    """Decide for one person: any DENY wins, one ALLOW is enough; when every
    allowlist abstains, ``policy`` (``"allow"`` or ``"deny"``) decides. A
    person with no linked account who would be allowed by linking one (an
    allowlist of linked claims, or of another channel's ids) is asked to link
    (:class:`LinkRequired`, naming ``link_channels``)."""
    decision = combine([await decide(a, context) for a in allowlists])
    if decision is DENY:
        return Denied("denied by an allowlist")
    if decision is ALLOW:
        return Allowed()
    if policy == "allow":
        return Allowed("channel default")
    if context.user_id is None and any(
            isinstance(a, LinkedClaimAllowlist)
            or (isinstance(a, NativeIdAllowlist) and a.names_other_channels(context.channel))
            for a in allowlists):
        return LinkRequired(channels=link_channels)
    return Denied("no allowlist allowed")


async def decide(allowlist: Allowlist, context: AuthorizationContext) -> AllowlistDecision:
    """Call an allowlist, awaiting if needed; anything but a decision is an error."""
    out: Any = allowlist.check(context)
    if inspect.isawaitable(out):
        out = await out
    if not isinstance(out, AllowlistDecision):
        raise TypeError(f"{allowlist!r} returned {out!r}, not an AllowlistDecision")
    return out


@attrs.frozen
class AllowAll:
    """Allows everyone."""

    def check(self, context: AuthorizationContext) -> AllowlistDecision:
        """Always ALLOW."""
        return ALLOW


def _strings(value: Any, what: str) -> frozenset[str]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ChannelConfigurationError(f"{what}: expected a list of strings")
    items = list(value)
    if not items:
        raise ChannelConfigurationError(f"{what}: empty list (nobody could pass)")
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (str, int)):
            raise ChannelConfigurationError(f"{what}: expected strings, got "
                                            f"{type(item).__name__}")
    return frozenset(str(i) for i in items)


def _native_ids(value: Any) -> frozenset[str]:
    return _strings(value, "NativeIdAllowlist ids")


@attrs.frozen
class NativeIdAllowlist:
    """ALLOW the listed native ids: a bare id is one of the asking channel, a
    ``channel:id`` entry names an identity on that channel and also admits
    the people linked to it (``teams:<entra object id>`` in a Telegram allow
    table admits the Telegram account linked to that Teams user). ABSTAIN
    for everyone else."""

    ids: frozenset[str] = attrs.field(converter=_native_ids)

    def check(self, context: AuthorizationContext) -> AllowlistDecision:
        """ALLOW a listed id, or a person linked to a listed ``channel:id``."""
        ident = context.identity
        if ident.native_id in self.ids or ident.key in self.ids:
            return ALLOW
        if any(linked.key in self.ids for linked in context.linked):
            return ALLOW
        return ABSTAIN

    def names_other_channels(self, channel: str) -> bool:
        """Whether an entry names an identity on a channel other than ``channel``
        (linking to it would allow the person)."""
        return any(":" in i and not i.startswith(f"{channel}:") for i in self.ids)


def _claims(value: Any) -> dict[str, frozenset[str]]:
    if not isinstance(value, Mapping) or not value:
        raise ChannelConfigurationError("LinkedClaimAllowlist claims: expected a non-empty "
                                        "table of claim -> list of values")
    return {str(k): _strings(v, f"LinkedClaimAllowlist claims.{k}") for k, v in value.items()}


@attrs.frozen
class LinkedClaimAllowlist:
    """ALLOW when the person or any identity linked to them has one of the
    claim values (``{"tenant_id": ["..."], "username": ["alice"]}``)."""

    claims: dict[str, frozenset[str]] = attrs.field(converter=_claims)

    def check(self, context: AuthorizationContext) -> AllowlistDecision:
        """ALLOW on a matching claim of any linked identity."""
        for ident in (context.identity, *context.linked):
            for claim, allowed in self.claims.items():
                value = ident.claims.get(claim)
                if value is not None and str(value) in allowed:
                    return ALLOW
        return ABSTAIN


def _members(value: Any) -> tuple[Allowlist, ...]:
    items = tuple(value)
    if not items:
        raise ChannelConfigurationError("allowlist combinator needs at least one member")
    for item in items:
        if not callable(getattr(item, "check", None)):
            raise ChannelConfigurationError(f"{item!r} is not an allowlist (no check())")
    return items


@attrs.frozen
class AnyOf:
    """Combines members with the host's rule: any DENY wins, else any ALLOW.

    ABSTAIN members change nothing."""

    members: tuple[Allowlist, ...] = attrs.field(converter=_members)

    async def check(self, context: AuthorizationContext) -> AllowlistDecision:
        """The combined decision."""
        return combine([await decide(m, context) for m in self.members])


@attrs.frozen
class AllOf:
    """ALLOW only when every non-abstaining member allows (and at least one
    does); any DENY denies; all ABSTAIN abstains."""

    members: tuple[Allowlist, ...] = attrs.field(converter=_members)

    async def check(self, context: AuthorizationContext) -> AllowlistDecision:
        """The combined decision."""
        decisions = [await decide(m, context) for m in self.members]
        if DENY in decisions:
            return DENY
        voting = [d for d in decisions if d is not ABSTAIN]
        if not voting:
            return ABSTAIN
        return ALLOW if all(d is ALLOW for d in voting) else DENY


def _callable(fn: Any) -> Callable[..., Any]:
    if not callable(fn):
        raise ChannelConfigurationError("CallableAllowlist needs a callable")
    return fn  # type: ignore[no-any-return]


@attrs.frozen
class CallableAllowlist:
    """Wraps ``fn(context) -> AllowlistDecision | bool | None`` (sync or async):
    ``True`` -> ALLOW, ``False`` -> DENY, ``None`` -> ABSTAIN."""

    fn: Callable[[AuthorizationContext], Any] = attrs.field(converter=_callable)

    async def check(self, context: AuthorizationContext) -> AllowlistDecision:
        """The function's decision."""
        out = self.fn(context)
        if inspect.isawaitable(out):
            out = await out
        if isinstance(out, AllowlistDecision):
            return out
        return {True: ALLOW, False: DENY, None: ABSTAIN}[out]
