"""hostline-telegram: a Telegram bot channel for hostline (webhook or polling).

Enable it with a ``[channels.telegram]`` table (see the README). For tests,
:class:`hostline_telegram.testing.FakeBotAPI` is a local Bot API server.
"""

from __future__ import annotations

from hostline import FileTooLarge

from .api import BotAPI, TelegramError, TelegramPermanentError, TelegramRetryableError
from .channel import TelegramChannel, Where
from .config import TelegramConfig
from .entities import EntityError, check_entities, from_bot_api, to_bot_api
from .format import (
    Chunk,
    Entity,
    FormattedText,
    HTMLParseError,
    escape_html,
    markdown_to_entities,
    parse_html,
    render,
    split_text,
    to_html,
    utf16_len,
)

__version__ = "0.1.0"

__all__ = [
    "BotAPI",
    "Chunk",
    "Entity",
    "EntityError",
    "FileTooLarge",
    "FormattedText",
    "HTMLParseError",
    "TelegramChannel",
    "TelegramConfig",
    "TelegramError",
    "TelegramPermanentError",
    "TelegramRetryableError",
    "Where",
    "check_entities",
    "escape_html",
    "from_bot_api",
    "markdown_to_entities",
    "parse_html",
    "render",
    "split_text",
    "to_bot_api",
    "to_html",
    "utf16_len",
]
