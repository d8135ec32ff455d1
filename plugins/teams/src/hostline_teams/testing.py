"""Local fakes of the Bot Framework services, for testing Teams bots for real.

Everything runs as real HTTP servers on free loopback ports (each on
:class:`hostline.testing.FakeServer`), so they work with an in-process
host, a ``hostline serve`` child process, or any other bot:

* :class:`FakeOpenIdService` - the OpenID metadata document and the JWKS
  with ``endorsements``, signing keys generated with ``cryptography``.
* :class:`FakeTokenService` - the Microsoft Entra ID token endpoint: checks
  ``grant_type``, ``client_id``, ``client_secret`` and ``scope`` and issues
  RS256 access tokens.
* :class:`FakeConnector` - the Bot Connector: checks the bearer token on
  every call, records the activities, enforces the Teams streaming rules
  and can be told to answer 429 / 401 / 500 or to be slow.
* :meth:`FakeBotFramework.sign` - signs inbound activities the way the Bot
  Connector does (RS256, ``kid``, ``iss``, ``aud``, ``serviceurl``, ``nbf``,
  ``exp``).

:class:`FakeBotFramework` starts all three and writes the channel config::

    from hostline_teams.testing import FakeBotFramework

    with FakeBotFramework() as bf:
        async with hostline_app(bf.config_toml(stream_interval=0)) as (host, client):
            activity = bf.message("hello")
            response = await bf.post(client, activity)
            assert response.status_code == 202
            [reply] = await bf.connector.wait_for(1, type="message")
            assert reply.activity["text"] == "hello"
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qs, unquote

import attrs
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from hostline.testing import FakeRequest, FakeServer

__all__ = [
    "BOT_FRAMEWORK_ISSUER",
    "CONNECTOR_AUDIENCE",
    "DEFAULT_SCOPE",
    "FakeBotFramework",
    "FakeConnector",
    "FakeOpenIdService",
    "FakeTokenService",
    "RSAKey",
    "Received",
]

BOT_FRAMEWORK_ISSUER = "https://api.botframework.com"
#: The audience of the bot's access tokens (what the connector checks).
CONNECTOR_AUDIENCE = "https://api.botframework.com"
DEFAULT_SCOPE = "https://api.botframework.com/.default"
_AAD_ISSUER = "https://sts.windows.net/d6d49420-f39b-4df7-a1dc-d59a935871db/"


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class RSAKey:
    """An RSA signing key with a key id and the channel ids it endorses."""

    def __init__(self, kid: str | None = None, endorsements: Iterable[str] = ("msteams",),
                 private_key: rsa.RSAPrivateKey | None = None) -> None:
        self.private_key = private_key or rsa.generate_private_key(public_exponent=65537,
                                                                   key_size=2048)
        self.kid = kid or uuid.uuid4().hex
        self.endorsements = list(endorsements)

    def __repr__(self) -> str:
        return f"<RSAKey kid={self.kid!r} endorsements={self.endorsements!r}>"

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        """The public half."""
        return self.private_key.public_key()

    def jwk(self) -> dict[str, Any]:
        """The public key as published in a JWKS (with ``endorsements``)."""
        numbers = self.public_key.public_numbers()
        der = self.public_key.public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
        thumb = base64.urlsafe_b64encode(hashlib.sha1(der).digest()).rstrip(b"=").decode()  # noqa: S324 - x5t is a SHA-1 thumbprint by definition
        return {"kty": "RSA", "use": "sig", "kid": self.kid, "x5t": thumb,
                "n": _b64url_uint(numbers.n), "e": _b64url_uint(numbers.e),
                "endorsements": list(self.endorsements)}

    def sign(self, claims: Mapping[str, Any], *, headers: Mapping[str, Any] | None = None,
             algorithm: str = "RS256") -> str:
        """A JWT of ``claims`` signed with this key, ``kid`` in the header.

        A header set to ``None`` in ``headers`` is left out (``{"kid": None}``).
        """
        head = {"kid": self.kid, "x5t": self.jwk()["x5t"], **(headers or {})}
        head = {k: v for k, v in head.items() if v is not None}
        return jwt.encode(dict(claims), self.private_key, algorithm=algorithm, headers=head)


Reply = tuple[int, dict[str, str], bytes]


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Reply:
    return status, {"Content-Type": "application/json", **(headers or {})}, \
        json.dumps(body).encode()


class _FakeServer:
    """A fake service on :class:`hostline.testing.FakeServer` (127.0.0.1, a free
    port), answering each request with :meth:`handle` in a worker thread, so a
    fake that sleeps to play a slow service never holds the others up."""

    name = "fake"

    def __init__(self) -> None:
        self._server: FakeServer | None = None
        self.lock = threading.RLock()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        if self._server is None:
            raise RuntimeError(f"{self.name} is not started")
        return self._server.url

    def start(self) -> _FakeServer:
        """Listen and serve in a daemon thread."""
        async def answer(request: FakeRequest) -> Reply:
            try:
                return await asyncio.to_thread(self.handle, request.method, request.target,
                                               request.headers, request.body)
            except Exception as exc:  # noqa: BLE001 - a fake must answer, not hang
                return _json(500, {"error": {"code": "FakeServerError",
                                             "message": f"{type(exc).__name__}: {exc}"}})

        self._server = FakeServer(answer, name=f"hostline-{self.name}")
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        """Answer one request: ``(status, headers, body)``."""
        raise NotImplementedError


class FakeOpenIdService(_FakeServer):
    """``GET /v1/.well-known/openidconfiguration`` and the JWKS it points to.

    ``keys`` are published; :meth:`add_key` publishes another (key rotation),
    :meth:`remove_key` withdraws one. Set ``available = False`` to answer 503.
    """

    name = "openid"

    def __init__(self, *, issuer: str = BOT_FRAMEWORK_ISSUER,
                 endorsements: Iterable[str] = ("msteams",),
                 algorithms: Iterable[str] = ("RS256",), key: RSAKey | None = None) -> None:
        super().__init__()
        self.issuer = issuer
        self.algorithms = list(algorithms)
        self.key = key or RSAKey(endorsements=endorsements)
        self.keys: list[RSAKey] = [self.key]
        self._initial = list(self.keys)
        self.available = True
        self.metadata_requests = 0
        self.keys_requests = 0

    @property
    def metadata_url(self) -> str:
        """What the channel's ``openid_metadata_url`` should be."""
        return f"{self.url}/v1/.well-known/openidconfiguration"

    def add_key(self, key: RSAKey | None = None, *, endorsements: Iterable[str] = ("msteams",)
                ) -> RSAKey:
        """Publish another signing key and return it."""
        key = key or RSAKey(endorsements=endorsements)
        with self.lock:
            self.keys.append(key)
        return key

    def remove_key(self, kid: str) -> None:
        """Stop publishing the key ``kid``."""
        with self.lock:
            self.keys = [k for k in self.keys if k.kid != kid]

    def reset(self) -> None:
        """Back to the initial key set and counters."""
        with self.lock:
            self.keys = list(self._initial)
            self.available = True
            self.metadata_requests = self.keys_requests = 0

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        """Serve the metadata and the keys."""
        if method != "GET":
            return _json(405, {"error": "method not allowed"})
        with self.lock:
            if path == "/v1/.well-known/openidconfiguration":
                self.metadata_requests += 1
                if not self.available:
                    return _json(503, {"error": "unavailable"})
                return _json(200, {
                    "issuer": self.issuer,
                    "authorization_endpoint": "https://invalid.botframework.com",
                    "jwks_uri": f"{self.url}/v1/.well-known/keys",
                    "id_token_signing_alg_values_supported": self.algorithms,
                    "token_endpoint_auth_methods_supported": ["private_key_jwt"],
                })
            if path == "/v1/.well-known/keys":
                self.keys_requests += 1
                if not self.available:
                    return _json(503, {"error": "unavailable"})
                return _json(200, {"keys": [k.jwk() for k in self.keys]})
        return _json(404, {"error": "not found"})


