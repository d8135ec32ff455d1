"""The ``[channels.teams]`` schema."""

from __future__ import annotations

import string
from typing import Any, Literal

import attrs

import hostline
from hostline import Secret

__all__ = [
    "DEFAULT_OPENID_METADATA_URL",
    "DEFAULT_TOKEN_URL",
    "EMULATOR_ISSUERS",
    "EMULATOR_OPENID_METADATA_URL",
    "TeamsConfig",
]

#: The Bot Connector service's OpenID metadata (public cloud).
DEFAULT_OPENID_METADATA_URL = "https://login.botframework.com/v1/.well-known/openidconfiguration"
#: The Microsoft Entra ID token endpoint; ``{tenant_id}`` is filled in.
DEFAULT_TOKEN_URL = "https://login.microsoftonline.com/{tenant_id}/oauth2/v2.0/token"
#: Where the Bot Framework Emulator's tokens are signed (Microsoft Entra ID keys).
EMULATOR_OPENID_METADATA_URL = (
    "https://login.microsoftonline.com/botframework.com/v2.0/.well-known/openid-configuration")
#: Issuers of Emulator tokens (v1 and v2 tokens, security protocol v3.1 and v3.2).
EMULATOR_ISSUERS = [
    "https://sts.windows.net/d6d49420-f39b-4df7-a1dc-d59a935871db/",
    "https://login.microsoftonline.com/d6d49420-f39b-4df7-a1dc-d59a935871db/v2.0",
    "https://sts.windows.net/f8cdef31-a31e-4b4a-93e4-5f571e91255a/",
    "https://login.microsoftonline.com/f8cdef31-a31e-4b4a-93e4-5f571e91255a/v2.0",
]


def _non_empty(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, str) and not value.strip():
        raise ValueError(f"key {attribute.name!r}: must not be empty")


def _positive(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value <= 0:
        raise ValueError(f"key {attribute.name!r}: must be greater than 0")


def _not_negative(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value < 0:
        raise ValueError(f"key {attribute.name!r}: must not be negative")


def _token_url(inst: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
    except ValueError:
        names = {"?"}
    if names - {"tenant_id"}:
        raise ValueError("key 'token_url': the only placeholder allowed is {tenant_id}")


def _password(inst: Any, attribute: attrs.Attribute[Any], value: Secret) -> None:
    if not value:
        raise ValueError("key 'app_password': must not be empty")


def _issuers(inst: Any, attribute: attrs.Attribute[Any], value: list[str]) -> None:
    if not value or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"key {attribute.name!r}: needs at least one issuer")


@attrs.frozen
class TeamsConfig:
    """``[channels.<instance>]`` of a Teams (Bot Framework) channel.

    Only ``app_id`` and ``app_password`` are required; every endpoint
    defaults to the public Bot Framework cloud, and tests point them at the
    fakes in :mod:`hostline_teams.testing`.
    """

    #: The bot's Microsoft App ID: the audience of inbound tokens, the client id outbound.
    app_id: str = attrs.field(validator=_non_empty)
    #: The bot's client secret (``${TEAMS_APP_PASSWORD}``); never logged.
    app_password: Secret = hostline.secret(validator=_password)  # noqa: RUF009
    #: ``botframework.com`` for multi-tenant bots; single-tenant bots set their tenant id.
    tenant_id: str = attrs.field(default="botframework.com", validator=_non_empty)
    openid_metadata_url: str = DEFAULT_OPENID_METADATA_URL
    token_url: str = attrs.field(default=DEFAULT_TOKEN_URL, validator=_token_url)
    #: The client-credentials scope (Azure Government: ``https://api.botframework.us/.default``).
    oauth_scope: str = "https://api.botframework.com/.default"
    #: Issuers accepted on channel tokens (Azure Government: ``https://api.botframework.us``).
    allowed_issuers: list[str] = attrs.field(
        factory=lambda: ["https://api.botframework.com"], validator=_issuers)
    #: Also accept Bot Framework Emulator tokens (signed by Entra ID, no endorsements).
    allow_emulator: bool = False
    emulator_openid_metadata_url: str = EMULATOR_OPENID_METADATA_URL
    emulator_issuers: list[str] = attrs.field(factory=lambda: list(EMULATOR_ISSUERS),
                                              validator=_issuers)
    #: In group chats and channels: answer only when @mentioned, always, or never.
    group_mode: Literal["mention", "always", "never"] = "mention"
    #: Which messages share one conversation memory.
    session_scope: Literal["per_user", "per_conversation", "per_user_per_conversation"] = (
        "per_user_per_conversation")
    #: Stream replies in personal chats with the Teams streaming protocol.
    stream: bool = True
    #: Seconds between streaming updates (Teams accepts one request a second).
    stream_interval: float = attrs.field(default=1.0, validator=_not_negative)
    #: Seconds after the run starts before the stream opens; a reply ready by then is
    #: one plain message.
    stream_first_delay: float = attrs.field(default=1.0, validator=_not_negative)
    #: Text of the informative update that opens a stream ("" starts with the first chunk).
    stream_informative_text: str = "Working on it..."
    #: Send a typing indicator while the target runs (non-streamed replies).
    typing: bool = True
    #: Seconds a run must take before the first typing indicator: fast replies
    #: then cost one connector call instead of two.
    typing_delay: float = attrs.field(default=0.5, validator=_not_negative)
    typing_interval: float = attrs.field(default=3.0, validator=_positive)
    #: Sent when someone is added to a personal chat or the bot to a group; none if unset.
    welcome_text: str | None = None
    #: The invoke response shown for an Adaptive Card action while it is being processed.
    invoke_reply: str = "Working on it..."
    #: Sent when the target fails.
    error_reply: str = "Sorry, something went wrong."
    #: Seconds of clock skew tolerated on ``nbf`` / ``exp`` (the documented 5 minutes).
    clock_skew: float = attrs.field(default=300.0, validator=_not_negative)
    #: How long signing keys are cached (the Bot Framework SDK default: 5 days).
    keys_cache_seconds: float = attrs.field(default=432_000.0, validator=_positive)
    #: An unknown ``kid`` refreshes the keys at most once per this many seconds.
    keys_refresh_interval: float = attrs.field(default=300.0, validator=_not_negative)
    #: Seconds for every outbound HTTP call (token, keys, connector).
    timeout: float = attrs.field(default=15.0, validator=_positive)
    #: Connector calls in flight at once (the pool size); 0: ``[host.outbox] outbound_calls``.
    max_connections: int = attrs.field(default=0, validator=_not_negative)
    #: HTTP(S) proxy for every outbound call (``http://user:pass@host:port``); a secret.
    proxy: Secret | None = hostline.secret(default=None)  # noqa: RUF009
    #: Without ``proxy``, use the proxy ``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY``
    #: name for each call (``NO_PROXY`` respected), as httpx's ``trust_env``.
    trust_env: bool = True
    #: ``Retry-After`` (seconds) sent with 503 when the host is overloaded.
    retry_after: int = attrs.field(default=5, validator=_positive)

    def resolved_token_url(self) -> str:
        """``token_url`` with ``{tenant_id}`` filled in."""
        return self.token_url.replace("{tenant_id}", self.tenant_id)
