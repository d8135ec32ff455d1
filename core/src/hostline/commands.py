"""Chat commands: what a command is, what its handler gets, and how text is read as one.

Commands come from the ``hostline_commands`` hook (the built-ins are the
default plugin's); :meth:`hostline.Host.dispatch_command` runs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from .host import Host
    from .types import Identity, IsolationKeys

__all__ = ["Command", "CommandContext", "parse_command"]


@attrs.frozen
class CommandContext:
    """What a command handler gets."""

    host: Host
    channel: str
    scope: str
    identity: Identity | None
    args: str
    isolation: IsolationKeys


@attrs.frozen
class Command:
    """A chat command: ``/name args``. ``handler(ctx)`` returns the reply text.

    Only people the channel's allowlists allow may run a command, unless it
    is ``public`` (``/start``, ``/help`` and ``/link`` are: a person who must
    link first has to be able to).
    """

    name: str
    description: str
    handler: Any
    public: bool = False


def parse_command(text: str, bot_username: str | None = None) -> tuple[str, str] | None:
    """``(name, args)`` of ``/name args`` (name lower-cased, args stripped), or ``None``.

    ``/name@bot`` is read when ``bot`` is ``bot_username``, and is not a
    command for this bot (``None``) when it names another one.
    """
    if not text.startswith("/"):
        return None
    head, _, args = text[1:].partition(" ")
    name, _, target_bot = head.partition("@")
    if not name or (target_bot and bot_username
                    and target_bot.lower() != bot_username.lower()):
        return None
    return name.lower(), args.strip()
