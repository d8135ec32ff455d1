"""Workspaces the app is installed in: bot tokens by team, in hostline's store.

One workspace (``bot_token`` in config) needs none of this. With OAuth each
workspace that installs the app gets a record under the ``slack-installs``
namespace, keyed ``<instance>:<team_id>``: its bot token, bot user id, app id,
scopes and who installed it. Uninstalling the app or revoking its token
(``app_uninstalled``, ``tokens_revoked``) deletes the record. Lookups are
cached for a short while in each process; a revoked token that is still
cached fails with ``token_revoked``/``invalid_auth`` and is dropped then.
"""

from __future__ import annotations

import time
from typing import Any

import attrs

import hostline

__all__ = ["Installation", "Installations"]

NS = "slack-installs"
_CACHE_TTL = 30.0


@attrs.frozen
class Installation:
    """One workspace's install: the token hostline uses there and who the bot is."""

    team_id: str
    bot_token: hostline.Secret = attrs.field(repr=False)
    bot_user_id: str | None = None
    team_name: str | None = None
    app_id: str | None = None
    scopes: tuple[str, ...] = ()
    enterprise_id: str | None = None
    installer: str | None = None
    installed_at: float = attrs.field(factory=time.time)

    def to_json(self) -> dict[str, Any]:
        """The stored record (the token in clear: the store is the secret store here)."""
        return {"team_id": self.team_id, "bot_token": self.bot_token.reveal(),
                "bot_user_id": self.bot_user_id, "team_name": self.team_name,
                "app_id": self.app_id, "scopes": list(self.scopes),
                "enterprise_id": self.enterprise_id, "installer": self.installer,
                "installed_at": self.installed_at}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Installation:
        """Inverse of :meth:`to_json`; ``ValueError`` on a bad record."""
        if not isinstance(data, dict) or not isinstance(data.get("bot_token"), str) or \
                not isinstance(data.get("team_id"), str):
            raise ValueError("not an installation record")

        def s(key: str) -> str | None:
            value = data.get(key)
            return value if isinstance(value, str) else None

        scopes = data.get("scopes")
        return cls(data["team_id"], hostline.Secret(data["bot_token"]), s("bot_user_id"),
                   s("team_name"), s("app_id"),
                   tuple(x for x in scopes if isinstance(x, str))
                   if isinstance(scopes, list) else (), s("enterprise_id"), s("installer"),
                   float(data.get("installed_at") or 0.0))


class Installations:
    """Installation records of one channel instance."""

    def __init__(self, host: hostline.Host, instance: str) -> None:
        self.host = host
        self.instance = instance
        self._cache: dict[str, tuple[float, Installation | None]] = {}

    def _key(self, team_id: str) -> str:
        return f"{self.instance}:{team_id}"

    async def get(self, team_id: str) -> Installation | None:
        """The install of ``team_id``, or ``None`` when the app is not installed there."""
        hit = self._cache.get(team_id)
        now = time.monotonic()
        if hit is not None and hit[0] > now:
            return hit[1]
        raw = await self.host.store.kv_get(NS, self._key(team_id))
        try:
            found = Installation.from_json(raw) if raw is not None else None
        except ValueError:
            found = None
        if len(self._cache) > 1024:
            self._cache.clear()
        self._cache[team_id] = (now + _CACHE_TTL, found)
        return found

    async def save(self, install: Installation) -> None:
        """Store (or replace) a workspace's install."""
        await self.host.store.kv_put(NS, self._key(install.team_id), install.to_json())
        self._cache.pop(install.team_id, None)

    async def delete(self, team_id: str) -> bool:
        """Forget a workspace (uninstalled or token revoked)."""
        self._cache.pop(team_id, None)
        return await self.host.store.kv_delete(NS, self._key(team_id))

    async def all(self, limit: int = 1000) -> list[Installation]:
        """Every stored install of this instance."""
        rows = await self.host.store.kv_list(NS, f"{self.instance}:", limit=limit)
        out = []
        for row in rows:
            value = row[1] if isinstance(row, tuple) else row
            try:
                out.append(Installation.from_json(value))
            except ValueError:
                continue
        return out
