"""What a person said of an answer: :class:`Feedback`, handed to the
``hostline_feedback`` hook by channels with feedback buttons."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Literal

import attrs

from .types import Identity

__all__ = ["Feedback"]


def _freeze(value: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(value or {})


@attrs.frozen
class Feedback:
    """A person rated one answer (a thumbs-up / thumbs-down button under it).

    ``rating`` is ``"positive"`` or ``"negative"``. ``answer`` is the text of
    the answer the click refers to and ``message_id`` its channel-native id
    (a Slack ``ts``, a Discord message id); ``run_id`` is the hostline run
    that produced it when the channel knows it. ``scope`` is the
    conversation's session scope on ``channel`` (the instance name).
    ``comment`` is free text when the channel collects one; ``extra`` holds
    channel-specific details (Slack ``team_id``, ``channel_id``...).
    """

    channel: str
    rating: Literal["positive", "negative"]
    answer: str = ""
    message_id: str = ""
    identity: Identity | None = None
    scope: str | None = None
    run_id: str | None = None
    comment: str | None = None
    extra: dict[str, Any] = attrs.field(factory=dict, converter=_freeze, eq=False, hash=False)
    at: float = attrs.field(factory=time.time)

    @property
    def positive(self) -> bool:
        """Whether the rating is a thumbs-up."""
        return self.rating == "positive"
