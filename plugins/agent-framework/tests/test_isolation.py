"""Property: no isolation key puts a checkpoint outside the checkpoint root."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostline import InvalidIsolationKey, IsolationKeys, Message, RunRequest, Session
from hostline_agent_framework import agent_framework_target, conversation_id

HOSTILE = ["", ".", "..", "...", "../x", "../../etc", "a/b", "/abs", "\\\\server\\share",
           "C:\\x", "C:", "con", "NUL.txt", "a\x00b", " x", "x.", "x ", "\uff0e\uff0e", "a\uff0fb",
           "a\\b", "\u202e", "x" * 300, "é" * 150, "~", "$HOME", "a:b", "\n", "..\u2024"]
keys = st.none() | st.sampled_from(HOSTILE) | st.text(max_size=40) | st.text(
    st.sampled_from("./\\:ab \x00\uff0e"), max_size=8)


def _request(user: str | None, chat: str | None, scope: str = "s") -> RunRequest:
    iso = IsolationKeys(user, chat)
    return RunRequest((Message.user("hello"),), session=Session(f"{iso.scope}|test|{scope}"),
                      isolation=iso)


@settings(max_examples=500, deadline=None)
@given(user=keys, chat=keys, scope=st.text(max_size=20))
def test_checkpoint_dir_stays_inside_its_root(user, chat, scope):
    with tempfile.TemporaryDirectory() as tmp:
        target = agent_framework_target(factory="hostline_af_testapp:build_workflow",
                                        state_dir=tmp)
        root = target.checkpoint_root
        request = _request(user, chat, scope)
        try:
            path = target.checkpoint_dir(request)
        except InvalidIsolationKey:
            return
        resolved, base = path.resolve(), root.resolve()
        assert resolved.is_relative_to(base) and resolved != base
        parts = [k for k in (user, chat) if k is not None]
        assert path == root.joinpath(*parts, conversation_id(request.session.key))


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(user=keys, chat=keys)
def test_real_runs_write_only_inside_the_root(user, chat):
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        state = base / "state"
        target = agent_framework_target(factory="hostline_af_testapp:build_workflow",
                                        state_dir=state)
        result = asyncio.run(target.run(_request(user, chat)))
        assert result.text == "What is your name?"  # the run succeeds either way
        root = target.checkpoint_root.resolve()
        written = [p for p in base.rglob("*") if p.is_file()]
        assert all(p.resolve().is_relative_to(root) for p in written)
