"""Slash commands: what the application registers, and registering it once.

The ask command (option ``text``) comes first, then every command the host
knows (built-ins and each plugin's ``hostline_commands``) whose name Discord
accepts. ``/link`` takes its code as the option ``code``; other plugin
commands take free text as ``args``. Registration is a bulk overwrite
(``PUT``), globally or for one guild, and only when what Discord has
differs, so restarts and several processes do not churn the commands.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import hostline

from .api import DiscordAPI
from .config import COMMAND_NAME
from .ratelimit import Route

log = logging.getLogger("hostline.discord")

__all__ = ["ARG_OPTIONS", "command_payloads", "register_commands"]

_STRING = 3  # application command option type
_CHAT_INPUT = 1
#: The free-text option of each command (``None``: the command takes none).
ARG_OPTIONS: dict[str, tuple[str, str] | None] = {
    "link": ("code", "The code shown by another channel (leave empty to get one)"),
    "help": None,
    "new": None,
    "unlink": None,
}
#: Telegram's greeting means nothing on Discord.
_SKIP = frozenset({"start"})


def _option(name: str, description: str, required: bool) -> dict[str, Any]:
    return {"type": _STRING, "name": name, "description": description[:100],
            "required": required}


def command_payloads(ask: str, commands: Iterable[hostline.Command], *,
                     guild: bool) -> list[dict[str, Any]]:
    """Application command objects for a bulk overwrite, sorted by name after ``ask``."""
    out = [{"type": _CHAT_INPUT, "name": ask, "description": "Ask the assistant",
            "options": [_option("text", "Your message", True)]}]
    for cmd in sorted(commands, key=lambda c: c.name):
        if cmd.name == ask or cmd.name in _SKIP or not COMMAND_NAME.fullmatch(cmd.name):
            continue
        arg = ARG_OPTIONS.get(cmd.name, ("args", "Arguments"))
        out.append({"type": _CHAT_INPUT, "name": cmd.name,
                    "description": (cmd.description or cmd.name)[:100],
                    "options": [_option(arg[0], arg[1], False)] if arg else []})
    if not guild:
        for c in out:
            c["contexts"] = [0, 1, 2]  # guild channels, the bot's DMs, private channels
    return out[:100]


def _comparable(command: dict[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    out = {k: command.get(k) for k in keys}
    if "options" in out:
        out["options"] = [{k: o.get(k, False if k == "required" else None)
                           for k in ("type", "name", "description", "required")}
                          for o in out.get("options") or []]
    return out


async def register_commands(api: DiscordAPI, app_id: str, guild_id: str | None,
                            payloads: list[dict[str, Any]]) -> bool:
    """Overwrite the commands when Discord's differ; ``True`` if it wrote them."""
    params: dict[str, Any] = {"application_id": app_id}
    template = "/applications/{application_id}/commands"
    if guild_id is not None:
        template = "/applications/{application_id}/guilds/{guild_id}/commands"
        params["guild_id"] = guild_id
    current = await api.request(Route("GET", template, **params))
    keys = ("type", "name", "description", "options", *(() if guild_id else ("contexts",)))
    have = sorted((_comparable(c, keys) for c in current if isinstance(c, dict)),
                  key=lambda c: str(c["name"])) if isinstance(current, list) else None
    want = sorted((_comparable(c, keys) for c in payloads), key=lambda c: str(c["name"]))
    if have == want:
        log.info("discord: %d commands already registered", len(want))
        return False
    await api.request(Route("PUT", template, **params), payloads)
    log.info("discord: registered %d commands %s", len(payloads),
             f"in guild {guild_id}" if guild_id else "globally")
    return True