@attrs.define
class _Failure:
    status: int
    times: int
    retry_after: str | None
    code: str


class FakeTokenService(_FakeServer):
    """``POST /{tenant}/oauth2/v2.0/token``: the client-credentials grant.

    Validates the form like Microsoft Entra ID (AADSTS-style errors) and
    issues RS256 access tokens for ``https://api.botframework.com`` with the
    ``appid`` claim; :meth:`verify` checks them for :class:`FakeConnector`.
    :meth:`revoke_all` makes every token issued so far invalid.
    """

    name = "token"

    def __init__(self, app_id: str, app_password: str, *, tenant_id: str = "botframework.com",
                 scope: str = DEFAULT_SCOPE, lifetime: int = 3600,
                 key: RSAKey | None = None) -> None:
        super().__init__()
        self.app_id = app_id
        self.app_password = app_password
        self.tenant_id = tenant_id
        self.scope = scope
        self.lifetime = lifetime
        self.key = key or RSAKey(endorsements=())
        self.requests = 0
        self.issued: list[str] = []
        self._revoked: set[str] = set()
        self._failures: list[_Failure] = []

    def __repr__(self) -> str:
        return f"<FakeTokenService app_id={self.app_id!r}>"

    @property
    def token_url(self) -> str:
        """A ``token_url`` for the channel config (``{tenant_id}`` left to fill in)."""
        return f"{self.url}/{{tenant_id}}/oauth2/v2.0/token"

    def fail_next(self, status: int, *, times: int = 1, retry_after: str | None = None,
                  error: str = "temporarily_unavailable") -> None:
        """Answer the next ``times`` token requests with ``status``."""
        with self.lock:
            self._failures.append(_Failure(status, times, retry_after, error))

    def revoke_all(self) -> None:
        """Invalidate every token issued so far (the connector then answers 401)."""
        with self.lock:
            self._revoked.update(self.issued)

    def reset(self) -> None:
        """Forget requests, tokens and injected failures."""
        with self.lock:
            self.requests = 0
            self.issued.clear()
            self._revoked.clear()
            self._failures.clear()

    def verify(self, token: str) -> dict[str, Any] | None:
        """The claims of a valid, unrevoked access token for this bot, else ``None``."""
        try:
            claims: dict[str, Any] = jwt.decode(token, self.key.public_key, algorithms=["RS256"],
                                                audience=CONNECTOR_AUDIENCE)
        except jwt.PyJWTError:
            return None
        with self.lock:
            if claims.get("jti") in self._revoked or claims.get("appid") != self.app_id:
                return None
        return claims

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        """Issue a token or answer like Entra ID does to a bad request."""
        parts = path.split("?")[0].strip("/").split("/")
        if method != "POST" or len(parts) != 4 or parts[1:] != ["oauth2", "v2.0", "token"]:
            return _json(404, {"error": "not_found"})
        with self.lock:
            self.requests += 1
            if self._failures:
                failure = self._failures[0]
                failure.times -= 1
                if failure.times <= 0:
                    self._failures.pop(0)
                extra = {"Retry-After": failure.retry_after} if failure.retry_after else {}
                return _json(failure.status, {"error": failure.code,
                                              "error_description": "injected failure"}, extra)
        if unquote(parts[0]) != self.tenant_id:
            return _json(400, {"error": "invalid_request", "error_description":
                               f"AADSTS90002: Tenant '{unquote(parts[0])}' not found."})
        if not headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return _json(400, {"error": "invalid_request", "error_description":
                               "AADSTS900144: the request body must be form-encoded"})
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        if form.get("grant_type") != "client_credentials":
            return _json(400, {"error": "unsupported_grant_type", "error_description":
                               "AADSTS70003: grant_type must be client_credentials"})
        if form.get("client_id") != self.app_id:
            return _json(400, {"error": "unauthorized_client", "error_description":
                               "AADSTS700016: Application not found in the directory."})
        if form.get("client_secret") != self.app_password:
            return _json(401, {"error": "invalid_client", "error_description":
                               "AADSTS7000215: Invalid client secret provided."})
        if form.get("scope") != self.scope:
            return _json(400, {"error": "invalid_scope", "error_description":
                               "AADSTS70011: The provided value for scope is not valid."})
        now = int(time.time())
        jti = uuid.uuid4().hex
        token = self.key.sign({"aud": CONNECTOR_AUDIENCE, "iss": _AAD_ISSUER, "iat": now,
                               "nbf": now, "exp": now + self.lifetime, "appid": self.app_id,
                               "ver": "1.0", "jti": jti})
        with self.lock:
            self.issued.append(jti)
        return _json(200, {"token_type": "Bearer", "expires_in": self.lifetime,
                           "ext_expires_in": self.lifetime, "access_token": token})


