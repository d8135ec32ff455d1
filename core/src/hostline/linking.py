"""Identity linking: one person, several channels, one user id.

The built-in :class:`OneTimeCodeLinker` works like pairing a device: ``/link``
on channel A answers a short code; sending ``/link CODE`` on channel B links
both identities to one user id. Codes expire, are single use, and attempts
are rate-limited per identity; comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import attrs

from .types import Identity, LinkedIdentity

if TYPE_CHECKING:
    from .host import Host

__all__ = ["IdentityLinker", "LinkChallenge", "LinkResolution", "OneTimeCodeLinker"]

_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8", "replace")).hexdigest()


@attrs.frozen
class LinkChallenge:
    """What to tell the person who started linking."""

    code: str
    expires_at: float
    instructions: str


@attrs.frozen
class LinkResolution:
    """The outcome of redeeming a code."""

    ok: bool
    message: str
    user_id: str | None = None
    linked: tuple[LinkedIdentity, ...] = ()


@runtime_checkable
class IdentityLinker(Protocol):
    """Starts and completes links between identities."""

    async def start(self, host: Host, identity: Identity) -> LinkChallenge:
        """Begin linking ``identity``; return what to tell the person."""
        ...

    async def complete(self, host: Host, identity: Identity, code: str) -> LinkResolution:
        """Redeem ``code`` presented by ``identity``."""
        ...


def describe_duration(seconds: float) -> str:
    """``seconds`` as people say it: "45 seconds", "1 minute", "2 minutes 30 seconds"."""
    total = max(1, round(seconds))
    minutes, rest = divmod(total, 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{n} {unit}{'' if n == 1 else 's'}"
             for n, unit in ((hours, "hour"), (minutes, "minute"), (rest, "second")) if n]
    return " ".join(parts)


@attrs.define
class OneTimeCodeLinker:
    """The built-in linker: 8-character codes valid ``ttl`` seconds (``[host.links]
    code_ttl``, 10 minutes by default), 5 tries per 10 minutes."""

    ttl: float = 600.0
    length: int = 8
    max_attempts: int = 5
    window: float = 600.0

    async def start(self, host: Host, identity: Identity) -> LinkChallenge:
        """Issue a code bound to ``identity``."""
        code = "".join(secrets.choice(_ALPHABET) for _ in range(self.length))
        digest = _digest(code)
        await host.store.kv_put("link:code", digest, {"identity": identity.to_json(),
                                                      "digest": digest}, ttl=self.ttl)
        return LinkChallenge(
            code, time.time() + self.ttl,
            f"Send /link {code} from your other account within {describe_duration(self.ttl)} "
            "to link them.")

    async def complete(self, host: Host, identity: Identity, code: str) -> LinkResolution:
        """Link ``identity`` with the identity that asked for ``code``."""
        attempts_key = identity.key
        record = await host.store.kv_get("link:attempts", attempts_key) or {"n": 0}
        if record["n"] >= self.max_attempts:
            return LinkResolution(False, "Too many attempts. Try again later.")
        await host.store.kv_put("link:attempts", attempts_key, {"n": record["n"] + 1},
                                ttl=self.window)
        digest = _digest(code.strip().upper())
        # Codes are stored by hash, so the index lookup cannot leak a prefix
        # of a valid code through timing; the final compare is constant-time.
        stored = await host.store.kv_get("link:code", digest)
        if stored is None or not hmac.compare_digest(str(stored.get("digest")), digest):
            return LinkResolution(False, "That code is invalid or has expired.")
        if not await host.store.kv_delete("link:code", digest):
            return LinkResolution(False, "That code was already used.")
        other = Identity.from_json(stored["identity"])
        if other.key == identity.key:
            return LinkResolution(False, "Send the code from your other account.")
        if not host.link_policy.may_link(other.channel, identity.channel):
            return LinkResolution(False, f"Accounts on {other.channel} cannot be linked with "
                                         f"{identity.channel}.")
        user_id = (await host.store.user_of(other.key) or await host.store.user_of(identity.key)
                   or uuid.uuid4().hex)
        for ident in (other, identity):
            await host.store.link(ident.key, user_id, ident.to_json())
        await host.store.kv_delete("link:attempts", attempts_key)
        linked = tuple(LinkedIdentity(user_id, Identity.from_json(i))
                       for i in await host.store.identities_of(user_id))
        return LinkResolution(True, f"Linked with your {other.channel} account.", user_id,
                              linked)
