"""Operator actions shared by the CLI and the admin page: find, erase and
unlink a person, replay and purge the outbox; every action is audited.

The audit log names a person only by :func:`subject_hash`, a keyed hash
(HMAC-SHA256) of their identity keys: whoever holds the key can check
whether a given person was erased, nobody else can recover the ids.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs

from .config import Config
from .store import AuditEntry, Erasure, SessionInfo, Store, Task
from .types import Identity, Message

__all__ = ["Operator", "Person", "audit_key", "parse_identity", "subject_hash"]

_KEY_FILE = "audit.key"


def parse_identity(text: str) -> str:
    """``CHANNEL:ID`` checked and returned as an identity key (``ValueError`` if not one)."""
    channel, sep, native = text.strip().partition(":")
    if not sep or not channel or not native:
        raise ValueError(f"expected CHANNEL:ID (e.g. telegram:12345678), got {text!r}")
    return f"{channel}:{native}"


def audit_key(config: Config) -> bytes:
    """The audit hash key: ``[host.admin] audit_key``, else ``<state_dir>/audit.key``
    (created with 32 random bytes, readable by its owner only)."""
    configured = config.host.admin.audit_key
    if configured:
        return configured.reveal().encode()
    path = Path(config.state_dir) / _KEY_FILE
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    tmp = path.with_name(f".{_KEY_FILE}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key.hex())
    try:
        os.link(tmp, path)  # first writer wins when processes race
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return bytes.fromhex(path.read_text().strip())


def subject_hash(key: bytes, identities: Iterable[str]) -> str:
    """The keyed hash naming a person in the audit log: ``hmac-sha256:<hex>``
    over their sorted identity keys (the same person hashes the same)."""
    text = "\n".join(sorted(set(identities)))
    return "hmac-sha256:" + hmac.new(key, text.encode(), hashlib.sha256).hexdigest()[:32]


@attrs.frozen
class Person:
    """A person found by one identity key: every identity linked to it."""

    key: str
    user_id: str | None
    identities: tuple[Identity, ...]

    @property
    def keys(self) -> tuple[str, ...]:
        """Every identity key of the person (the one asked for included)."""
        return tuple(sorted({self.key, *(i.key for i in self.identities)}))

    def erasure(self) -> Erasure:
        """What :meth:`hostline.Store.erase` removes for this person."""
        return Erasure.of(self.keys, [self.user_id] if self.user_id else [])


@attrs.frozen
class SessionView:
    """A session of a person and its last messages."""

    info: SessionInfo
    history: tuple[Message, ...]


class Operator:
    """Operator actions on one store, audited under ``actor``."""

    def __init__(self, store: Store, key: bytes, actor: str) -> None:
        self.store = store
        self._key = key
        self.actor = actor

    def __repr__(self) -> str:
        return f"<Operator {self.actor!r}>"

    def subject(self, person: Person) -> str:
        """The keyed hash of ``person`` used in the audit log."""
        return subject_hash(self._key, person.keys)

    async def audit(self, action: str, subject: str | None = None, **detail: Any) -> None:
        """Record an action in the audit log."""
        await self.store.audit_append(AuditEntry(time.time(), self.actor, action, subject,
                                                 detail))

    async def person(self, identity: str) -> Person:
        """The person behind ``CHANNEL:ID`` and their linked identities."""
        key = parse_identity(identity)
        user, linked = await self.store.linked(key)
        identities = tuple(Identity.from_json(i) for i in linked)
        if not any(i.key == key for i in identities):
            channel, _, native = key.partition(":")
            identities = (Identity(channel, native), *identities)
        return Person(key, user, identities)

    async def sessions(self, person: Person, history: int = 20) -> list[SessionView]:
        """The person's stored sessions (on every linked channel) with their last turns."""
        out = []
        for info in await self.store.sessions_of(person.erasure()):
            _, messages = await self.store.load_session(info.key, history)
            out.append(SessionView(info, tuple(messages)))
        return out

    async def erase(self, person: Person) -> dict[str, int]:
        """Remove everything the store holds about ``person``; audited (idempotent)."""
        counts = await self.store.erase(person.erasure())
        await self.audit("erase", self.subject(person), removed=counts,
                         channels=sorted({i.channel for i in person.identities}))
        return counts

    async def revoke_link(self, identity: str) -> bool:
        """Unlink one identity from its person; audited."""
        person = await self.person(identity)
        removed = await self.store.unlink(person.key)
        await self.audit("revoke-link", self.subject(person), removed=removed,
                         channel=person.key.partition(":")[0])
        return removed

    async def matching_tasks(self, *, ids: Sequence[int] | None = None,
                             states: Sequence[str] = ("dead",),
                             older_than: float | None = None,
                             limit: int = 1_000_000) -> list[Task]:
        """Tasks a replay or purge with these filters would touch (never a leased one)."""
        wanted = [s for s in states if s in ("dead", "pending")]
        tasks = await self.store.list_tasks(wanted, limit=limit) if wanted else []
        cutoff = None if older_than is None else time.time() - older_than
        want = None if ids is None else set(ids)
        return [t for t in tasks if (want is None or t.id in want)
                and (cutoff is None or t.created_at <= cutoff)]

    async def replay(self, ids: Sequence[int], *, chunk: int = 500,
                     progress: Callable[[int], None] | None = None) -> int:
        """Make ``ids`` (dead or pending) ready now; audited. Returns how many."""
        return await self._chunked("replay", self.store.replay_tasks, ids, chunk, progress)

    async def purge(self, ids: Sequence[int], *, chunk: int = 500,
                    progress: Callable[[int], None] | None = None) -> int:
        """Delete ``ids`` (dead or pending); audited. Returns how many."""
        return await self._chunked("purge", self.store.purge_tasks, ids, chunk, progress)

    async def _chunked(self, action: str, fn: Any, ids: Sequence[int], chunk: int,
                       progress: Callable[[int], None] | None) -> int:
        done = 0
        for i in range(0, len(ids), chunk):
            part = list(ids[i:i + chunk])
            done += await fn(ids=part, states=("dead", "pending"))
            if progress is not None:
                progress(len(part))
        await self.audit(f"outbox-{action}", None, tasks=done,
                         ids=list(ids[:50]), more=max(0, len(ids) - 50))
        return done