@attrs.frozen
class Received:
    """One activity the fake connector accepted."""

    conversation_id: str
    reply_to_id: str | None
    activity: dict[str, Any]
    token_claims: dict[str, Any]
    id: str

    @property
    def type(self) -> str:
        """``activity["type"]``."""
        return str(self.activity.get("type"))

    @property
    def text(self) -> str | None:
        """``activity["text"]``."""
        text = self.activity.get("text")
        return text if isinstance(text, str) else None

    @property
    def stream_info(self) -> dict[str, Any] | None:
        """The ``streaminfo`` entity, if any."""
        for entity in self.activity.get("entities") or []:
            if isinstance(entity, dict) and entity.get("type") == "streaminfo":
                return entity
        return None


@attrs.define
class _Stream:
    conversation_id: str
    last_sequence: int
    done: bool = False


class FakeConnector(_FakeServer):
    """The Bot Connector's ``/v3/conversations/{id}/activities[/{replyToId}]``.

    Every call must carry ``Authorization: Bearer <token from the token
    service>`` (else 401). Accepted activities are in :attr:`received`;
    :meth:`fail_next` injects errors, :attr:`delay` slows every answer.
    Streaming activities are checked against the Teams rules (sequence
    starts at 1 and increases, ``streamId`` = the first activity's id, the
    final message has no sequence, nothing after the final).
    """

    name = "connector"

    def __init__(self, tokens: FakeTokenService) -> None:
        super().__init__()
        self.tokens = tokens
        self.received: list[Received] = []
        self.unauthorized = 0
        self.requests = 0
        self.delay = 0.0
        self._failures: list[_Failure] = []
        self._stalls: list[float] = []
        self._streams: dict[str, _Stream] = {}
        self._counter = 0

    @property
    def service_url(self) -> str:
        """The ``serviceUrl`` to put in inbound activities (with the trailing slash)."""
        return f"{self.url}/"

    def fail_next(self, status: int, *, times: int = 1, retry_after: str | None = None,
                  code: str = "ServiceError") -> None:
        """Answer the next ``times`` authorized calls with ``status``."""
        with self.lock:
            self._failures.append(_Failure(status, times, retry_after, code))

    def stall_next(self, seconds: float, *, times: int = 1) -> None:
        """Make the next ``times`` calls hang for ``seconds``, then answer 504
        without processing them (a call lost on a slow path: the bot times out)."""
        with self.lock:
            self._stalls.extend([seconds] * times)

    def reset(self) -> None:
        """Forget received activities, streams and injected failures."""
        with self.lock:
            self.received.clear()
            self._failures.clear()
            self._stalls.clear()
            self._streams.clear()
            self.unauthorized = self.requests = 0
            self.delay = 0.0

    def activities(self, **match: Any) -> list[Received]:
        """Received activities whose top-level fields equal ``match`` (e.g. ``type="message"``)."""
        with self.lock:
            items = list(self.received)
        return [r for r in items if all(r.activity.get(k) == v for k, v in match.items())]

    async def wait_for(self, count: int = 1, *, timeout: float = 10.0,
                       where: Callable[[Received], bool] | None = None,
                       **match: Any) -> list[Received]:
        """Wait (without blocking the event loop) until ``count`` matching activities arrived."""
        deadline = time.monotonic() + timeout
        while True:
            found = [r for r in self.activities(**match) if where is None or where(r)]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} activities matching {match}, got "
                                     f"{len(found)}; all received: "
                                     f"{[(r.type, r.text) for r in self.activities()]}")
            await asyncio.sleep(0.01)

    def wait_for_sync(self, count: int = 1, *, timeout: float = 10.0,
                      where: Callable[[Received], bool] | None = None,
                      **match: Any) -> list[Received]:
        """:meth:`wait_for` for synchronous code (a server in another process)."""
        deadline = time.monotonic() + timeout
        while True:
            found = [r for r in self.activities(**match) if where is None or where(r)]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} activities matching {match}, got "
                                     f"{len(found)}: {[(r.type, r.text) for r in found]}")
            time.sleep(0.01)

    def _next_id(self) -> str:
        self._counter += 1
        return f"{int(time.time() * 1000)}{self._counter:04d}"

    def _check_stream(self, conversation_id: str, activity: dict[str, Any],
                      info: dict[str, Any]) -> Reply | None:
        """Teams streaming rules; ``None`` when the activity may proceed."""
        def bad(message: str, status: int = 400, code: str = "BadArgument") -> Reply:
            return _json(status, {"error": {"code": code, "message": message}})

        stream_type = info.get("streamType", "streaming")
        stream_id = info.get("streamId")
        sequence = info.get("streamSequence")
        if stream_type not in ("informative", "streaming", "final"):
            return bad(f"unknown streamType {stream_type!r}")
        if stream_type == "final":
            if activity.get("type") != "message":
                return bad("the final streaming activity must be a message")
            if sequence is not None:
                return bad("streamSequence must not be set on the final message")
        elif activity.get("type") != "typing":
            return bad("streaming updates must be typing activities")
        elif not isinstance(sequence, int) or isinstance(sequence, bool):
            return bad("streamSequence is required")
        if not isinstance(activity.get("text"), str) or not activity["text"]:
            if stream_type != "final" or not activity.get("attachments"):
                return bad("Start streaming activities should include text")
        if stream_id is None:
            if stream_type == "final" or sequence != 1:
                return bad("a stream must start with streamSequence 1")
            return None
        stream = self._streams.get(str(stream_id))
        if stream is None or stream.conversation_id != conversation_id:
            return bad(f"unknown streamId {stream_id!r}")
        if stream.done:
            return bad("Content stream is not allowed on an already completed streamed message",
                       403, "ContentStreamNotAllowed")
        if isinstance(sequence, int) and sequence <= stream.last_sequence:
            return bad("streamSequence must increase", 202,
                       "ContentStreamSequenceOrderPreConditionFailed")
        return None

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        """Check the token, then accept (and record) or refuse the activity."""
        if self.delay:
            time.sleep(self.delay)
        raw_path = path.split("?")[0]
        parts = raw_path.strip("/").split("/")
        if method != "POST" or len(parts) not in (4, 5) or parts[0] != "v3" \
                or parts[1] != "conversations" or parts[3] != "activities":
            return _json(404, {"error": {"code": "NotFound", "message": "no such endpoint"}})
        conversation_id = unquote(parts[2])
        reply_to_id = unquote(parts[4]) if len(parts) == 5 else None
        with self.lock:
            self.requests += 1
            stall = self._stalls.pop(0) if self._stalls else None
        if stall is not None:
            time.sleep(stall)
            return _json(504, {"error": {"code": "GatewayTimeout", "message": "stalled"}})
        scheme, _, token = headers.get("authorization", "").partition(" ")
        claims = self.tokens.verify(token.strip()) if scheme == "Bearer" else None
        if claims is None:
            with self.lock:
                self.unauthorized += 1
            return _json(401, {"message": "Authorization has been denied for this request."})
        with self.lock:
            if self._failures:
                failure = self._failures[0]
                failure.times -= 1
                if failure.times <= 0:
                    self._failures.pop(0)
                extra = {"Retry-After": failure.retry_after} if failure.retry_after else {}
                return _json(failure.status, {"error": {"code": failure.code,
                                                        "message": "injected failure"}}, extra)
        if not headers.get("content-type", "").startswith("application/json"):
            return _json(415, {"error": {"code": "BadArgument", "message": "expected JSON"}})
        try:
            activity = json.loads(body)
        except ValueError:
            return _json(400, {"error": {"code": "BadArgument", "message": "invalid JSON"}})
        if not isinstance(activity, dict) or not isinstance(activity.get("type"), str):
            return _json(400, {"error": {"code": "BadArgument",
                                         "message": "the activity needs a type"}})
        conversation = activity.get("conversation")
        if isinstance(conversation, dict) and conversation.get("id") not in (
                None, conversation_id):
            return _json(400, {"error": {"code": "BadArgument",
                                         "message": "conversation id mismatch"}})
        if activity["type"] == "message" and not activity.get("text") \
                and not activity.get("attachments"):
            return _json(400, {"error": {"code": "BadArgument",
                                         "message": "a message needs text or attachments"}})
        info = next((e for e in activity.get("entities") or []
                     if isinstance(e, dict) and e.get("type") == "streaminfo"), None)
        with self.lock:
            status = 200
            activity_id = self._next_id()
            if info is not None:
                refused = self._check_stream(conversation_id, activity, info)
                if refused is not None:
                    return refused
                stream_id = info.get("streamId")
                if stream_id is None:
                    self._streams[activity_id] = _Stream(conversation_id,
                                                         int(info["streamSequence"]))
                    status = 201
                else:
                    stream = self._streams[str(stream_id)]
                    if info.get("streamType") == "final":
                        stream.done = True
                    else:
                        stream.last_sequence = int(info["streamSequence"])
                    status = 202
            self.received.append(Received(conversation_id, reply_to_id, activity, claims,
                                           activity_id))
        if status == 202:
            return _json(202, {})
        return _json(status, {"id": activity_id})


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


