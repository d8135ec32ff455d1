"""A2A tasks and push-notification configs in hostline's store.

Tasks are kept per owner (the caller's identity within its isolation scope),
so any replica on the same store serves ``tasks/get`` for them and they
survive a restart. Push configs are kept per task, with their owner, so the
dispatch path finds every webhook of a task without a caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from a2a.helpers.proto_helpers import new_text_message
from a2a.server.context import ServerCallContext
from a2a.server.tasks.push_notification_config_store import (
    PushNotificationConfigStore,
    normalize_push_notification_config,
)
from a2a.server.tasks.task_store import TaskStore
from a2a.types.a2a_pb2 import (
    ListTasksRequest,
    ListTasksResponse,
    Role,
    Task,
    TaskPushNotificationConfig,
    TaskState,
)
from a2a.utils.constants import DEFAULT_LIST_TASKS_PAGE_SIZE
from a2a.utils.task import ListTasksCursor, decode_list_tasks_cursor, encode_list_tasks_cursor
from google.protobuf.json_format import MessageToDict, ParseDict, ParseError

from hostline import Host, Identity, IsolationKeys

__all__ = ["IDENTITY", "ISOLATION", "PushConfigs", "Tasks", "owner_of"]

log = logging.getLogger("hostline.a2a")

#: ``ServerCallContext.state`` keys the channel fills from the authenticated request.
IDENTITY = "hostline.identity"
ISOLATION = "hostline.isolation"


def owner_of(host: Host, context: ServerCallContext) -> str:
    """The owner partition of a call: isolation scope + the caller's identity key."""
    identity = context.state.get(IDENTITY)
    iso = context.state.get(ISOLATION)
    key = identity.key if isinstance(identity, Identity) else "-"
    return host.scoped(key, iso if isinstance(iso, IsolationKeys) else IsolationKeys())


def _sort_key(task: Task) -> tuple[bool, int, str]:
    has = task.HasField("status") and task.status.HasField("timestamp")
    return has, task.status.timestamp.ToNanoseconds() if has else 0, task.id


_OPEN = (TaskState.TASK_STATE_SUBMITTED, TaskState.TASK_STATE_WORKING)


class Tasks(TaskStore):
    """:class:`a2a.server.tasks.TaskStore` on hostline's key-value store.

    A task being worked on has a *live* record, renewed by the process running
    it (:meth:`running`). A stored task that is still submitted or working
    but has no live record and was not saved for a lease period belongs to a
    process that died: it is read (and stored) as failed, so a client polling
    ``tasks/get`` after a crash gets an answer instead of waiting forever.
    """

    def __init__(self, host: Host, ns: str, ttl: float, lease: float = 30.0) -> None:
        self.host = host
        self.ns = ns
        self.ttl = ttl
        #: Seconds a live record lasts without renewal.
        self.lease = lease

    @contextlib.asynccontextmanager
    async def running(self, task_id: str) -> AsyncIterator[None]:
        """Keep ``task_id``'s live record while the body runs."""
        key = f"live:{task_id}"

        async def renew() -> None:
            while True:
                await asyncio.sleep(self.lease / 3)
                await self.host.store.kv_put(self.ns, key, 1, ttl=self.lease)

        await self.host.store.kv_put(self.ns, key, 1, ttl=self.lease)
        renewer = asyncio.create_task(renew())
        try:
            yield
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            await asyncio.shield(self.host.store.kv_delete(self.ns, key))

    async def _settle(self, raw: Any, key: str) -> Task | None:
        """The stored task, failed if its process died while working on it."""
        task = self._parse(raw)
        if task is None or task.status.state not in _OPEN:
            return task
        saved = raw.get("at") if isinstance(raw, dict) else None
        if isinstance(saved, (int, float)) and time.time() - saved < self.lease:
            return task
        if await self.host.store.kv_get(self.ns, f"live:{task.id}") is not None:
            return task
        task.status.state = TaskState.TASK_STATE_FAILED
        task.status.message.CopyFrom(new_text_message(
            "The task was interrupted by a server restart.", context_id=task.context_id,
            task_id=task.id, role=Role.ROLE_AGENT))
        task.status.timestamp.GetCurrentTime()
        await self.host.store.kv_put(self.ns, key, self._record(task), ttl=self.ttl)
        log.info("a2a task %s was interrupted by a restart; marked failed", task.id)
        return task

    @staticmethod
    def _record(task: Task) -> dict[str, Any]:
        return {"task": MessageToDict(task), "at": time.time()}

    def _key(self, owner: str, task_id: str) -> str:
        return f"{owner}|task:{task_id}"

    async def save(self, task: Task, context: ServerCallContext) -> None:
        """Store ``task`` for the caller (replacing the previous version)."""
        await self.host.store.kv_put(self.ns, self._key(owner_of(self.host, context), task.id),
                                     self._record(task), ttl=self.ttl)

    async def get(self, task_id: str, context: ServerCallContext) -> Task | None:
        """The caller's task ``task_id``, if there is one."""
        key = self._key(owner_of(self.host, context), task_id)
        return await self._settle(await self.host.store.kv_get(self.ns, key), key)

    @staticmethod
    def _parse(raw: Any) -> Task | None:
        if not isinstance(raw, dict) or not isinstance(raw.get("task"), dict):
            return None
        try:
            task: Task = ParseDict(raw["task"], Task(), ignore_unknown_fields=True)
            return task
        except (ParseError, ValueError, TypeError):
            log.warning("a stored A2A task does not parse; ignored")
            return None

    async def delete(self, task_id: str, context: ServerCallContext) -> None:
        """Forget the caller's task ``task_id``."""
        await self.host.store.kv_delete(self.ns, self._key(owner_of(self.host, context), task_id))

    async def list(self, params: ListTasksRequest,
                   context: ServerCallContext) -> ListTasksResponse:
        """The caller's tasks, newest first, filtered and paged as ``tasks/list`` asks."""
        prefix = f"{owner_of(self.host, context)}|task:"
        tasks: list[Task] = []
        after: str | None = None
        while True:
            rows = await self.host.store.kv_list(self.ns, prefix, limit=500, after=after)
            for key, raw in rows:
                task = await self._settle(raw, key)
                if task is not None:
                    tasks.append(task)
                after = key
            if len(rows) < 500:
                break
        if params.context_id:
            tasks = [t for t in tasks if t.context_id == params.context_id]
        if params.status:
            tasks = [t for t in tasks if t.status.state == params.status]
        if params.HasField("status_timestamp_after"):
            since = params.status_timestamp_after.ToNanoseconds()
            tasks = [t for t in tasks if t.status.timestamp.ToNanoseconds() >= since]
        tasks.sort(key=_sort_key, reverse=True)
        total = len(tasks)
        start = 0
        if params.page_token:
            cursor = decode_list_tasks_cursor(params.page_token)
            if cursor is not None:
                mark = cursor.sort_key()
                start = next((i for i, t in enumerate(tasks) if _sort_key(t) < mark), total)
        size = params.page_size or DEFAULT_LIST_TASKS_PAGE_SIZE
        end = start + size
        token = None
        if end < total:
            last = tasks[end - 1]
            has, ns_, tid = _sort_key(last)
            token = encode_list_tasks_cursor(ListTasksCursor(timestamp_ns=ns_ if has else None,
                                                             task_id=tid))
        return ListTasksResponse(next_page_token=token, tasks=tasks[start:end],
                                 total_size=total, page_size=size)


