"""Bearer API keys for HTTP channels, and the loopback-only default.

A channel that takes ``api_keys`` (Responses, MCP, A2A, Invocations) maps
each key to an :class:`hostline.Identity` the same way, so allowlists and
identity linking apply to API callers as to chat users::

    [channels.mcp]
    api_keys = [
        "${PLAIN_KEY}",                                         # a plain key
        { key = "${ALICE_KEY}", native_id = "alice", name = "Alice" },  # a key mapped to a person
    ]

A plain key's native id is a fingerprint of the key (``key-<16 hex>``),
never the key. With no key configured a channel serves only clients on this
machine unless it says otherwise (:func:`check_open_channel`).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from .errors import ChannelConfigurationError
from .oauth import InvalidToken, OAuthResourceServer
from .schema import Secret, secret
from .types import Identity

__all__ = [
    "ApiKey",
    "ApiKeys",
    "BearerAuth",
    "bearer_token",
    "check_api_keys",
    "check_open_channel",
    "is_loopback_bind",
    "is_loopback_client",
    "key_fingerprint",
]


@attrs.frozen
class ApiKey:
    """One API key mapped to a person.

    ``native_id`` becomes the :class:`hostline.Identity` native id of every
    request made with this key, so ``[channels.<instance>.allow] native_ids``
    and identity linking apply to it; ``name`` is its display name.
    """

    key: Secret = secret()  # noqa: RUF009 - an attrs field, not a dataclass default
    native_id: str | None = None
    name: str | None = None


def check_api_keys(instance: Any, attribute: Any, value: Sequence[Any]) -> None:
    """attrs validator of an ``api_keys`` list: no empty key, no key twice."""
    seen: set[str] = set()
    for i, entry in enumerate(value):
        raw = entry.key if isinstance(entry, ApiKey) else entry
        text = raw.reveal() if isinstance(raw, Secret) else str(raw)
        if not text.strip():
            raise ValueError(f"key 'api_keys[{i}]': the API key is empty")
        if text in seen:
            raise ValueError(f"key 'api_keys[{i}]': the same API key is listed twice")
        seen.add(text)
        if isinstance(entry, ApiKey) and entry.native_id is not None and not entry.native_id:
            raise ValueError(f"key 'api_keys[{i}].native_id': empty native id")


def key_fingerprint(key: str) -> str:
    """A stable, non-reversible name for a key (the native id of plain keys)."""
    return "key-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


class ApiKeys:
    """The configured keys of one channel instance, each with its identity.

    Keys are kept as digests and compared in constant time; ``repr`` shows
    only how many there are.
    """

    def __init__(self, channel: str, keys: Sequence[Secret | ApiKey]) -> None:
        self.channel = channel
        self._keys: list[tuple[bytes, Identity]] = []
        for entry in keys:
            key = (entry.key if isinstance(entry, ApiKey) else entry).reveal()
            if isinstance(entry, ApiKey) and entry.native_id:
                ident = Identity(channel, entry.native_id, entry.name,
                                 {"auth": "api_key", "key_name": entry.name})
            else:
                ident = Identity(channel, key_fingerprint(key),
                                 entry.name if isinstance(entry, ApiKey) else None,
                                 {"auth": "api_key"})
            self._keys.append((_digest(key), ident))

    def __bool__(self) -> bool:
        return bool(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"<ApiKeys {self.channel!r} keys={len(self._keys)}>"

    def identify(self, token: str) -> Identity | None:
        """The identity of ``token``, or ``None`` if it is not a configured key."""
        digest = _digest(token)
        found = None
        for known, ident in self._keys:  # no early exit: constant time in the keys
            if hmac.compare_digest(known, digest):
                found = ident
        return found


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else ``None``."""
    header = headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def is_loopback_bind(bind: str) -> bool:
    """Whether ``[host] bind`` (``HOST:PORT`` or ``unix:PATH``) is reachable only locally."""
    if bind.startswith("unix:"):
        return True
    host = bind.rpartition(":")[0] if ":" in bind else bind
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback_client(scope: Mapping[str, Any]) -> bool:
    """Whether the ASGI ``scope`` (or a Starlette request) comes from this machine."""
    client = scope.get("client")
    if client is None:
        return True  # a unix socket
    try:
        return ipaddress.ip_address(client[0]).is_loopback
    except (ValueError, IndexError, TypeError):
        return False


