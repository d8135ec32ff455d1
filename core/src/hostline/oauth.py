"""An OAuth 2.1 resource server: JWT access tokens checked against a JWKS.

Channels that accept OAuth (MCP, A2A) take the same keys::

    [channels.mcp]
    oauth_issuer = "https://auth.example.com"
    oauth_audience = "https://bot.example.com/mcp/"
    jwks_url = "https://auth.example.com/.well-known/jwks.json"
    required_scopes = ["agent:ask"]

A token is accepted when its signature verifies with a key of the JWKS (by
``kid``), it names the issuer and the audience, it is within ``nbf``/``exp``
(60 s of clock skew) and it carries every required scope (``scope`` or
``scp``). The key set is cached for an hour; an unknown ``kid`` refetches it
at most once a minute, so tokens with made-up key ids cannot make the server
hammer the JWKS endpoint. Needs PyJWT: ``pip install 'hostline[oauth]'``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Sequence
from typing import Any

import attrs
import httpx

__all__ = ["InvalidToken", "OAuthResourceServer", "TokenInfo"]

log = logging.getLogger("hostline.oauth")

#: Asymmetric algorithms only: a JWKS publishes public keys.
DEFAULT_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA")


class InvalidToken(Exception):
    """The token is refused. ``error`` is the RFC 6750 code (``invalid_token``,
    ``insufficient_scope``), ``status`` 401 or 403; ``str()`` is safe to log
    and to show (it never contains the token)."""

    def __init__(self, description: str, error: str = "invalid_token",
                 status: int = 401) -> None:
        super().__init__(description)
        self.description = description
        self.error = error
        self.status = status


class KeysUnavailable(InvalidToken):
    """The JWKS could not be fetched (answer 503: the client may retry)."""

    def __init__(self, description: str) -> None:
        super().__init__(description, "temporarily_unavailable", 503)


@attrs.frozen
class TokenInfo:
    """A verified token: its claims, subject and scopes."""

    claims: dict[str, Any]
    subject: str
    scopes: frozenset[str]


def _scopes(claims: dict[str, Any]) -> frozenset[str]:
    raw = claims.get("scope", claims.get("scp"))
    if isinstance(raw, str):
        return frozenset(raw.split())
    if isinstance(raw, list):
        return frozenset(str(s) for s in raw)
    return frozenset()


class OAuthResourceServer:
    """Verifies bearer JWTs for one channel and describes itself (RFC 9728)."""

    def __init__(self, *, issuer: str, audience: str, jwks_url: str,
                 required_scopes: Sequence[str] = (),
                 algorithms: Sequence[str] = DEFAULT_ALGORITHMS,
                 leeway: float = 60.0, cache_seconds: float = 3600.0,
                 refresh_interval: float = 60.0,
                 client: httpx.AsyncClient | None = None) -> None:
        try:
            import jwt  # noqa: F401 - only to fail early with a clear message
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise RuntimeError("OAuth needs PyJWT: pip install 'hostline[oauth]'") from exc
        self.issuer = issuer
        self.audience = audience
        self.jwks_url = jwks_url
        self.required_scopes = tuple(required_scopes)
        self.algorithms = list(algorithms)
        self.leeway = leeway
        self.cache_seconds = cache_seconds
        self.refresh_interval = refresh_interval
        self._client = client
        self._own_client = client is None
        self._keys: dict[str, Any] = {}
        self._fetched_at: float | None = None
        self._last_forced: float | None = None
        self._lock = asyncio.Lock()
        #: How many times the JWKS was fetched.
        self.fetches = 0

    def __repr__(self) -> str:
        return f"<OAuthResourceServer issuer={self.issuer!r} audience={self.audience!r}>"

    async def aclose(self) -> None:
        """Close the HTTP client this object created."""
        if self._own_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    # keys -------------------------------------------------------------------
    async def _key(self, kid: str | None) -> Any:
        now = time.monotonic()
        if self._fetched_at is None or now - self._fetched_at > self.cache_seconds:
            await self._refresh(force=False)
        key = self._lookup(kid)
        if key is None and (self._last_forced is None
                            or time.monotonic() - self._last_forced >= self.refresh_interval):
            self._last_forced = time.monotonic()
            await self._refresh(force=True)
            key = self._lookup(kid)
        return key

    def _lookup(self, kid: str | None) -> Any:
        if kid is None:
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    async def _refresh(self, *, force: bool) -> None:
        started = time.monotonic()
        async with self._lock:
            if not force and self._fetched_at is not None and self._fetched_at >= started:
                return  # another caller refreshed while we waited
            try:
                await self._fetch()
            except (httpx.HTTPError, ValueError) as exc:
                log.warning("fetching the JWKS %s failed: %s", self.jwks_url,
                            type(exc).__name__)
                if self._fetched_at is None:
                    raise KeysUnavailable("The token signing keys are unavailable; "
                                          "retry shortly.") from None

    async def _fetch(self) -> None:
        from jwt import PyJWK, PyJWKError

        if self._client is None:
            self._client = httpx.AsyncClient(timeout=10.0)
        self.fetches += 1
        response = await self._client.get(self.jwks_url, headers={"accept": "application/json"})
        response.raise_for_status()
        data = json.loads(response.content)
        if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
            raise ValueError("not a JWK set")
        keys: dict[str, Any] = {}
        for n, jwk in enumerate(data["keys"]):
            if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig":
                continue
            try:
                keys[str(jwk.get("kid", f"#{n}"))] = PyJWK.from_dict(jwk)
            except (PyJWKError, ValueError, TypeError, KeyError):
                log.warning("skipping an unusable key in the JWKS %s", self.jwks_url)
        self._keys = keys
        self._fetched_at = time.monotonic()

    # tokens -----------------------------------------------------------------
    async def verify(self, token: str) -> TokenInfo:
        """The verified token, or :class:`InvalidToken` saying why not."""
        import jwt

        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("The access token is malformed.") from None
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise InvalidToken("The access token is malformed.")
        if header.get("alg") not in self.algorithms:
            raise InvalidToken("The access token's algorithm is not accepted.")
        key = await self._key(kid)
        if key is None:
            raise InvalidToken("The access token is signed with an unknown key.")
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key=key, algorithms=self.algorithms, audience=self.audience,
                issuer=self.issuer, leeway=self.leeway,
                options={"require": ["exp", "iss", "aud", "sub"]})
        except jwt.ExpiredSignatureError:
            raise InvalidToken("The access token expired.") from None
        except jwt.ImmatureSignatureError:
            raise InvalidToken("The access token is not valid yet.") from None
        except jwt.InvalidAudienceError:
            raise InvalidToken("The access token is for another audience.") from None
        except jwt.InvalidIssuerError:
            raise InvalidToken("The access token is from another issuer.") from None
        except jwt.InvalidSignatureError:
            raise InvalidToken("The access token's signature does not verify.") from None
        except jwt.MissingRequiredClaimError as exc:
            raise InvalidToken(f"The access token has no '{exc.claim}' claim.") from None
        except (jwt.PyJWTError, ValueError, TypeError):
            raise InvalidToken("The access token is invalid.") from None
        scopes = _scopes(claims)
        missing = [s for s in self.required_scopes if s not in scopes]
        if missing:
            raise InvalidToken(f"The access token lacks the scope '{missing[0]}'.",
                               "insufficient_scope", 403)
        return TokenInfo(claims, str(claims["sub"]), scopes)

    # descriptions -------------------------------------------------------------
    def metadata(self, resource: str) -> dict[str, Any]:
        """The RFC 9728 protected-resource metadata of ``resource`` (its URL)."""
        out: dict[str, Any] = {"resource": resource, "authorization_servers": [self.issuer],
                               "bearer_methods_supported": ["header"]}
        if self.required_scopes:
            out["scopes_supported"] = list(self.required_scopes)
        return out

    def challenge(self, metadata_url: str | None, error: InvalidToken | None = None) -> str:
        """A ``WWW-Authenticate`` value (RFC 6750, with RFC 9728's ``resource_metadata``)."""
        parts = []
        if error is not None and error.error and error.status != 503:
            parts.append(f'error="{error.error}"')
            parts.append('error_description="' + error.description.replace('"', "'") + '"')
        if self.required_scopes:
            parts.append('scope="' + " ".join(self.required_scopes) + '"')
        if metadata_url:
            parts.append(f'resource_metadata="{metadata_url}"')
        return "Bearer " + ", ".join(parts) if parts else "Bearer"
