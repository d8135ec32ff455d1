"""The store interface every backend implements."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

import attrs

from ..types import Message, Session
from .erasure import Erasure


class JSONText(str):
    """A value already encoded as JSON (with :func:`hostline.encode_json`): a
    store writes it as it is (a caller that measured the encoding does not pay
    for it twice)."""


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


@attrs.frozen
class AuditEntry:
    """One operator action in the audit log.

    ``subject`` names the person acted on only by a keyed hash of their
    identity keys (see :func:`hostline.operator.subject_hash`), never by the
    ids themselves; ``detail`` is JSON (counts, task ids, never content).
    """

    at: float
    actor: str
    action: str
    subject: str | None = None
    detail: dict[str, Any] = attrs.field(factory=dict)
    id: int | None = None


@attrs.frozen
class SessionInfo:
    """A stored session found for a person (``hostline sessions show``)."""

    key: str
    state: dict[str, Any]
    updated_at: float
    messages: int
    scopes: tuple[str, ...] = ()


@attrs.frozen
class StoreStats:
    """Counts for ``hostline stats`` and the admin page.

    ``tasks`` maps a state (``pending``, ``leased``, ``dead``) to its count;
    ``kinds`` maps ``"<kind>:<state>"`` to a count; ``oldest_pending_at`` is
    the creation time of the oldest task not done, or ``None``.
    """

    tasks: dict[str, int]
    kinds: dict[str, int]
    oldest_pending_at: float | None
    sessions: int
    links: int
    records: int
    quarantined: int


class Store(abc.ABC):
    """Sessions, history, aliases, key-value records, links and tasks.

    All methods are coroutines and never block the event loop. Keys arrive
    already scoped by isolation keys; a store never interprets them.

    JSON policy (:mod:`hostline.json_boundary`; every backend follows it):

    * write values with :func:`hostline.encode_json` (it never raises on what
      a channel decoded: lone surrogates are stored as U+FFFD);
    * read them with :func:`hostline.decode_stored_json`, which also repairs
      records written before the policy (lone surrogates become U+FFFD) and
      refuses nesting deeper than 192 levels without recursing;
    * a row it refuses (``hostline.InvalidJSON``, a ``ValueError``) is
      corrupt: move it to quarantine with a WARNING and answer as if it were
      missing (``None``, skipped in lists, not claimed). Never raise it.
    """

    @abc.abstractmethod
    async def open(self) -> None:
        """Create or migrate the schema."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections."""

    # sessions -----------------------------------------------------------
    @abc.abstractmethod
    async def load_session(self, scope: str, history_limit: int
                           ) -> tuple[Session, Sequence[Message]]:
        """The current session for a conversation scope and its last turns
        (a :class:`hostline.History` may decode them lazily)."""

    @abc.abstractmethod
    async def save_turn(self, session: Session, messages: list[Message], history_limit: int,
                        *, records: Sequence[tuple[str, str, Any]] = ()) -> None:
        """Append ``messages`` to the session's history and save its state;
        ``records`` (``(ns, key, value)``) are put in the same transaction."""

    @abc.abstractmethod
    async def reset_session(self, scope: str) -> str:
        """Point ``scope`` at a fresh session; the old one stays stored, unreachable."""

    # key-value ------------------------------------------------------------
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

    # links ----------------------------------------------------------------
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

    # tasks ----------------------------------------------------------------
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

    # operator actions -----------------------------------------------------
    # Not abstract so that a backend written before these existed still
    # starts; every first-party backend implements them and the conformance
    # suite in hostline.testing checks them.

    async def erase(self, erasure: Erasure) -> dict[str, int]:
        """Remove every row that mentions a person; returns rows removed per table.

        A backend must remove, in one transaction where it can:

        * every link of ``erasure.identities`` and every link of
          ``erasure.user_ids`` (the other accounts of that person);
        * every session whose key mentions the person, every alias whose
          scope or session mentions them, and all history of those sessions
          (history rows are found by session, their text is not searched);
        * every key-value record whose namespace, key or value mentions them
          (conversation references, "dest" records, link codes, dedupe keys);
        * every task in any state (pending pushes, queued updates, dead
          letters, even one in flight) whose kind, partition, key or payload
          mentions them: a pending push to them is never delivered;
        * every quarantined row whose key or raw text mentions them.

        It must keep the audit log and every row that does not mention them.
        "Mentions" is :meth:`Erasure.mentions`: narrow candidates with a
        substring search on :attr:`Erasure.terms`, then confirm each row with
        ``erasure.mentions(column, ...)``. Calling it again removes nothing
        more (idempotent). Keys in the result: ``links``, ``sessions``,
        ``aliases``, ``history``, ``records``, ``tasks``, ``quarantine``.
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement erase")

    async def sessions_of(self, erasure: Erasure) -> list[SessionInfo]:
        """The stored sessions whose key (or an alias scope pointing at them)
        mentions the person, most recently updated first, with their state
        and history length. Read history with :meth:`load_session` on
        ``info.key``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement sessions_of")

    async def links_list(self, limit: int = 100, after: str | None = None
                         ) -> list[tuple[str, str, dict[str, Any], float]]:
        """Every link as ``(identity_key, user_id, identity_json, linked_at)``,
        ordered by identity key, ``limit`` at a time after ``after``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement links_list")

    async def audit_append(self, entry: AuditEntry) -> int:
        """Append ``entry`` to the audit log; returns its id. Entries are
        never changed or erased (an erasure keeps them)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement audit_append")

    async def audit_list(self, limit: int = 100, before: int | None = None
                         ) -> list[AuditEntry]:
        """Audit entries newest first (ids below ``before`` when given), with ``id`` set."""
        raise NotImplementedError(f"{type(self).__name__} does not implement audit_list")

    async def replay_tasks(self, *, ids: Sequence[int] | None = None,
                           states: Sequence[str] = ("dead",),
                           older_than: float | None = None) -> int:
        """Make matching tasks ready now with their attempts reset; returns how many.

        A task matches when its state is in ``states`` (only ``dead`` and
        ``pending`` can match: a leased task is left to its worker), its id
        is in ``ids`` when given, and it was created at least ``older_than``
        seconds ago when given. ``last_error`` is kept.
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement replay_tasks")

    async def purge_tasks(self, *, ids: Sequence[int] | None = None,
                          states: Sequence[str] = ("dead",),
                          older_than: float | None = None) -> int:
        """Delete matching tasks (same matching as :meth:`replay_tasks`: never a
        leased one); returns how many. Their remembered keys stay, so a
        redelivered webhook is still a duplicate."""
        raise NotImplementedError(f"{type(self).__name__} does not implement purge_tasks")

    async def stats(self) -> StoreStats:
        """Counts of tasks by state and kind, sessions, links, records and
        quarantined rows (expired records not counted)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement stats")