def check_open_channel(source: Any, channel: str, bind: str, *, has_auth: bool,
                       allow_unauthenticated: bool) -> None:
    """Refuse to start a channel with no credentials on a non-loopback bind.

    Raises :class:`hostline.ChannelConfigurationError` naming the file and
    table, unless the channel has credentials, says ``allow_unauthenticated``
    or the host is bound to a loopback address.
    """
    if has_auth or allow_unauthenticated or is_loopback_bind(bind):
        return
    raise ChannelConfigurationError(
        f"{source}: [channels.{channel}]: no api_keys are configured and [host] bind = "
        f"{bind!r} is not a loopback address; add api_keys, bind to 127.0.0.1, or set "
        "allow_unauthenticated = true")


class BearerAuth:
    """Who is calling a channel: an API key, an OAuth access token, or (with
    neither configured) a client on this machine.

    :meth:`authenticate` returns the caller's :class:`hostline.Identity` or
    raises :class:`hostline.InvalidToken` (401, 403, or 503 when the signing
    keys cannot be fetched); :meth:`challenge` is the matching
    ``WWW-Authenticate`` value. A token that is a configured API key is that
    key's identity; any other token is verified as a JWT when OAuth is set.
    An OAuth caller's native id is the token's ``sub``.
    """

    def __init__(self, channel: str, api_keys: Sequence[Secret | ApiKey] = (),
                 oauth: OAuthResourceServer | None = None, *,
                 allow_unauthenticated: bool = False) -> None:
        self.channel = channel
        self.keys = ApiKeys(channel, api_keys)
        self.oauth = oauth
        self.allow_unauthenticated = allow_unauthenticated

    def __repr__(self) -> str:
        return f"<BearerAuth {self.channel!r} keys={len(self.keys)} oauth={self.oauth is not None}>"

    @classmethod
    def for_channel(cls, channel: str, config: Any, *, source: Any, bind: str) -> BearerAuth:
        """From a channel config with ``api_keys``, ``allow_unauthenticated`` and
        optionally ``oauth_issuer``, ``oauth_audience``, ``jwks_url`` and
        ``required_scopes`` (OAuth when the first three are set); refuses, as
        :func:`check_open_channel` does, a non-loopback bind without credentials."""
        oauth = None
        issuer, audience, jwks = (getattr(config, k, None)
                                  for k in ("oauth_issuer", "oauth_audience", "jwks_url"))
        if issuer and audience and jwks:
            oauth = OAuthResourceServer(issuer=issuer, audience=audience, jwks_url=jwks,
                                        required_scopes=getattr(config, "required_scopes", ()))
        allow = bool(getattr(config, "allow_unauthenticated", False))
        auth = cls(channel, getattr(config, "api_keys", ()), oauth, allow_unauthenticated=allow)
        check_open_channel(source, channel, bind, has_auth=auth.configured,
                           allow_unauthenticated=allow)
        return auth

    @property
    def configured(self) -> bool:
        """Whether any credential (key or OAuth) is configured."""
        return bool(self.keys) or self.oauth is not None

    async def authenticate(self, scope: Mapping[str, Any],
                           headers: Mapping[str, str]) -> Identity:
        """The caller of the request with ASGI ``scope`` and ``headers``."""
        if not self.configured:
            if not self.allow_unauthenticated and not is_loopback_client(scope):
                raise InvalidToken("This server has no credentials configured and answers "
                                   "only clients on this machine.")
            return Identity(self.channel, "anonymous", None, {"auth": "none"})
        token = bearer_token(headers)
        if token is None:
            raise InvalidToken("Authorization: Bearer <token> is required.", error="")
        found = self.keys.identify(token)
        if found is not None:
            return found
        if self.oauth is None:
            raise InvalidToken("Incorrect API key provided.")
        info = await self.oauth.verify(token)
        name = info.claims.get("name")
        return Identity(self.channel, info.subject, name if isinstance(name, str) else None,
                        {"auth": "oauth", "iss": info.claims.get("iss"),
                         "scopes": sorted(info.scopes)})

    def challenge(self, metadata_url: str | None = None,
                  error: InvalidToken | None = None) -> str:
        """A ``WWW-Authenticate`` value for a refused request."""
        if self.oauth is not None:
            return self.oauth.challenge(metadata_url, error)
        if error is not None and error.error and error.status != 503:
            return f'Bearer error="{error.error}"'
        return "Bearer"
