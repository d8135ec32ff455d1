"""The agent and workflow the tests serve (imported by name by the server
process, so it lives on PYTHONPATH rather than in conftest)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from agent_framework import (
    Agent,
    BaseChatClient,
    ChatResponse,
    ChatResponseUpdate,
    Executor,
    FunctionInvocationLayer,
    Message,
    Workflow,
    WorkflowBuilder,
    WorkflowContext,
    handler,
    response_handler,
)
from typing_extensions import Never


class EchoChatClient(FunctionInvocationLayer[Any], BaseChatClient[Any]):
    """A local chat client: it answers from the whole conversation it is sent,
    so a test can see what history the agent kept."""

    def _inner_get_response(self, *, messages: Sequence[Message], stream: bool,
                            options: Mapping[str, Any], **kwargs: Any) -> Any:
        users = [m.text for m in messages if m.role == "user"]
        earlier = ", ".join(users[:-1]) or "nothing"
        text = f"Turn {len(users)}: you said {users[-1]!r}; before that: {earlier}."
        if stream:
            async def updates() -> AsyncIterator[ChatResponseUpdate]:
                for piece in re.findall(r"\S+\s*", text):
                    yield ChatResponseUpdate(role="assistant",
                                             contents=[{"type": "text", "text": piece}])
            return self._build_response_stream(updates())

        async def whole() -> ChatResponse:
            return ChatResponse(messages=[Message(role="assistant", contents=[text])])
        return whole()


def build_agent() -> Agent:
    """The agent served in the tests."""
    return Agent(client=EchoChatClient(), name="echo-agent", instructions="Repeat things.")


class Intake(Executor):
    """Step 1: counts messages (executor state, checkpointed) and passes them on."""

    def __init__(self) -> None:
        super().__init__(id="intake")
        self.count = 0

    @handler
    async def take(self, text: str, ctx: WorkflowContext[str]) -> None:
        self.count += 1
        await ctx.send_message(f"{self.count}|{text}")

    async def on_checkpoint_save(self) -> dict[str, Any]:
        return {"count": self.count}

    async def on_checkpoint_restore(self, state: dict[str, Any]) -> None:
        self.count = int(state.get("count", 0))


class Greeter(Executor):
    """Step 2: asks for a name once (request for input), then greets by name."""

    def __init__(self) -> None:
        super().__init__(id="greeter")

    @handler
    async def greet(self, message: str, ctx: WorkflowContext[Never, str]) -> None:
        count, _, text = message.partition("|")
        if text == "crash":
            raise RuntimeError("secret internal detail")
        name = ctx.get_state("name")
        if name is None:
            ctx.set_state("first", text)
            await ctx.request_info("What is your name?", str)
        else:
            await ctx.yield_output(f"{name}, this is message {count}: {text}")

    @response_handler
    async def named(self, original_request: str, name: str,
                    ctx: WorkflowContext[Never, str]) -> None:
        ctx.set_state("name", name)
        first = ctx.get_state("first")
        await ctx.yield_output(f"Nice to meet you, {name}! You first said {first!r}.")


def build_workflow() -> Workflow:
    """The two-step workflow served in the tests (fresh executors per build)."""
    intake, greeter = Intake(), Greeter()
    return WorkflowBuilder(start_executor=intake, name="greeting").add_edge(intake, greeter).build()


SHARED_WORKFLOW = build_workflow()


BUILDER = WorkflowBuilder(start_executor=Intake())
NOT_AN_AGENT = 42


class Note:
    """An application type kept in checkpointed executor state: restoring it
    needs ``allowed_checkpoint_types``."""

    def __init__(self, text: str) -> None:
        self.text = text


class Notebook(Executor):
    """One step that remembers every message as a :class:`Note`."""

    def __init__(self) -> None:
        super().__init__(id="notebook")
        self.notes: list[Note] = []

    @handler
    async def take(self, text: str, ctx: WorkflowContext[Never, str]) -> None:
        self.notes.append(Note(text))
        await ctx.yield_output(" / ".join(n.text for n in self.notes))

    async def on_checkpoint_save(self) -> dict[str, Any]:
        return {"notes": self.notes}

    async def on_checkpoint_restore(self, state: dict[str, Any]) -> None:
        self.notes = list(state.get("notes", []))


def build_notebook() -> Workflow:
    """A workflow whose checkpoints hold an application type."""
    return WorkflowBuilder(start_executor=Notebook(), name="notebook").build()
