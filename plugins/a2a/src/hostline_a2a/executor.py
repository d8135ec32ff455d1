"""The agent executor: one A2A message is one hostline turn.

``contextId`` is the hostline session (per caller and isolation scope), so a
later message with the same context id sees the history. The answer is one
``text/plain`` artifact; a streaming target's deltas go out as appended
artifact chunks, so ``message/stream`` subscribers see the text grow.
"""

from __future__ import annotations

import logging

from a2a.helpers.proto_helpers import new_task, new_text_message, new_text_part
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.tasks.task_updater import TaskUpdater
from a2a.types.a2a_pb2 import Message as A2AMessage
from a2a.types.a2a_pb2 import Role, TaskState

from hostline import Host, Identity, IsolationKeys, Message, Reject

from .stores import IDENTITY, ISOLATION, Tasks

__all__ = ["HostlineExecutor"]

log = logging.getLogger("hostline.a2a")

ANSWER = "answer"


class HostlineExecutor(AgentExecutor):
    """Runs the host's target for each A2A message."""

    def __init__(self, host: Host, channel: str, tasks: Tasks) -> None:
        self.host = host
        self.channel = channel
        self.tasks = tasks

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        """Run one turn, publishing the task, its artifact chunks and its final state."""
        state = context.call_context.state
        identity = state.get(IDENTITY)
        iso = state.get(ISOLATION)
        if not isinstance(identity, Identity):
            raise RuntimeError("unauthenticated call reached the executor")
        task_id, context_id = str(context.task_id), str(context.context_id)
        async with self.tasks.running(task_id):
            await self._execute(context, event_queue, identity, iso, task_id, context_id)

    async def _execute(self, context: RequestContext, event_queue: EventQueue,
                       identity: Identity, iso: object, task_id: str, context_id: str) -> None:
        if context.current_task is None:
            await event_queue.enqueue_event(
                new_task(task_id, context_id, TaskState.TASK_STATE_SUBMITTED,
                         history=[context.message] if context.message else None))
        updater = TaskUpdater(event_queue, task_id, context_id)
        text = context.get_user_input()
        if not text.strip():
            await updater.reject(self._message("The message has no text.", updater))
            return
        try:
            turn = await self.host.begin_turn(
                channel=self.channel, scope=f"{identity.native_id}:{context_id}",
                input=[Message.user(text)], identity=identity,
                isolation=iso if isinstance(iso, IsolationKeys) else IsolationKeys())
        except Reject as exc:
            await updater.reject(self._message(exc.reply or "Not allowed.", updater))
            return
        await updater.start_work()
        chunks = 0
        try:
            async for update in turn.stream():
                if update.delta:
                    await updater.add_artifact([new_text_part(update.delta)], artifact_id=ANSWER,
                                               name=ANSWER, append=chunks > 0, last_chunk=False)
                    chunks += 1
        except Exception as exc:  # the target's failure ends the task as failed
            log.warning("a2a task %s: the target failed: %s", task_id, type(exc).__name__,
                        exc_info=exc)
            await updater.failed(self._message("The agent failed while answering.", updater))
            return
        reply = turn.reply
        answer = "\n\n".join(m.text for m in (reply.messages if reply else ()) if m.text)
        # The final artifact is the answer after response hooks (the chunks were the draft).
        await updater.add_artifact([new_text_part(answer)], artifact_id=ANSWER, name=ANSWER,
                                   append=False, last_chunk=True)
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        """The running turn was cancelled by the framework; mark the task cancelled."""
        updater = TaskUpdater(event_queue, str(context.task_id), str(context.context_id))
        await updater.cancel()

    @staticmethod
    def _message(text: str, updater: TaskUpdater) -> A2AMessage:
        return new_text_message(text, context_id=updater.context_id, task_id=updater.task_id,
                                role=Role.ROLE_AGENT)
