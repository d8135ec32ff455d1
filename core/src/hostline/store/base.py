"""The store interface every backend implements (the backend contract).

A store backend is a :class:`Store` subclass registered under the
``hostline.stores`` entry-point group and chosen by ``[host.store] backend``;
:meth:`Store.from_config` builds it from ``[host.store]``. What every backend
must guarantee, beyond the method docstrings:

* **Durability.** A method returns after its write is committed; a crash
  after that loses nothing. :meth:`Store.save_turn` commits the history, the
  session state and its records in one transaction.
* **Processes share a store.** Several processes (on one machine for SQLite,
  on many for PostgreSQL) use one store at once: claims never hand one task
  to two owners while its lease runs, at most one task per partition is
  leased at a time (so one chat's tasks run in order), and a lease that
  expires (its owner died) makes the task claimable again.
* **Corrupt rows never crash the host.** A row that does not decode (or has
  the wrong shape) is moved to the quarantine table with a WARNING and
  reads go on without it.
* **Secrets stay hidden.** ``repr()``, log lines and errors never show a
  password from the connection URL.
* **Wake-ups and singletons.** :meth:`Store.doorbell` tells runners in other
  processes that work is queued (polling is the fallback); :meth:`Store.lock`
  is a named lock that one process at a time holds (leader election for
  singletons such as a Telegram poller).
* **Copy.** :meth:`Store.export_rows` / :meth:`Store.import_rows` move every
  table between backends (``hostline store copy``) in the portable row shapes
  of :data:`COPY_TABLES`; importing twice changes nothing.

``hostline.testing.StoreConformance`` checks all of this for a backend with
one fixture.
"""

from __future__ import annotations

import abc
import os
import socket
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from .contracts import KeyValueStore, LinkStore, SessionStore, TaskQueue
from .erasure import Erasure

if TYPE_CHECKING:
    from ..config import StoreConfig

#: Tables copied by ``hostline store copy``, in copy order, with the columns of
#: their portable rows (JSON columns hold JSON text). The first column(s)
#: named in :data:`COPY_KEYS` order the rows and page through them.
COPY_TABLES: dict[str, tuple[str, ...]] = {
    "aliases": ("scope", "session", "updated_at"),
    "sessions": ("key", "state", "updated_at"),
    "history": ("id", "session", "message", "created_at"),
    "kv": ("ns", "key", "value", "expires_at"),
    "links": ("identity", "user_id", "data", "linked_at"),
    "tasks": ("id", "kind", "part", "key", "payload", "state", "attempts", "next_at",
              "owner", "lease_until", "last_error", "created_at", "updated_at"),
    "quarantine": ("id", "tbl", "row_key", "raw", "error", "at"),
    "audit": ("id", "at", "actor", "action", "subject", "detail"),
}
#: The key columns of each copied table (rows are exported in their order).
COPY_KEYS: dict[str, tuple[str, ...]] = {
    "aliases": ("scope",), "sessions": ("key",), "history": ("id",), "kv": ("ns", "key"),
    "links": ("identity",), "tasks": ("id",), "quarantine": ("id",), "audit": ("id",),
}


class Doorbell(abc.ABC):
    """How the processes sharing a store wake each other's runners when a task
    is queued (without one, runners find new work at their next poll)."""

    @abc.abstractmethod
    async def listen(self, wake: Callable[[], None]) -> None:
        """Start calling ``wake()`` (on the event loop) whenever another
        process rings."""

    @abc.abstractmethod
    def ring(self) -> None:
        """Wake the listening processes (cheap; may coalesce calls)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Stop listening and release what was opened."""


class Lock(abc.ABC):
    """A named lock held by at most one process of all those sharing a store.

    Get one from :meth:`Store.lock`. It is never waited for: :meth:`acquire`
    answers at once, and the holder calls :meth:`held` every few seconds to
    keep it (a lease-based lock renews there) and to learn if it was lost.
    A holder that dies loses the lock (when its connection drops or its
    lease expires).
    """

    @abc.abstractmethod
    async def acquire(self) -> bool:
        """Take the lock if it is free; ``True`` if this process holds it now."""

    @abc.abstractmethod
    async def held(self) -> bool:
        """Whether this process still holds the lock (renewing it)."""

    @abc.abstractmethod
    async def release(self) -> None:
        """Give the lock up (no-op if not held)."""