class PushConfigs(PushNotificationConfigStore):
    """Push-notification configs on hostline's key-value store."""

    def __init__(self, host: Host, ns: str, ttl: float) -> None:
        self.host = host
        self.ns = ns
        self.ttl = ttl

    async def set_info(self, task_id: str, notification_config: TaskPushNotificationConfig,
                       context: ServerCallContext) -> TaskPushNotificationConfig:
        """Store (or replace) one config of ``task_id`` for the caller."""
        config = normalize_push_notification_config(task_id, notification_config)
        await self.host.store.kv_put(
            self.ns, f"push:{task_id}:{config.id}",
            {"owner": owner_of(self.host, context), "config": MessageToDict(config)},
            ttl=self.ttl)
        return config

    async def _all(self, task_id: str) -> list[tuple[str, TaskPushNotificationConfig]]:
        rows = await self.host.store.kv_list(self.ns, f"push:{task_id}:", limit=100)
        out = []
        for _, raw in rows:
            if not isinstance(raw, dict) or not isinstance(raw.get("config"), dict):
                continue
            try:
                config = ParseDict(raw["config"], TaskPushNotificationConfig(),
                                   ignore_unknown_fields=True)
            except (ParseError, ValueError, TypeError):
                log.warning("a stored A2A push config does not parse; ignored")
                continue
            out.append((str(raw.get("owner")), config))
        return out

    async def get_info(self, task_id: str,
                       context: ServerCallContext) -> list[TaskPushNotificationConfig]:
        """The caller's configs of ``task_id``."""
        owner = owner_of(self.host, context)
        return [c for o, c in await self._all(task_id) if o == owner]

    async def get_info_for_dispatch(self, task_id: str) -> list[TaskPushNotificationConfig]:
        """Every config of ``task_id`` (the dispatch path has no caller)."""
        return [c for _, c in await self._all(task_id)]

    async def delete_info(self, task_id: str, context: ServerCallContext,
                          config_id: str | None = None) -> None:
        """Delete the caller's config ``config_id`` of ``task_id`` (all of them if ``None``)."""
        owner = owner_of(self.host, context)
        for o, config in await self._all(task_id):
            if o == owner and (config_id is None or config.id == config_id):
                await self.host.store.kv_delete(self.ns, f"push:{task_id}:{config.id}")
