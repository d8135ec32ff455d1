"""Targets named by the cross-package tests' configs (``e2e_targets:recording``)."""

from __future__ import annotations

import hostline

CALLS: list[str] = []


async def recording(request: hostline.RunRequest) -> str:
    """Echo, remembering every input that reached the target."""
    CALLS.append(request.text)
    return request.text
