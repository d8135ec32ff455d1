"""Where one conversation's workflow checkpoints live.

Both kinds are Agent Framework ``CheckpointStorage``\\ s (the workflow saves
and loads through them) with what a hostline turn needs on top: the latest
checkpoint, undoing the checkpoints of a failed turn, and pruning.

* :class:`StoreCheckpoints` (the default) keeps them in the host's store, so
  every process and replica on that store sees the same conversations (SQLite
  in ``state_dir``, or PostgreSQL).
* :class:`FileCheckpoints` keeps them as files in a directory of their own
  (``checkpoint_dir``), through Agent Framework's FileCheckpointStorage.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import agent_framework as af

# The encoding FileCheckpointStorage uses (JSON, with pickled values checked
# against the allowed types on load); Agent Framework does not re-export it.
from agent_framework._workflows._checkpoint_encoding import (
    decode_checkpoint_value,
    encode_checkpoint_value,
)

import hostline

__all__ = ["NAMESPACE", "FileCheckpoints", "StoreCheckpoints", "TurnCheckpoints"]

log = logging.getLogger("hostline.agent_framework")

#: The key-value namespace of checkpoints in the host's store.
NAMESPACE = "agent_framework:checkpoints"

T = TypeVar("T")


def oldest_first(items: Iterable[T], facts: Callable[[T], tuple[str, str, str | None]]
                 ) -> list[T]:
    """``items`` by timestamp; among equal timestamps a parent comes before
    its child. ``facts(item)`` is ``(timestamp, checkpoint id, parent id)``."""
    known = [(facts(item), item) for item in items]
    parents = {parent for (_, _, parent), _ in known}
    known.sort(key=lambda k: (k[0][0], k[0][1] not in parents))
    return [item for _, item in known]


def _skip_unreadable(name: str, exc: Exception) -> None:
    log.warning("agent-framework target: skipping unreadable checkpoint %s (%s: %s)",
                name, type(exc).__name__, exc)


class TurnCheckpoints(abc.ABC):
    """What a turn does with a conversation's checkpoints, beside the
    ``CheckpointStorage`` protocol the workflow itself uses."""

    def __init__(self) -> None:
        #: Ids saved through this instance (one instance serves one turn).
        self.saved: list[str] = []

    @abc.abstractmethod
    async def latest(self) -> af.WorkflowCheckpoint | None:
        """The newest readable checkpoint of the conversation."""

    @abc.abstractmethod
    async def ids_oldest_first(self) -> list[str]:
        """Every checkpoint id of the conversation, oldest first."""

    @abc.abstractmethod
    async def delete(self, checkpoint_id: str) -> bool:
        """Delete one checkpoint; ``True`` if it existed."""

    async def discard_turn(self) -> None:
        """Delete what this turn saved: a turn is all or nothing, so the next
        one starts from the state before it (not from a step that failed)."""
        for checkpoint_id in reversed(self.saved):
            try:
                await self.delete(checkpoint_id)
            except Exception as exc:  # noqa: BLE001 - report, keep undoing the rest
                log.warning("agent-framework target: cannot remove checkpoint %s: %s",
                            checkpoint_id, exc)
        self.saved.clear()

    async def prune(self, keep: int) -> None:
        """Keep only the newest ``keep`` checkpoints (``0`` keeps all)."""
        if keep <= 0:
            return
        try:
            for old in (await self.ids_oldest_first())[:-keep]:
                await self.delete(old)
        except Exception as exc:  # noqa: BLE001 - pruning is housekeeping
            log.warning("agent-framework target: pruning checkpoints failed: %s", exc)


class StoreCheckpoints(TurnCheckpoints):
    """One conversation's checkpoints as records of the host's store.

    A record's key is ``<conversation>/<checkpoint id>`` in :data:`NAMESPACE`
    (``<conversation>`` hashes the session key, which holds the isolation
    scope); its value keeps the session key too, so ``hostline sessions
    erase`` finds it, and the timestamp and parent, so ordering and pruning
    decode nothing.
    """

    def __init__(self, store: hostline.Store, conversation: str, session_key: str,
                 allowed_checkpoint_types: Sequence[str] = ()) -> None:
        super().__init__()
        self._store = store
        self._prefix = conversation + "/"
        self._session_key = session_key
        self._allowed = frozenset(allowed_checkpoint_types)

    def __repr__(self) -> str:
        return f"<StoreCheckpoints {self._prefix[:-1]}>"

    async def save(self, checkpoint: af.WorkflowCheckpoint) -> str:
        """Store a checkpoint, refusing one that could not be restored."""
        try:
            encoded = encode_checkpoint_value(checkpoint.to_dict())
            decode_checkpoint_value(encoded, allowed_types=self._allowed)
        except af.WorkflowCheckpointException:
            raise
        except Exception as exc:
            raise af.WorkflowCheckpointException(
                f"Checkpoint {checkpoint.checkpoint_id} cannot be encoded or restored under "
                "the allowed checkpoint types; refusing to save.") from exc
        record = {"session": self._session_key, "workflow": checkpoint.workflow_name,
                  "timestamp": checkpoint.timestamp,
                  "previous": checkpoint.previous_checkpoint_id, "checkpoint": encoded}
        await self._store.kv_put(NAMESPACE, self._prefix + checkpoint.checkpoint_id, record)
        self.saved.append(checkpoint.checkpoint_id)
        return checkpoint.checkpoint_id

    async def load(self, checkpoint_id: str) -> af.WorkflowCheckpoint:
        """One checkpoint of this conversation."""
        record = await self._store.kv_get(NAMESPACE, self._prefix + checkpoint_id)
        if record is None:
            raise af.WorkflowCheckpointException(f"No checkpoint found with ID {checkpoint_id}")
        return self._decode(checkpoint_id, record)

    def _decode(self, checkpoint_id: str, record: Any) -> af.WorkflowCheckpoint:
        if not isinstance(record, dict) or "checkpoint" not in record:
            raise af.WorkflowCheckpointException(
                f"Checkpoint record {checkpoint_id} is not a checkpoint")
        data = decode_checkpoint_value(record["checkpoint"], allowed_types=self._allowed)
        if not isinstance(data, dict):
            raise af.WorkflowCheckpointException(
                f"Checkpoint record {checkpoint_id} is not a checkpoint")
        return af.WorkflowCheckpoint.from_dict(data)

    async def _records(self) -> list[tuple[str, dict[str, Any]]]:
        """``(checkpoint id, record)`` oldest first (records that are not
        dicts sort first, so pruning removes them)."""
        records: list[tuple[str, Any]] = []
        after: str | None = None
        while True:
            page = await self._store.kv_list(NAMESPACE, prefix=self._prefix, limit=200,
                                             after=after)
            records += page
            if len(page) < 200:
                break
            after = page[-1][0]
        rows = [(key[len(self._prefix):], rec if isinstance(rec, dict) else {})
                for key, rec in records]
        return oldest_first(rows, lambda r: (str(r[1].get("timestamp", "")), r[0],
                                             r[1].get("previous")))

    async def ids_oldest_first(self) -> list[str]:
        return [checkpoint_id for checkpoint_id, _ in await self._records()]

    async def latest(self) -> af.WorkflowCheckpoint | None:
        for checkpoint_id, record in reversed(await self._records()):
            try:
                return self._decode(checkpoint_id, record)
            except Exception as exc:  # noqa: BLE001 - skip what cannot be read
                _skip_unreadable(checkpoint_id, exc)
        return None

    async def delete(self, checkpoint_id: str) -> bool:
        """Delete one checkpoint; ``True`` if it existed."""
        return await self._store.kv_delete(NAMESPACE, self._prefix + checkpoint_id)

    async def list_checkpoints(self, *, workflow_name: str) -> list[af.WorkflowCheckpoint]:
        """This conversation's readable checkpoints of ``workflow_name``, oldest first."""
        out = []
        for checkpoint_id, record in await self._records():
            if record.get("workflow") != workflow_name:
                continue
            try:
                out.append(self._decode(checkpoint_id, record))
            except Exception as exc:  # noqa: BLE001 - skip what cannot be read
                _skip_unreadable(checkpoint_id, exc)
        return out

    async def get_latest(self, *, workflow_name: str) -> af.WorkflowCheckpoint | None:
        """The newest readable checkpoint of ``workflow_name``."""
        checkpoints = await self.list_checkpoints(workflow_name=workflow_name)
        return checkpoints[-1] if checkpoints else None

    async def list_checkpoint_ids(self, *, workflow_name: str) -> list[str]:
        """Ids of :meth:`list_checkpoints`."""
        return [c.checkpoint_id for c in await self.list_checkpoints(workflow_name=workflow_name)]


