"""hostline-discord: a Discord bot channel for hostline (signed HTTP interactions).

Enable it with a ``[channels.discord]`` table (see the README). For tests,
:class:`hostline_discord.testing.FakeDiscordAPI` is a local Discord REST API
and :class:`hostline_discord.testing.InteractionSigner` signs interactions.
"""

from __future__ import annotations

from .api import DiscordAPI, DiscordError, DiscordPermanentError, DiscordRetryableError
from .channel import DiscordChannel
from .config import DiscordConfig
from .format import MAX_CONTENT, escape_markdown, render, render_chunks, split_message
from .interactions import Interaction, identity_of, parse
from .ratelimit import RateLimits, Route
from .replies import Where
from .signature import InteractionVerifier

__version__ = "0.1.0"

__all__ = [
    "MAX_CONTENT",
    "DiscordAPI",
    "DiscordChannel",
    "DiscordConfig",
    "DiscordError",
    "DiscordPermanentError",
    "DiscordRetryableError",
    "Interaction",
    "InteractionVerifier",
    "RateLimits",
    "Route",
    "Where",
    "escape_markdown",
    "identity_of",
    "parse",
    "render",
    "render_chunks",
    "split_message",
]
