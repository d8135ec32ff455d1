"""The four contracts a store backend implements: sessions, key-value
records, links and the task queue (:class:`hostline.Store` combines them
with the lifecycle, copying and operator actions).

Every method is a coroutine that never blocks the event loop; keys arrive
already scoped by isolation keys and a store never interprets them.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

import attrs

from ..types import Message, Session

__all__ = ["JSONText", "KeyValueStore", "LinkStore", "SessionStore", "Task", "TaskQueue",
           "TurnRecord", "record_row"]


class JSONText(str):
    """A value already encoded as JSON (with :func:`hostline.encode_json`): a
    store writes it as it is (a caller that measured the encoding does not pay
    for it twice)."""


#: A key-value record saved with a turn: ``(ns, key, value)``, or
#: ``(ns, key, value, ttl)`` for one that expires ``ttl`` seconds later.
TurnRecord = tuple[str, str, Any] | tuple[str, str, Any, float | None]


def record_row(record: TurnRecord, now: float) -> tuple[str, str, Any, float | None]:
    """``(ns, key, value, expires_at)`` of a turn's record (``None``: never)."""
    if len(record) == 4:
        ns, key, value, ttl = record
        return ns, key, value, None if ttl is None else now + ttl
    ns, key, value = record
    return ns, key, value, None


@attrs.frozen
class Task:
    """A durable unit of work: an inbound update to process or a delivery to send.

    ``partition`` orders tasks (one chat's tasks run one at a time, in id
    order); ``key`` is the idempotency key (unique while the task exists).
    """

    id: int
    kind: str
    partition: str
    key: str | None
    payload: dict[str, Any]
    state: str
    attempts: int
    next_at: float
    created_at: float
    last_error: str | None = None


class SessionStore(abc.ABC):
    """Sessions and their history: a conversation *scope* points at its current
    session (an alias), which holds a JSON state and the turns."""

    @abc.abstractmethod
    async def load_session(self, scope: str, history_limit: int
                           ) -> tuple[Session, Sequence[Message]]:
        """The current session for a conversation scope and its last turns
        (a :class:`hostline.History` may decode them lazily)."""

    @abc.abstractmethod
    async def save_turn(self, session: Session, messages: list[Message], history_limit: int,
                        *, records: Sequence[TurnRecord] = ()) -> None:
        """Append ``messages`` to the session's history and save its state;
        ``records`` (:data:`TurnRecord`: ``(ns, key, value)`` or ``(ns, key,
        value, ttl)``; a :class:`JSONText` value is written as it is) are put
        in the same transaction (see :func:`record_row`)."""

    @abc.abstractmethod
    async def reset_session(self, scope: str) -> str:
        """Point ``scope`` at a fresh session; the old one stays stored, unreachable."""


class KeyValueStore(abc.ABC):
    """Namespaced JSON records with optional expiry: dedupe keys, conversation
    references, link codes, plugin state."""

    @abc.abstractmethod
    async def kv_get(self, ns: str, key: str) -> Any | None:
        """A JSON value, or ``None`` when missing or expired."""

    @abc.abstractmethod
    async def kv_put(self, ns: str, key: str, value: Any, ttl: float | None = None) -> None:
        """Store a JSON value, optionally expiring after ``ttl`` seconds."""

    @abc.abstractmethod
    async def kv_delete(self, ns: str, key: str) -> bool:
        """Delete; ``True`` if it existed."""

    @abc.abstractmethod
    async def kv_list(self, ns: str, prefix: str = "", limit: int = 100,
                      after: str | None = None, descending: bool = False
                      ) -> list[tuple[str, Any]]:
        """Records of ``ns`` whose key starts with ``prefix``, ordered by key."""

    @abc.abstractmethod
    async def kv_add(self, ns: str, key: str, value: Any, ttl: float | None = None) -> bool:
        """Insert only if absent (or expired); ``True`` if inserted. Used for dedupe."""

    @abc.abstractmethod
    async def purge_expired(self) -> int:
        """Delete expired key-value records (dedupe keys, codes); returns how many."""


class LinkStore(abc.ABC):
    """Identity links: channel identities (``channel:native_id``) that belong to
    one user id."""

    @abc.abstractmethod
    async def link(self, identity_key: str, user_id: str, identity: dict[str, Any]) -> None:
        """Link an identity to a user id."""

    @abc.abstractmethod
    async def unlink(self, identity_key: str) -> bool:
        """Remove an identity's link."""

    @abc.abstractmethod
    async def user_of(self, identity_key: str) -> str | None:
        """The user id an identity is linked to."""

    @abc.abstractmethod
    async def identities_of(self, user_id: str) -> list[dict[str, Any]]:
        """All identities (JSON) linked to a user id."""

    async def linked(self, identity_key: str) -> tuple[str | None, list[dict[str, Any]]]:
        """The user id of an identity and all identities linked to it (one round trip
        where the backend can)."""
        user = await self.user_of(identity_key)
        return user, (await self.identities_of(user) if user else [])


class TaskQueue(abc.ABC):
    """The durable queue: tasks claimed under leases, at most one in flight per
    partition, retried, dead-lettered."""

    @abc.abstractmethod
    async def enqueue(self, kind: str, payload: dict[str, Any], *, partition: str = "",
                      key: str | None = None, delay: float = 0.0,
                      remember: float | None = None) -> int | None:
        """Commit a task; ``None`` if a task with ``key`` already exists.

        With ``remember`` (seconds), ``key`` is also kept that long after the
        task finished: a redelivery of the same key (a webhook retried after
        its reply went out) is still a duplicate.
        """

    @abc.abstractmethod
    async def claim(self, owner: str, limit: int, lease: float,
                    kinds: list[str] | None = None) -> list[Task]:
        """Lease up to ``limit`` ready tasks, at most one per partition."""

    @abc.abstractmethod
    async def finish(self, task_id: int, owner: str) -> None:
        """The task is done: remove it."""

    @abc.abstractmethod
    async def reschedule(self, task_id: int, owner: str, error: str, at: float | None) -> None:
        """Record a failure; retry at ``at`` or, if ``None``, move to dead-letter."""

    @abc.abstractmethod
    async def release(self, owner: str) -> int:
        """Give back every lease of ``owner`` (clean shutdown)."""

    @abc.abstractmethod
    async def extend(self, task_id: int, owner: str, lease: float) -> bool:
        """Extend a lease; ``False`` if it is no longer ours."""

    @abc.abstractmethod
    async def list_tasks(self, states: list[str] | None = None, limit: int = 100) -> list[Task]:
        """Tasks for inspection (``hostline outbox``)."""

    @abc.abstractmethod
    async def retry_task(self, task_id: int) -> bool:
        """Put a dead task back to pending."""

    @abc.abstractmethod
    async def count_pending(self) -> int:
        """Tasks not yet done (pending or leased)."""

    async def dead_letter(self, kind: str, payload: dict[str, Any], reason: str) -> int | None:
        """Commit a task straight to dead-letter (an inbound update that can
        never be processed, acked so the sender stops retrying): listed by
        ``hostline outbox --failed``, with ``reason`` as its last error.

        The default enqueues and then reschedules with owner ``""``; a
        backend whose ``reschedule`` checks the owner overrides this (SQLite
        does it in one statement).
        """
        task_id = await self.enqueue(kind, payload, delay=10 * 365 * 86400.0)
        if task_id is not None:
            await self.reschedule(task_id, "", reason, None)
        return task_id
