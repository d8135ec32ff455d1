"""Interaction payloads as plain values (everything in them is untrusted).

:func:`parse` turns the JSON Discord POSTs into an :class:`Interaction`, or
``None`` when it is not a shape hostline acts on; nothing here raises on
hostile input. Constants name Discord's interaction and callback types.
"""

from __future__ import annotations

from typing import Any

import attrs

import hostline

__all__ = ["Interaction", "created_at", "identity_of", "parse"]

# Interaction types.
PING = 1
APPLICATION_COMMAND = 2
MESSAGE_COMPONENT = 3
AUTOCOMPLETE = 4
MODAL_SUBMIT = 5
# Callback (response) types.
PONG = 1
CHANNEL_MESSAGE = 4
DEFERRED_CHANNEL_MESSAGE = 5
DEFERRED_UPDATE_MESSAGE = 6
AUTOCOMPLETE_RESULT = 8
#: Message flag: only the person who interacted sees it.
EPHEMERAL = 1 << 6
#: Discord's epoch (2015-01-01) in Unix milliseconds: snowflakes count from it.
DISCORD_EPOCH_MS = 1420070400000
#: An interaction token is valid for this long after the interaction.
TOKEN_LIFETIME = 15 * 60.0


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _snowflake(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and 0 <= value < 1 << 64:
        return str(value)
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        return value
    return None


def _str(value: Any, limit: int = 6000) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def created_at(snowflake: str) -> float:
    """Unix seconds at which the snowflake ``snowflake`` was made."""
    return ((int(snowflake) >> 22) + DISCORD_EPOCH_MS) / 1000.0


@attrs.frozen
class Interaction:
    """What hostline reads from one interaction."""

    id: str
    type: int
    token: str
    application_id: str
    channel_id: str | None
    guild_id: str | None
    user: dict[str, Any]
    #: The command's name (application commands) or ``None``.
    command: str | None = None
    #: String values of the command's options, by name.
    options: dict[str, str] = attrs.field(factory=dict)
    #: The component's ``custom_id`` (buttons) or ``None``.
    custom_id: str | None = None
    #: The message a pressed button is on: its id and content.
    message_id: str | None = None
    message_content: str | None = None

    @property
    def user_id(self) -> str | None:
        """The person's user id."""
        return _snowflake(self.user.get("id"))

    @property
    def is_dm(self) -> bool:
        """Sent from a DM (or a group DM), not a guild channel."""
        return self.guild_id is None

    @property
    def created_at(self) -> float:
        """Unix seconds of the interaction (from its id)."""
        return created_at(self.id)


def parse(payload: Any) -> Interaction | None:
    """The interaction in ``payload``, or ``None`` if it lacks what every one has."""
    data = _dict(payload)
    kind = data.get("type")
    iid, token = _snowflake(data.get("id")), _str(data.get("token"), 500)
    app = _snowflake(data.get("application_id"))
    if not isinstance(kind, int) or isinstance(kind, bool) or iid is None or token is None \
            or app is None:
        return None
    member = _dict(data.get("member"))
    user = _dict(member.get("user")) or _dict(data.get("user"))
    channel = _snowflake(data.get("channel_id")) or _snowflake(_dict(data.get("channel")).get("id"))
    inner = _dict(data.get("data"))
    options: dict[str, str] = {}
    raw_options = inner.get("options")
    for opt in raw_options if isinstance(raw_options, list) else ():
        opt = _dict(opt)
        name, value = opt.get("name"), opt.get("value")
        if isinstance(name, str) and isinstance(value, (str, int, float)) and \
                not isinstance(value, bool):
            options[name[:32]] = str(value)[:6000]
    message = _dict(data.get("message")) if kind == MESSAGE_COMPONENT else {}
    return Interaction(
        iid, kind, token, app, channel, _snowflake(data.get("guild_id")), user,
        command=_str(inner.get("name"), 32) if kind in (APPLICATION_COMMAND, AUTOCOMPLETE)
        else None,
        options=options,
        custom_id=_str(inner.get("custom_id"), 100) if kind in (MESSAGE_COMPONENT, MODAL_SUBMIT)
        else None,
        message_id=_snowflake(message.get("id")),
        message_content=_str(message.get("content"), 4000))


def identity_of(channel: str, interaction: Interaction) -> hostline.Identity | None:
    """The person as a :class:`hostline.Identity`: native id = user id, display
    name = global name (else username), claims ``username`` and ``guild_id``."""
    uid = interaction.user_id
    if uid is None:
        return None
    user = interaction.user
    username = _str(user.get("username"), 64)
    claims = {k: v for k, v in (("username", username), ("guild_id", interaction.guild_id))
              if v}
    return hostline.Identity(channel, uid, _str(user.get("global_name"), 64) or username, claims)
