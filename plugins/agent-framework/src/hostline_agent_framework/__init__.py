"""hostline target for Microsoft Agent Framework agents and workflows.

Enable it with ``target = "agent-framework"`` in ``[host]`` and name your
factory in ``[host.target_options]``::

    [host.target_options]
    factory = "myapp.bot:build_agent"   # or a function building a Workflow
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import agent_framework as af

import hostline

from ._agent import AgentTarget
from ._workflow import WorkflowTarget, WorkflowTargetError, conversation_id

__all__ = [
    "AgentTarget",
    "WorkflowTarget",
    "WorkflowTargetError",
    "agent_framework_target",
    "conversation_id",
]

log = logging.getLogger("hostline.agent_framework")


def _import(spec: str) -> Any:
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"'factory' must look like 'package.module:attr', not {spec!r}")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def _is_agent(obj: Any) -> bool:
    return isinstance(obj, af.SupportsAgentRun) or (
        callable(getattr(obj, "run", None)) and callable(getattr(obj, "create_session", None)))


def agent_framework_target(
    *,
    factory: str,
    state_dir: str | Path | None = None,
    store: hostline.Store | None = None,
    checkpoint_dir: str | Path | None = None,
    checkpoints: bool = True,
    keep_checkpoints: int = 10,
    allowed_checkpoint_types: Sequence[str] = (),
) -> AgentTarget | WorkflowTarget:
    """Entry-point factory (``target = "agent-framework"``).

    ``factory`` names (``module:attr``) an agent, or a function returning an
    agent or a :class:`agent_framework.Workflow`. It is called once at
    start-up; when it returns a workflow it is called again for every turn,
    since a Workflow instance holds run state and must not be shared between
    conversations. hostline passes ``store`` (the host's store) and
    ``state_dir`` (its ``[host] state_dir``). Workflow checkpoints go to the
    store, so every replica on it resumes the same conversations; with
    ``checkpoint_dir`` they go to files there instead (a relative path is
    taken from ``state_dir``), as they do when there is no store.
    """
    if isinstance(keep_checkpoints, bool) or not isinstance(keep_checkpoints, int) \
            or keep_checkpoints < 0:
        raise ValueError("'keep_checkpoints' must be an integer >= 0 (0 keeps all)")
    if store is not None and not isinstance(store, hostline.Store):
        raise ValueError("'store' is the host's store; it is not a [host.target_options] key")
    obj = _import(factory)
    make: Callable[[], Any] | None = None
    if not (_is_agent(obj) or isinstance(obj, af.Workflow)) and callable(obj):
        make = obj
        obj = obj()
    if _is_agent(obj):
        return AgentTarget(obj)
    if isinstance(obj, af.WorkflowBuilder):
        raise ValueError(f"{factory} is a WorkflowBuilder: name a function that builds "
                         "and returns the workflow (executors created inside it)")
    if not isinstance(obj, af.Workflow):
        hint = (" (serve a functional workflow with .as_agent())"
                if type(obj).__name__ == "FunctionalWorkflow" else "")
        raise ValueError(f"{factory} gave {type(obj).__name__}; expected an agent or a "
                         f"Workflow, or a function returning one{hint}")
    root = (_checkpoint_root(state_dir, checkpoint_dir)
            if checkpoints and (checkpoint_dir is not None or store is None) else None)
    where: dict[str, Any] = {"checkpoint_root": root,
                             "checkpoint_store": store if checkpoints else None,
                             "keep_checkpoints": keep_checkpoints,
                             "allowed_checkpoint_types": allowed_checkpoint_types}
    if make is None:
        log.warning("agent-framework target: %s is a Workflow instance, shared by every "
                    "conversation: turns run one at a time and in-memory executor state "
                    "carries over between conversations. Name a function that builds the "
                    "workflow instead.", factory)
        shared = obj
        return WorkflowTarget(lambda: shared, shared=True, **where)
    return WorkflowTarget(make, **where)


def _checkpoint_root(state_dir: str | Path | None, checkpoint_dir: str | Path | None) -> Path:
    base = Path(state_dir) if state_dir is not None else Path(".hostline")
    if checkpoint_dir is None:
        return base / "checkpoints"
    path = Path(checkpoint_dir)
    return path if path.is_absolute() else base / path