class FileCheckpoints(af.FileCheckpointStorage, TurnCheckpoints):
    """One conversation's checkpoints as the files of one directory.

    The directory belongs to the conversation, so the workflow name is not
    used to filter (builders without ``name=`` get a random one per build).
    """

    def __init__(self, path: Any, allowed_checkpoint_types: Sequence[str] = ()) -> None:
        af.FileCheckpointStorage.__init__(
            self, path, allowed_checkpoint_types=list(allowed_checkpoint_types))
        TurnCheckpoints.__init__(self)

    async def save(self, checkpoint: af.WorkflowCheckpoint) -> str:
        """Write a checkpoint file and remember it for :meth:`discard_turn`."""
        checkpoint_id = await super().save(checkpoint)
        self.saved.append(checkpoint_id)
        return checkpoint_id

    async def _all(self) -> list[af.WorkflowCheckpoint]:
        out = []
        for path in self.storage_path.glob("*.json"):
            try:
                out.append(await self.load(path.stem))
            except Exception as exc:  # noqa: BLE001 - skip what cannot be read
                _skip_unreadable(path.name, exc)
        return oldest_first(out, lambda c: (c.timestamp, c.checkpoint_id,
                                            c.previous_checkpoint_id))

    async def latest(self) -> af.WorkflowCheckpoint | None:
        checkpoints = await self._all()
        return checkpoints[-1] if checkpoints else None

    async def ids_oldest_first(self) -> list[str]:
        return [c.checkpoint_id for c in await self._all()]

    async def delete(self, checkpoint_id: str) -> bool:
        """Delete one checkpoint file; ``True`` if it existed."""
        return await af.FileCheckpointStorage.delete(self, checkpoint_id)
