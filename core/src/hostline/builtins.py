"""Built-in behaviour, registered as the default plugin through the same hooks
third parties use: the chat commands (``/start``, ``/help``, ``/new``,
``/link``, ``/unlink``), the config-driven allowlists and the one-time-code
identity linker.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from .auth import LinkedClaimAllowlist, NativeIdAllowlist
from .commands import Command, CommandContext
from .hookspecs import hookimpl
from .linking import IdentityLinker, OneTimeCodeLinker

if TYPE_CHECKING:
    from .host import Host

_LINKERS: weakref.WeakKeyDictionary[Host, OneTimeCodeLinker] = weakref.WeakKeyDictionary()


def _default_linker(host: Host) -> OneTimeCodeLinker:
    """The host's one-time-code linker, with ``[host.links] code_ttl``."""
    linker = _LINKERS.get(host)
    if linker is None:
        linker = _LINKERS[host] = OneTimeCodeLinker(ttl=host.config.host.links.code_ttl)
    return linker


async def _start(ctx: CommandContext) -> str:
    return "Hello! Send me a message to start. /help lists the commands."


async def _help(ctx: CommandContext) -> str:
    commands = await ctx.host.commands()
    lines = [f"/{c.name} - {c.description}" for c in sorted(commands.values(),
                                                              key=lambda c: c.name)]
    return "Commands:\n" + "\n".join(lines)


async def _new(ctx: CommandContext) -> str:
    await ctx.host.reset_session(ctx.channel, ctx.scope, ctx.isolation)
    return "Started a new conversation."


async def _linker(host: Host) -> IdentityLinker:
    linkers = await host.collect("hostline_identity_linkers", host=host)
    linker: IdentityLinker = linkers[0] if linkers else _default_linker(host)
    return linker


async def _link(ctx: CommandContext) -> str:
    if ctx.identity is None:
        return "Linking needs a signed-in identity."
    linker = await _linker(ctx.host)
    if ctx.args:
        resolution = await linker.complete(ctx.host, ctx.identity, ctx.args)
        return resolution.message
    challenge = await linker.start(ctx.host, ctx.identity)
    return challenge.instructions


async def _unlink(ctx: CommandContext) -> str:
    if ctx.identity is None or not await ctx.host.store.unlink(ctx.identity.key):
        return "This account is not linked."
    return "Unlinked this account."


@hookimpl(trylast=True)
def hostline_commands(host: Host) -> list[Any]:
    """The built-in commands."""
    return [
        Command("start", "Say hello", _start, public=True),
        Command("help", "List the commands", _help, public=True),
        Command("new", "Start a new conversation", _new),
        Command("link", "Link this account with another channel", _link, public=True),
        Command("unlink", "Unlink this account", _unlink, public=True),
    ]


@hookimpl(trylast=True)
def hostline_identity_linkers(host: Host) -> list[Any]:
    """The one-time-code linker, with ``[host.links] code_ttl``."""
    return [_default_linker(host)]


@hookimpl(trylast=True)
def hostline_allowlists(channel: str, host: Host) -> list[Any]:
    """Allowlists from ``[channels.<instance>.allow]``."""
    spec = host.config.channels.get(channel)
    if spec is None or spec.common.allow is None:
        return []
    allow = spec.common.allow
    out: list[Any] = []
    if allow.native_ids:
        out.append(NativeIdAllowlist(allow.native_ids))
    if allow.linked_claims:
        out.append(LinkedClaimAllowlist(allow.linked_claims))
    return out