def owner_id() -> str:
    """A name for this process that no other process has: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class LeaseLock(Lock):
    """The default :class:`Lock`: a key-value record that expires after
    ``ttl`` seconds unless renewed. Renewal reads then writes, so a holder
    that stalled for longer than ``ttl`` may briefly overlap the next one;
    backends with real locks (PostgreSQL advisory locks) override
    :meth:`Store.lock`."""

    NS = "hostline:locks"

    def __init__(self, store: Store, name: str, ttl: float = 6.0) -> None:
        self.store = store
        self.name = name
        self.ttl = ttl
        self.owner = owner_id()
        self._held = False

    async def acquire(self) -> bool:
        self._held = await self.store.kv_add(self.NS, self.name, self.owner, ttl=self.ttl)
        return self._held

    async def held(self) -> bool:
        if not self._held:
            return False
        if await self.store.kv_get(self.NS, self.name) != self.owner:
            self._held = False
            return False
        await self.store.kv_put(self.NS, self.name, self.owner, ttl=self.ttl)
        return True

    async def release(self) -> None:
        if self._held:
            self._held = False
            if await self.store.kv_get(self.NS, self.name) == self.owner:
                await self.store.kv_delete(self.NS, self.name)
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


class Store(SessionStore, KeyValueStore, LinkStore, TaskQueue):
    """Sessions, history, aliases, key-value records, links and tasks: the
    four contracts of :mod:`hostline.store.contracts`, plus the lifecycle,
    wake-ups, locks, copying and operator actions below.

    All methods are coroutines and never block the event loop. Keys arrive
    already scoped by isolation keys; a store never interprets them. See the
    module docstring for what every backend guarantees.

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

    @classmethod
    def from_config(cls, config: StoreConfig, *, state_dir: Path) -> Store:
        """Build the store ``[host.store]`` describes (not opened yet).

        Raise :class:`hostline.ConfigError` naming the key for bad options.
        """
        raise NotImplementedError(f"{cls.__name__} does not implement from_config")

    async def check(self) -> str:
        """Connect and report in one line what was found (``hostline check``):
        no schema change, no secret in the text."""
        await self.open()
        await self.close()
        return repr(self)

    async def migrate(self) -> tuple[int, int]:
        """Bring the schema to this version's (``hostline store migrate``);
        returns the schema versions before and after."""
        await self.open()
        await self.close()
        return (0, 0)

    def doorbell(self) -> Doorbell | None:
        """The wake-up mechanism between processes sharing this store, or
        ``None`` (runners poll)."""
        return None

    def lock(self, name: str) -> Lock:
        """A named lock across every process sharing this store."""
        return LeaseLock(self, name)

    @abc.abstractmethod
    async def open(self) -> None:
        """Create or migrate the schema."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections."""

    # copy -----------------------------------------------------------------
    @abc.abstractmethod
    async def export_rows(self, table: str, after: tuple[Any, ...] | None = None,
                          limit: int = 1000) -> list[dict[str, Any]]:
        """Up to ``limit`` rows of ``table`` (a :data:`COPY_TABLES` name) in
        :data:`COPY_KEYS` order, after the row whose key columns are ``after``;
        dicts with the table's portable columns (JSON columns as JSON text)."""

    @abc.abstractmethod
    async def import_rows(self, table: str, rows: Sequence[dict[str, Any]]) -> int:
        """Write portable rows: keyed tables are upserted, rows with ids are
        kept with their ids and skipped when the id exists (so importing twice
        changes nothing). A row whose JSON does not decode is quarantined.
        Returns how many rows were written."""

    async def count_rows(self, table: str) -> int | None:
        """How many rows ``table`` holds (a progress bar's total), if cheap to know."""
        return None

    async def after_import(self) -> None:
        """Called once a copy has imported every table (a backend may move its
        id sequences past the copied ids here)."""
        return None

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
