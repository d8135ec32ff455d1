"""Bot Framework authentication, both directions.

Inbound (connector -> bot), as the Bot Framework "Authenticate requests from
the Bot Connector service to your bot" procedure describes: a ``Bearer`` JWT
signed RS256 with a key from the OpenID metadata's ``jwks_uri`` (cached,
refreshed on an unknown ``kid`` at most once per interval), issued by
``https://api.botframework.com``, for audience = the bot's app id, within
``nbf``/``exp`` give or take the documented 5 minutes of clock skew, whose
``serviceurl`` claim equals the activity's ``serviceUrl`` and whose signing
key's ``endorsements`` include the activity's ``channelId``.

Outbound (bot -> connector): an OAuth 2.0 client-credentials token from the
Microsoft Entra ID token endpoint, cached until shortly before it expires,
refreshed by one caller at a time.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import httpx
import jwt
from jwt.algorithms import RSAAlgorithm

from hostline import PermanentDeliveryError, RetryableDeliveryError, Secret, parse_retry_after

log = logging.getLogger("hostline.teams")

__all__ = [
    "AuthenticationError",
    "InboundAuthenticator",
    "IssuerProfile",
    "KeysUnavailable",
    "OpenIdKeys",
    "TokenProvider",
]

ALGORITHM = "RS256"


class AuthenticationError(Exception):
    """The request is not from the Bot Connector (answer 401). ``str()`` is safe to log."""


class KeysUnavailable(Exception):
    """The signing keys could not be fetched (answer 503 so the connector retries)."""


@attrs.frozen
class SigningKey:
    """One published key: the RSA public key and the channels it endorses."""

    key: Any
    endorsements: frozenset[str]


class OpenIdKeys:
    """Signing keys from an OpenID metadata document, cached.

    The key set is refetched when older than ``cache_seconds``. An unknown
    ``kid`` refetches it at most once per ``refresh_interval``: keys rotate
    rarely, and an attacker sending random key ids must not make the bot
    hammer the metadata endpoint. Concurrent callers share one fetch.
    """

    def __init__(self, client: httpx.AsyncClient, metadata_url: str, *,
                 cache_seconds: float, refresh_interval: float) -> None:
        self.client = client
        self.metadata_url = metadata_url
        self.cache_seconds = cache_seconds
        self.refresh_interval = refresh_interval
        self._keys: dict[str, SigningKey] = {}
        self._algorithms: frozenset[str] | None = None
        self._fetched_at: float | None = None
        self._finished_at: float | None = None
        self._last_forced: float | None = None
        self._lock = asyncio.Lock()
        #: How many times the metadata and key documents were fetched.
        self.fetches = 0

    def __repr__(self) -> str:
        return f"<OpenIdKeys {self.metadata_url} keys={len(self._keys)}>"

    @property
    def algorithms(self) -> frozenset[str] | None:
        """``id_token_signing_alg_values_supported`` of the metadata, if it said."""
        return self._algorithms

    async def get(self, kid: str) -> SigningKey | None:
        """The key with id ``kid``, fetching or refreshing the key set as allowed."""
        now = time.monotonic()
        if self._fetched_at is None or (
                now - self._fetched_at > self.cache_seconds
                # Stale but usable: while the endpoint is down, retry once a minute.
                and (self._finished_at is None or now - self._finished_at >= 60.0)):
            await self._refresh(now)
        if self._fetched_at is None:
            raise KeysUnavailable("no signing keys yet")
        key = self._keys.get(kid)
        if key is None:
            now = time.monotonic()
            if self._last_forced is None or now - self._last_forced >= self.refresh_interval:
                self._last_forced = now
                log.info("unknown signing key id; refreshing the key set")
                await self._refresh(now)
                key = self._keys.get(kid)
        return key

    async def _refresh(self, requested_at: float) -> None:
        async with self._lock:
            # A fetch finished while we waited for the lock: share its result.
            if self._finished_at is not None and self._finished_at >= requested_at:
                return
            try:
                await self._fetch()
            finally:
                self._finished_at = time.monotonic()

    async def _fetch(self) -> None:
        self.fetches += 1
        try:
            metadata = await self._get_json(self.metadata_url)
            jwks_uri = metadata.get("jwks_uri")
            if not isinstance(jwks_uri, str) or not jwks_uri:
                raise KeysUnavailable("OpenID metadata has no jwks_uri")
            algs = metadata.get("id_token_signing_alg_values_supported")
            document = await self._get_json(jwks_uri)
        except KeysUnavailable as exc:
            if self._fetched_at is None:
                raise
            log.warning("refreshing the signing keys failed (%s); keeping the cached ones", exc)
            return
        keys: dict[str, SigningKey] = {}
        raw_keys = document.get("keys")
        for raw in raw_keys if isinstance(raw_keys, list) else []:
            parsed = _parse_jwk(raw)
            if parsed is not None:
                keys[parsed[0]] = parsed[1]
        if not keys:
            if self._fetched_at is None:
                raise KeysUnavailable("the key set has no usable RSA keys")
            log.warning("the fetched key set has no usable keys; keeping the cached ones")
            return
        self._keys = keys
        self._algorithms = frozenset(a for a in algs if isinstance(a, str)) \
            if isinstance(algs, list) else None
        self._fetched_at = time.monotonic()

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = await self.client.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise KeysUnavailable(f"GET {url}: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise KeysUnavailable(f"GET {url}: HTTP {response.status_code}")
        try:
            data = response.json()
        except ValueError:
            raise KeysUnavailable(f"GET {url}: not JSON") from None
        if not isinstance(data, dict):
            raise KeysUnavailable(f"GET {url}: not a JSON object")
        return data


def _parse_jwk(raw: Any) -> tuple[str, SigningKey] | None:
    if not isinstance(raw, dict) or raw.get("kty") != "RSA":
        return None
    kid = raw.get("kid")
    if not isinstance(kid, str) or not kid or raw.get("use", "sig") != "sig":
        return None
    try:
        key = RSAAlgorithm.from_jwk(json.dumps(raw))
    except (jwt.PyJWTError, ValueError, TypeError, KeyError):
        log.warning("skipping an unparsable signing key %r", kid[:64])
        return None
    endorsements = raw.get("endorsements")
    ends = frozenset(e for e in endorsements if isinstance(e, str)) \
        if isinstance(endorsements, list) else frozenset()
    return kid, SigningKey(key, ends)


@attrs.frozen
class IssuerProfile:
    """Who may sign inbound tokens and what else their tokens must satisfy.

    The channel profile (the Bot Connector) requires the ``serviceurl`` claim
    and endorsements; the Emulator profile requires ``appid``/``azp`` = the
    bot's app id instead.
    """

    name: str
    issuers: tuple[str, ...]
    keys: OpenIdKeys
    channel: bool = True


class InboundAuthenticator:
    """Validates the ``Authorization`` header of an activity POSTed to the bot."""

    def __init__(self, app_id: str, profiles: Sequence[IssuerProfile], *,
                 clock_skew: float = 300.0) -> None:
        self.app_id = app_id
        self.profiles = tuple(profiles)
        self.clock_skew = clock_skew
        # The connector reuses one token for about an hour: its RS256 check
        # is done once. What depends on the activity is checked every time.
        self._verified: dict[str, tuple[dict[str, Any], IssuerProfile, str, Any]] = {}

    def _profile(self, issuer: Any) -> IssuerProfile:
        for profile in self.profiles:
            if issuer in profile.issuers:
                return profile
        raise AuthenticationError("token issuer is not accepted")

    async def _verify(self, token: str) -> tuple[dict[str, Any], IssuerProfile, str, Any]:
        """Signature and claims (the expensive part), with the key that verified it."""
        # Only to pick the key set that verifies it; jwt.decode checks everything below.
        header, unverified = _peek(token)
        if header.get("alg") != ALGORITHM:
            raise AuthenticationError("token is not signed with RS256")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthenticationError("token has no key id")
        profile = self._profile(unverified.get("iss"))
        signing = await profile.keys.get(kid)
        if signing is None:
            raise AuthenticationError("token is signed with an unknown key")
        algs = profile.keys.algorithms
        if algs is not None and ALGORITHM not in algs:
            raise AuthenticationError("the OpenID metadata does not allow RS256")
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key=signing.key, algorithms=[ALGORITHM], audience=self.app_id,
                issuer=list(profile.issuers), leeway=self.clock_skew,
                options={"require": ["exp", "nbf", "iss", "aud"], "verify_iat": False})
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("token has expired") from None
        except jwt.ImmatureSignatureError:
            raise AuthenticationError("token is not valid yet") from None
        except jwt.InvalidAudienceError:
            raise AuthenticationError("token audience is not this bot") from None
        except jwt.InvalidIssuerError:
            raise AuthenticationError("token issuer is not accepted") from None
        except jwt.InvalidSignatureError:
            raise AuthenticationError("token signature is invalid") from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthenticationError(f"token has no {exc.claim!r} claim") from None
        except jwt.PyJWTError:
            raise AuthenticationError("token is invalid") from None
        return claims, profile, kid, signing

    async def authenticate(self, authorization: str | None,
                           activity: Mapping[str, Any]) -> dict[str, Any]:
        """The verified claims, or :class:`AuthenticationError` / :class:`KeysUnavailable`."""
        if not authorization:
            raise AuthenticationError("no Authorization header")
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthenticationError("Authorization is not a Bearer token")
        hit = self._verified.get(token)
        if hit is not None:
            claims, profile, kid, signing = hit
            now = time.time()
            # Still in its validity window, and its key still in the key set.
            if not (claims["exp"] > now - self.clock_skew
                    and claims["nbf"] <= now + self.clock_skew) \
                    or await profile.keys.get(kid) is not signing:
                self._verified.pop(token, None)
                hit = None
        if hit is None:
            claims, profile, kid, signing = await self._verify(token)
            if len(self._verified) >= _VERIFIED_MAX:
                self._verified.pop(next(iter(self._verified)))
            self._verified[token] = (claims, profile, kid, signing)
        if profile.channel:
            service_url = claims.get("serviceurl", claims.get("serviceUrl"))
            if not isinstance(service_url, str) or service_url != activity.get("serviceUrl"):
                raise AuthenticationError("serviceurl claim does not match the activity")
            channel_id = activity.get("channelId")
            if not isinstance(channel_id, str) or channel_id not in signing.endorsements:
                raise AuthenticationError("signing key does not endorse the activity's channel")
        else:
            if self.app_id not in (claims.get("appid"), claims.get("azp")):
                raise AuthenticationError("emulator token is not for this bot's app id")
            service_url = claims.get("serviceurl", claims.get("serviceUrl"))
            if service_url is not None and service_url != activity.get("serviceUrl"):
                raise AuthenticationError("serviceurl claim does not match the activity")
        return dict(claims)  # the cached copy stays as verified


_VERIFIED_MAX = 1024  # verified tokens kept (oldest dropped first)


def _segment(part: str) -> dict[str, Any]:
    try:
        value = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (ValueError, binascii.Error):
        raise AuthenticationError("malformed token") from None
    if not isinstance(value, dict):
        raise AuthenticationError("malformed token")
    return value


def _peek(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of a JWS compact token, *unverified* (cheaper than PyJWT)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise AuthenticationError("malformed token")
    return _segment(parts[0]), _segment(parts[1])


@attrs.define(repr=False)
class _Token:
    value: str
    refresh_at: float


class TokenProvider:
    """Client-credentials access tokens for calls to the connector.

    A token is reused until shortly before it expires; at most one request
    to the token endpoint is in flight. :meth:`invalidate` drops a token the
    connector refused so the next :meth:`token` fetches a fresh one.
    """

    def __init__(self, client: httpx.AsyncClient, token_url: str, app_id: str,
                 password: Secret, scope: str) -> None:
        self.client = client
        self.token_url = token_url
        self.app_id = app_id
        self._password = password
        self.scope = scope
        self._token: _Token | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"<TokenProvider {self.token_url} app_id={self.app_id!r}>"

    def _current(self) -> str | None:
        tok = self._token
        if tok is not None and time.monotonic() < tok.refresh_at:
            return tok.value
        return None

    async def token(self) -> str:
        """A valid access token (cached or freshly fetched)."""
        current = self._current()
        if current is not None:
            return current
        async with self._lock:
            current = self._current()
            if current is not None:
                return current
            self._token = await self._fetch()
            return self._token.value

    def invalidate(self, value: str) -> None:
        """Forget ``value`` if it is still the cached token."""
        if self._token is not None and self._token.value == value:
            self._token = None

    async def _fetch(self) -> _Token:
        form = {"grant_type": "client_credentials", "client_id": self.app_id,
                "client_secret": self._password.reveal(), "scope": self.scope}
        try:
            response = await self.client.post(self.token_url, data=form,
                                              headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise RetryableDeliveryError(
                f"token endpoint unreachable: {type(exc).__name__}") from None
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        status = response.status_code
        if status == 200:
            access = body.get("access_token")
            expires_in = body.get("expires_in", 3600)
            try:
                lifetime = float(expires_in)
            except (TypeError, ValueError):
                lifetime = 3600.0
            if not isinstance(access, str) or not access:
                raise RetryableDeliveryError("token endpoint answered without an access_token")
            # Refresh 5 minutes before expiry (or halfway through a short lifetime).
            refresh_in = max(lifetime - 300.0, lifetime / 2)
            log.debug("got a connector access token valid for %.0fs", lifetime)
            return _Token(access, time.monotonic() + refresh_in)
        error = body.get("error") if isinstance(body.get("error"), str) else None
        what = f"token endpoint answered HTTP {status}" + (f" ({error})" if error else "")
        if status == 429 or status >= 500:
            raise RetryableDeliveryError(
                what, retry_after=parse_retry_after(response.headers.get("retry-after")))
        raise PermanentDeliveryError(what + ": check app_id, app_password and tenant_id")
