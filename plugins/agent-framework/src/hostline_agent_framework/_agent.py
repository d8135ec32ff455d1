"""Serving an Agent Framework agent: its session lives in the hostline session."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import agent_framework as af

import hostline

from ._convert import text_of, to_af_messages, usage_of
from ._locks import KeyedLocks

__all__ = ["AgentTarget"]

log = logging.getLogger("hostline.agent_framework")

STATE_KEY = "agent_framework"


class AgentTarget:
    """A hostline target wrapping an agent (``agent_framework.Agent`` or
    anything with ``run(messages, stream=, session=)`` and ``create_session()``).

    The agent's :class:`agent_framework.AgentSession` (its conversation
    history when the agent keeps it in memory, or the service's conversation
    id) is serialised with ``AgentSession.to_dict()`` into
    ``request.session.state["agent_framework"]["session"]``, which hostline
    persists with the conversation: it survives restarts and ``/new`` starts
    a fresh one. hostline's own ``request.history`` is therefore not sent.
    """

    kind = "agent"

    def __init__(self, agent: Any) -> None:
        self.agent = agent
        self._locks = KeyedLocks()

    def __repr__(self) -> str:
        return f"<AgentTarget {getattr(self.agent, 'name', None) or type(self.agent).__name__}>"

    async def run(self, request: hostline.RunRequest) -> hostline.RunResult:
        """Run the agent to completion."""
        async with self._locks.hold(request.session.key):
            session = self._load(request)
            response = await self.agent.run(to_af_messages(request.input), session=session)
            self._save(request, session)
        return hostline.RunResult.from_text(text_of(response), usage=usage_of(response))

    async def stream(self, request: hostline.RunRequest) -> AsyncIterator[str]:
        """Stream the agent's text deltas."""
        async with self._locks.hold(request.session.key):
            session = self._load(request)
            stream = self.agent.run(to_af_messages(request.input), stream=True, session=session)
            async for update in stream:
                text = text_of(update)
                if text:
                    yield text
            # Finalising runs the agent's after-run hooks (the history
            # provider stores the turn in the session), so it comes before saving.
            finalize = getattr(stream, "get_final_response", None)
            if callable(finalize):
                await finalize()
            self._save(request, session)

    def _load(self, request: hostline.RunRequest) -> Any:
        stored = request.session.state.get(STATE_KEY)
        data = stored.get("session") if isinstance(stored, dict) else None
        if isinstance(data, dict):
            try:
                return af.AgentSession.from_dict(data)
            except Exception as exc:  # noqa: BLE001 - a bad row must not break the chat
                log.warning("agent-framework target: stored agent session for %s cannot be "
                            "restored (%s: %s); starting a new one", request.session.key,
                            type(exc).__name__, exc)
        return self.agent.create_session()

    def _save(self, request: hostline.RunRequest, session: Any) -> None:
        try:
            data = session.to_dict()
            json.dumps(data)  # the host stores JSON: refuse anything else here
        except (TypeError, ValueError) as exc:
            log.warning("agent-framework target: agent session state is not JSON-serialisable "
                        "(%s); it is not saved", exc)
            return
        request.session.state[STATE_KEY] = {"session": data}
