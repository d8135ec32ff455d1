"""Serving an Agent Framework Workflow, checkpointed per conversation."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import agent_framework as af

import hostline

from ._checkpoints import FileCheckpoints, StoreCheckpoints, TurnCheckpoints
from ._convert import BadAnswer, answer_for, question_of, text_of, to_af_messages
from ._locks import KeyedLocks

__all__ = ["WorkflowTarget", "WorkflowTargetError"]

log = logging.getLogger("hostline.agent_framework")


class WorkflowTargetError(hostline.HostlineError):
    """The workflow failed; the message names the step, not its internals."""


class WorkflowTarget:
    """A hostline target running an ``agent_framework.Workflow``.

    Every turn gets a fresh workflow from ``make`` (a Workflow instance holds
    run state, so instances are never shared between conversations), then:

    * if the conversation has checkpoints, the latest one is restored first
      (blocking and streaming runs alike);
    * if that checkpoint waits for input (``ctx.request_info``), the
      person's message is the answer and the workflow resumes;
    * otherwise the message is sent to the start executor;
    * outputs (``ctx.yield_output``) become the reply, and a new request for
      input is asked as the reply's question.

    Checkpoints go to ``checkpoint_store`` (the host's store: every replica
    sees them), or, when ``checkpoint_root`` is set, to files under
    ``checkpoint_root/<user key>/<chat key>/<conversation>``, where the
    isolation keys are checked with :func:`hostline.safe_state_path` (an
    invalid key logs a WARNING and the turn runs without checkpoints).
    ``<conversation>`` is a hash of the hostline session key, so ``/new``
    starts from scratch. Only the newest ``keep_checkpoints`` of a
    conversation are kept (0 keeps all). With neither, turns run without
    checkpoints.
    """

    kind = "workflow"

    def __init__(self, make: Callable[[], Any], *, checkpoint_root: Path | None = None,
                 checkpoint_store: hostline.Store | None = None,
                 keep_checkpoints: int = 10,
                 allowed_checkpoint_types: Sequence[str] = (),
                 shared: bool = False) -> None:
        self._make = make
        self.checkpoint_root = checkpoint_root
        self.checkpoint_store = checkpoint_store if checkpoint_root is None else None
        self.keep_checkpoints = keep_checkpoints
        self.allowed_checkpoint_types = list(allowed_checkpoint_types)
        # A single shared instance (not a factory) can run one turn at a time.
        self._shared = shared
        self._locks = KeyedLocks()

    def __repr__(self) -> str:
        where = self.checkpoint_root or ("store" if self.checkpoint_store else None)
        return f"<WorkflowTarget checkpoints={where}>"

    # where checkpoints live -----------------------------------------------------
    def checkpoint_dir(self, request: hostline.RunRequest) -> Path | None:
        """Where this conversation's checkpoint files live; ``None`` if they are
        not files. Raises :class:`hostline.InvalidIsolationKey` for a key that
        cannot be a directory name."""
        if self.checkpoint_root is None:
            return None
        path = self.checkpoint_root
        for key in (request.isolation.user, request.isolation.chat):
            if key is not None:
                path = hostline.safe_state_path(path, key)
        return path / conversation_id(request.session.key)

    def _storage(self, request: hostline.RunRequest) -> TurnCheckpoints | None:
        if self.checkpoint_store is not None:
            return StoreCheckpoints(self.checkpoint_store, conversation_id(request.session.key),
                                    request.session.key, self.allowed_checkpoint_types)
        try:
            path = self.checkpoint_dir(request)
        except hostline.InvalidIsolationKey as exc:
            log.warning("agent-framework target: isolation key unusable for checkpoints (%s); "
                        "this turn runs without checkpointing", exc)
            return None
        if path is None:
            return None
        try:
            return FileCheckpoints(path, self.allowed_checkpoint_types)
        except OSError as exc:
            log.warning("agent-framework target: cannot create the checkpoint directory (%s); "
                        "this turn runs without checkpointing", exc)
            return None

    # runs ---------------------------------------------------------------------
    async def run(self, request: hostline.RunRequest) -> hostline.RunResult:
        """Run one turn to completion."""
        parts = [p async for p in self._turn(request, streaming=False)]
        return hostline.RunResult.from_text("".join(parts))

    async def stream(self, request: hostline.RunRequest) -> AsyncIterator[str]:
        """Run one turn, yielding output text as the workflow produces it."""
        async for part in self._turn(request, streaming=True):
            yield part

    async def _turn(self, request: hostline.RunRequest, *, streaming: bool
                    ) -> AsyncIterator[str]:
        key = "shared" if self._shared else request.session.key
        async with self._locks.hold(key):
            storage = self._storage(request)
            done = False
            try:
                async for part in self._run_turn(request, storage, streaming):
                    yield part
                done = True
            finally:
                if storage is not None:
                    if not done:
                        # A failed, cancelled or abandoned run leaves no checkpoint.
                        await storage.discard_turn()
                    await storage.prune(self.keep_checkpoints)

    async def _run_turn(self, request: hostline.RunRequest,
                        storage: TurnCheckpoints | None,
                        streaming: bool) -> AsyncIterator[str]:
        workflow = self._make()
        latest = await storage.latest() if storage is not None else None
        run: Any
        if latest is not None and latest.pending_request_info_events:
            request_id, pending = next(iter(latest.pending_request_info_events.items()))
            try:
                answer = answer_for(pending, request.text)
            except BadAnswer as exc:
                yield f"{exc}\n\n{question_of(pending)}"
                return
            run = workflow.run(responses={request_id: answer},
                               checkpoint_id=latest.checkpoint_id,
                               checkpoint_storage=storage, stream=streaming)
        else:
            if latest is not None:
                restored = await self._restore(workflow, latest, storage)
                if restored is None:
                    workflow = self._make()  # a failed restore may leave partial state
                else:
                    # Normally an idle checkpoint restores silently. One left by a
                    # crash mid-run finishes its work now: show what it produced,
                    # and if it ends up asking a question, ask that first.
                    reader = _Reader()
                    parts = [p for event in restored for p in reader.feed(event)]
                    if parts or reader.questions:
                        yield "".join(parts) + ("\n\n" if parts and reader.questions else "") \
                            + "\n\n".join(reader.questions)
                    if reader.questions:
                        return
            run = workflow.run(self._message(workflow, request), checkpoint_storage=storage,
                               stream=streaming)
        async for part in _texts(run, streaming):
            yield part

    async def _restore(self, workflow: Any, checkpoint: Any,
                       storage: TurnCheckpoints | None) -> list[Any] | None:
        """Restore ``checkpoint``; the events of finishing it, or ``None`` if it failed."""
        try:
            return list(await workflow.run(checkpoint_id=checkpoint.checkpoint_id,
                                           checkpoint_storage=storage))
        except Exception as exc:  # noqa: BLE001 - an unusable checkpoint starts afresh
            log.warning("agent-framework target: cannot restore checkpoint %s (%s: %s); "
                        "starting a new run", checkpoint.checkpoint_id, type(exc).__name__, exc)
            return None

    @staticmethod
    def _message(workflow: Any, request: hostline.RunRequest) -> Any:
        """The input for the start executor: text if it takes ``str``, else messages."""
        accepts = getattr(workflow, "input_types", None) or []
        if not accepts or str in accepts or any(t in (Any, object) for t in accepts):
            return request.text
        messages = to_af_messages(request.input)
        if af.Message in accepts and len(messages) == 1:
            return messages[0]
        return messages


async def _texts(run: Any, streaming: bool) -> AsyncIterator[str]:
    """Text of the outputs of a workflow run, then the question it asks, if any."""
    reader = _Reader()
    try:
        if streaming:
            async for event in run:
                for part in reader.feed(event):
                    yield part
        else:
            for event in await run:
                for part in reader.feed(event):
                    yield part
    except WorkflowTargetError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure of the workflow is reported alike
        raise reader.failure(exc) from None
    if reader.questions:
        yield ("\n\n" if reader.emitted else "") + "\n\n".join(reader.questions)


class _Reader:
    """Turns workflow events into reply text."""

    def __init__(self) -> None:
        self.questions: list[str] = []
        self.emitted = False
        self.failed_step: str | None = None

    def feed(self, event: Any) -> list[str]:
        kind = getattr(event, "type", None)
        if kind == "output":
            data = event.data
            text = text_of(data)
            if not text:
                return []
            # A streamed agent delta is glued as is; whole outputs are paragraphs.
            glue = "" if isinstance(data, af.AgentResponseUpdate) or not self.emitted \
                else "\n\n"
            self.emitted = True
            return [glue + text]
        if kind == "request_info":
            self.questions.append(question_of(event))
        elif kind == "executor_failed":
            self.failed_step = getattr(event, "executor_id", None) or self.failed_step
        elif kind == "failed":
            details = getattr(event, "details", None)
            raise self.failure(None, getattr(details, "error_type", None),
                               getattr(details, "message", None),
                               getattr(details, "executor_id", None))
        return []

    def failure(self, exc: BaseException | None, error_type: str | None = None,
                message: str | None = None, step: str | None = None) -> WorkflowTargetError:
        step = step or self.failed_step
        error_type = error_type or (type(exc).__name__ if exc is not None else "error")
        # The details go to the operator's log; the person gets the step and the kind.
        log.error("agent-framework target: workflow failed%s: %s: %s",
                  f" in step {step!r}" if step else "", error_type,
                  message if message is not None else exc)
        where = f" in step {step!r}" if step else ""
        return WorkflowTargetError(f"the workflow failed{where} ({error_type})")


def conversation_id(session_key: str) -> str:
    """A directory name for a conversation: a hash of its hostline session key
    (which already includes the isolation scope and changes on ``/new``)."""
    return hashlib.sha256(session_key.encode("utf-8", "surrogatepass")).hexdigest()[:32]