class FakeBotFramework:
    """The three fakes together, plus activity builders and the inbound signer.

    Use as a context manager (or :meth:`start` / :meth:`stop`); :meth:`reset`
    returns everything to the initial state between tests.
    """

    def __init__(self, *, app_id: str = "00000000-0000-0000-0000-00000000b07a",
                 app_password: str = "fake-app-password-do-not-use",  # noqa: S107
                 tenant_id: str = "botframework.com", channel_id: str = "msteams",
                 bot_name: str = "hostline-bot", token_lifetime: int = 3600) -> None:
        self.app_id = app_id
        self.app_password = app_password
        self.tenant_id = tenant_id
        self.channel_id = channel_id
        self.bot_name = bot_name
        self.openid = FakeOpenIdService(endorsements=(channel_id,))
        self.tokens = FakeTokenService(app_id, app_password, tenant_id=tenant_id,
                                       lifetime=token_lifetime)
        self.connector = FakeConnector(self.tokens)
        self._ids = 0

    def __repr__(self) -> str:
        return f"<FakeBotFramework app_id={self.app_id!r}>"

    def start(self) -> FakeBotFramework:
        """Start the three servers."""
        self.openid.start()
        self.tokens.start()
        self.connector.start()
        return self

    def stop(self) -> None:
        """Stop the three servers."""
        self.connector.stop()
        self.tokens.stop()
        self.openid.stop()

    def __enter__(self) -> FakeBotFramework:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def reset(self) -> None:
        """Initial keys, no tokens, no received activities, no injected failures."""
        self.openid.reset()
        self.tokens.reset()
        self.connector.reset()

    @property
    def service_url(self) -> str:
        """The connector's ``serviceUrl``."""
        return self.connector.service_url

    @property
    def bot_id(self) -> str:
        """The bot's Teams id (``28:<app id>``)."""
        return f"28:{self.app_id}"

    def channel_options(self, **options: Any) -> dict[str, Any]:
        """The channel's config keys pointing at the fakes, plus ``options``."""
        return {"app_id": self.app_id, "app_password": self.app_password,
                "tenant_id": self.tenant_id, "openid_metadata_url": self.openid.metadata_url,
                "token_url": self.tokens.token_url, **options}

    def config_toml(self, instance: str = "teams", **options: Any) -> str:
        """A ``[channels.<instance>]`` table for ``hostline.toml``."""
        lines = [f"[channels.{instance}]"]
        if instance != "teams":
            lines.append('plugin = "teams"')
        for key, value in self.channel_options(**options).items():
            if value is not None:
                lines.append(f"{key} = {_toml_value(value)}")
        return "\n".join(lines) + "\n"

    # inbound -----------------------------------------------------------------
    def sign(self, activity: Mapping[str, Any], *, key: RSAKey | None = None,
             issuer: str = BOT_FRAMEWORK_ISSUER, audience: str | None = None,
             service_url: str | None = None, not_before: float | None = None,
             expires: float | None = None, omit: Iterable[str] = (),
             claims: Mapping[str, Any] | None = None, headers: Mapping[str, Any] | None = None,
             algorithm: str = "RS256") -> str:
        """``Bearer <jwt>`` for ``activity``, as the Bot Connector signs it.

        Defaults: the published key, ``iss`` = ``https://api.botframework.com``,
        ``aud`` = the app id, ``serviceurl`` = the activity's ``serviceUrl``,
        valid from now for an hour. Override any of them to forge a bad one.
        """
        now = time.time()
        body: dict[str, Any] = {
            "iss": issuer, "aud": audience if audience is not None else self.app_id,
            "serviceurl": service_url if service_url is not None else activity.get("serviceUrl"),
            "nbf": int(not_before if not_before is not None else now),
            "exp": int(expires if expires is not None else now + 3600),
            "iat": int(now),
        }
        body.update(claims or {})
        for name in omit:
            body.pop(name, None)
        return "Bearer " + (key or self.openid.key).sign(body, headers=headers,
                                                          algorithm=algorithm)

    def _activity(self, kind: str, *, conversation_id: str = "a:personal-1",
                  conversation_type: str = "personal", user_id: str = "29:user-1",
                  aad_object_id: str | None = "aad-user-1", user_name: str = "Ada Lovelace",
                  tenant_id: str = "tenant-1", activity_id: str | None = None,
                  service_url: str | None = None, channel_id: str | None = None,
                  **fields: Any) -> dict[str, Any]:
        self._ids += 1
        user: dict[str, Any] = {"id": user_id, "name": user_name}
        if aad_object_id:
            user["aadObjectId"] = aad_object_id
        conversation: dict[str, Any] = {"id": conversation_id,
                                        "conversationType": conversation_type,
                                        "tenantId": tenant_id}
        if conversation_type != "personal":
            conversation["isGroup"] = True
        activity: dict[str, Any] = {
            "type": kind,
            "id": activity_id or f"{int(time.time() * 1000)}{self._ids:04d}",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "serviceUrl": service_url or self.service_url,
            "channelId": channel_id or self.channel_id,
            "from": user,
            "conversation": conversation,
            "recipient": {"id": self.bot_id, "name": self.bot_name},
            "locale": "en-US",
            "channelData": {"tenant": {"id": tenant_id}},
        }
        activity.update(fields)
        return activity

    def message(self, text: str = "", *, mention: bool = False, **kw: Any) -> dict[str, Any]:
        """A ``message`` activity; ``mention=True`` prefixes an ``<at>`` mention of the bot."""
        entities = list(kw.pop("entities", []))
        if mention:
            tag = f"<at>{self.bot_name}</at>"
            text = f"{tag} {text}"
            entities.append({"type": "mention", "text": tag,
                             "mentioned": {"id": self.bot_id, "name": self.bot_name}})
        if entities:
            kw["entities"] = entities
        return self._activity("message", text=text, textFormat="plain", **kw)

    def conversation_update(self, members_added: Iterable[Mapping[str, Any]] | None = None,
                            **kw: Any) -> dict[str, Any]:
        """A ``conversationUpdate``; by default the bot was just added."""
        added = [dict(m) for m in members_added] if members_added is not None else [
            {"id": self.bot_id}]
        return self._activity("conversationUpdate", membersAdded=added, **kw)

    def invoke(self, name: str = "adaptiveCard/action", value: Any = None,
               **kw: Any) -> dict[str, Any]:
        """An ``invoke``; by default an Adaptive Card ``Action.Execute``."""
        if value is None and name == "adaptiveCard/action":
            value = {"action": {"type": "Action.Execute", "verb": "submit", "data": {}},
                     "trigger": "manual"}
        return self._activity("invoke", name=name, value=value, **kw)

    def typing(self, **kw: Any) -> dict[str, Any]:
        """A ``typing`` activity from the user."""
        return self._activity("typing", **kw)

    def reaction(self, reply_to_id: str = "1", **kw: Any) -> dict[str, Any]:
        """A ``messageReaction`` (a like on a bot message)."""
        return self._activity("messageReaction", replyToId=reply_to_id,
                              reactionsAdded=[{"type": "like"}], **kw)

    async def post(self, client: Any, activity: Mapping[str, Any], *,
                   path: str = "/teams/api/messages", authorization: str | None = None,
                   **sign: Any) -> Any:
        """POST ``activity`` signed (or with ``authorization``) with an ``httpx.AsyncClient``."""
        auth = authorization if authorization is not None else self.sign(activity, **sign)
        headers = {"Authorization": auth} if auth else {}
        return await client.post(path, json=dict(activity), headers=headers)

    def post_sync(self, base_url: str, activity: Mapping[str, Any], *,
                  path: str = "/teams/api/messages", authorization: str | None = None,
                  **sign: Any) -> Any:
        """POST ``activity`` to a server at ``base_url`` with a blocking ``httpx`` call."""
        import httpx

        auth = authorization if authorization is not None else self.sign(activity, **sign)
        headers = {"Authorization": auth} if auth else {}
        return httpx.post(base_url.rstrip("/") + path, json=dict(activity), headers=headers,
                          timeout=10.0)
