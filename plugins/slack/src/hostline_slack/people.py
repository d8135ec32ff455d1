"""People: identities from events (``users.info``, cached) and DMs to open."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from hostline import Identity

from .api import SlackError, SlackPermanentError
from .events import d, s, slack_id

if TYPE_CHECKING:
    from .channel import SlackChannel

log = logging.getLogger("hostline.slack")

__all__ = ["identity", "open_dm", "user_info"]

USERS_NS = "slack-users"
DM_NS = "slack-dm"


async def identity(ch: SlackChannel, team: str, user: str, event: dict[str, Any]) -> Identity:
    """The person who sent ``event``: ``TEAM:USER``, display name, ``team_id`` (and ``email``)."""
    cfg = ch.config
    claims: dict[str, Any] = {"team_id": team}
    name: str | None = None
    profile = d(event.get("user_profile"))
    if profile:
        name = s(profile.get("display_name")) or s(profile.get("real_name")) or None
    if cfg.lookup_users and (name is None or cfg.email_claim):
        info = await user_info(ch, team, user)
        name = name or info.get("name") or None
        if cfg.email_claim and info.get("email"):
            claims["email"] = info["email"]
    return Identity(ch.name, f"{team}:{user}", name, claims)


async def user_info(ch: SlackChannel, team: str, user: str) -> dict[str, str]:
    """``users.info``'s name and email of ``user``, cached in the store."""
    key = f"{ch.name}:{team}:{user}"
    store = ch.host.store
    cached = await store.kv_get(USERS_NS, key)
    if isinstance(cached, dict):
        return {k: v for k, v in cached.items() if isinstance(v, str)}
    try:
        answer = await ch.call(team, "users.info", {"user": user})
    except SlackError as exc:
        log.debug("slack channel %r: users.info failed: %s", ch.name, exc.error)
        return {}
    u = d(answer.get("user"))
    p = d(u.get("profile"))
    info = {"name": s(p.get("display_name")) or s(p.get("real_name")) or s(u.get("real_name"))
            or s(u.get("name")), "email": s(p.get("email"))}
    await store.kv_put(USERS_NS, key, info, ttl=ch.config.user_cache_ttl)
    return info


async def open_dm(ch: SlackChannel, team: str, user: str) -> str:
    """The DM channel with ``user`` (``conversations.open`` once, then remembered)."""
    key = f"{ch.name}:{team}:{user}"
    known = await ch.host.store.kv_get(DM_NS, key)
    if isinstance(known, str) and known:
        return known
    answer = await ch.call(team, "conversations.open", {"users": user})
    channel = slack_id(d(answer.get("channel")).get("id"))
    if not channel:
        raise SlackPermanentError("conversations.open", "no channel in the answer")
    await ch.host.store.kv_put(DM_NS, key, channel)
    return channel
