"""The target the Responses channel tests serve (imported by the server process).

It answers by what the last input message asks for:

* ``__history__`` - JSON describing what it was given (history, roles,
  instructions, session state) and bumps ``state["turns"]``.
* ``__fail__`` - streams a little text, then raises.
* ``__forever__ NAME`` - streams ``tick`` until closed; writes ``NAME.started``
  and ``NAME.closed`` into ``$RESPONSES_TEST_MARKERS`` so a test can see that
  the stream was really closed (no task left running).
* ``__slow__ N`` - ``N`` deltas, 20 ms apart.
* anything else - ``echo: <text>`` in a few deltas.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

from hostline import RunRequest, RunResult, Usage


def _marker(name: str, what: str) -> None:
    root = os.environ.get("RESPONSES_TEST_MARKERS")
    if root:
        Path(root, f"{name}.{what}").write_text(what, encoding="utf-8")


class ScriptedTarget:
    """An object target with ``run`` and ``stream``."""

    async def run(self, request: RunRequest) -> RunResult:
        """Collect the stream."""
        text = "".join([d async for d in self.stream(request)])
        words = len(request.text.split())
        return RunResult.from_text(text, usage=Usage(words, len(text.split())))

    async def stream(self, request: RunRequest) -> AsyncIterator[str]:
        """Yield deltas as described in the module docstring."""
        # Commands are read from the last input message; echo uses all of it.
        text = request.input[-1].text if request.input else ""
        if text.startswith("__history__"):
            state = request.session.state
            state["turns"] = int(state.get("turns", 0)) + 1
            yield json.dumps({
                "history": [m.text for m in request.history],
                "roles": [m.role for m in (*request.history, *request.input)],
                "input": [m.text for m in request.input],
                "instructions": request.options.get("instructions"),
                "metadata": request.options.get("metadata"),
                "turns": state["turns"],
                "identity": request.identity.native_id if request.identity else None,
            })
        elif text.startswith("__fail__"):
            yield "partial "
            raise RuntimeError("the target exploded (token=hunter2)")
        elif text.startswith("__forever__"):
            name = text.split()[1] if len(text.split()) > 1 else "forever"
            _marker(name, "started")
            try:
                while True:
                    yield "tick "
                    await asyncio.sleep(0.01)
            finally:
                _marker(name, "closed")
        elif text.startswith("__slow__"):
            n = int(text.split()[1]) if len(text.split()) > 1 else 10
            for i in range(n):
                yield f"{i} "
                await asyncio.sleep(0.02)
        else:
            words = f"echo: {request.text}".split(" ")
            for i, word in enumerate(words):
                yield word if i == len(words) - 1 else word + " "


target = ScriptedTarget()
