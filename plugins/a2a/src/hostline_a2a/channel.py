"""The A2A channel: an agent card and JSON-RPC, on the official ``a2a-sdk``.

For the instance ``a2a``: the card at ``/a2a/.well-known/agent-card.json``
(public), JSON-RPC at ``/a2a/`` (authenticated). The SDK's dispatcher serves
the A2A 1.0 methods (``SendMessage``, ``SendStreamingMessage``, ``GetTask``,
``CancelTask``, ``SubscribeToTask``, ``ListTasks``, the push-config methods)
and, through its 0.3 compatibility adapter on the same endpoint, the 0.3
names (``message/send``, ``message/stream``, ``tasks/get``,
``tasks/cancel``, ``tasks/resubscribe``, ``tasks/pushNotificationConfig/*``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from a2a.server.context import ServerCallContext
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes.common import DefaultServerCallContextBuilder
from a2a.server.routes.jsonrpc_dispatcher import JsonRpcDispatcher
from a2a.types.a2a_pb2 import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentSkill,
    HTTPAuthSecurityScheme,
    SecurityRequirement,
    SecurityScheme,
    StringList,
)
from a2a.utils.push_url_validator import validate_push_notification_url
from google.protobuf.json_format import MessageToDict
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hostline import (
    BadRequest,
    BearerAuth,
    Channel,
    Host,
    Identity,
    InvalidToken,
    current_isolation,
    encode_json_bytes,
    hookimpl,
    read_json,
)

from .config import A2AConfig
from .executor import HostlineExecutor
from .push import OutboxPushSender
from .stores import IDENTITY, ISOLATION, PushConfigs, Tasks

__all__ = ["A2AChannel"]

log = logging.getLogger("hostline.a2a")

CARD_PATH = "/.well-known/agent-card.json"
_SCHEME = "bearer"


class _ClientErrorsAreDebug(logging.Filter):
    """The SDK logs a request it cannot validate (the client's mistake, answered
    with a JSON-RPC error) at ERROR with a traceback: keep it at DEBUG here."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and record.getMessage().startswith(
                "Failed to validate"):
            log.debug("a2a: refused an invalid request: %s", record.exc_info and
                      record.exc_info[1])
            return False
        return True


for _name in ("a2a.server.routes.jsonrpc_dispatcher", "a2a.compat.v0_3.jsonrpc_adapter"):
    logging.getLogger(_name).addFilter(_ClientErrorsAreDebug())


def _jsonrpc_error(status: int, code: int, message: str,
                   headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"jsonrpc": "2.0", "id": None,
                         "error": {"code": code, "message": message}},
                        status_code=status, headers=headers)


class _ContextBuilder(DefaultServerCallContextBuilder):
    """Puts the authenticated identity and the isolation keys in the call context."""

    def build(self, request: Request) -> ServerCallContext:
        context = super().build(request)
        # The SDK reads A2A-Version from these; credentials are not kept.
        headers = context.state.get("headers") or {}
        context.state["headers"] = {k: v for k, v in headers.items()
                                    if k.lower() not in ("authorization", "cookie")}
        context.state[IDENTITY] = request.scope.get(IDENTITY)
        context.state[ISOLATION] = request.scope.get(ISOLATION)
        return context


class A2AChannel(Channel):
    """The agent as an A2A server (JSON-RPC binding)."""

    Config = A2AConfig
    streaming = True
    needs_secrets = False

    def __init__(self, name: str, config: A2AConfig, host: Host) -> None:
        super().__init__(name, config, host)
        self.config: A2AConfig = config
        self.auth = BearerAuth.for_channel(name, config, source=host.config.source,
                                           bind=host.config.host.bind)
        self.oauth = self.auth.oauth
        ns = f"a2a:{name}"
        self.tasks = Tasks(host, ns, config.task_ttl, config.task_lease)
        self.push_configs = PushConfigs(host, ns, config.task_ttl)
        self.push = OutboxPushSender(host, self.push_configs, f"a2a.push:{name}")
        self.handler = DefaultRequestHandler(
            agent_executor=HostlineExecutor(host, name, self.tasks), task_store=self.tasks,
            agent_card=self.card(None), push_config_store=self.push_configs,
            push_sender=self.push,
            push_url_validator=None if config.push_allow_private
            else validate_push_notification_url)
        self.dispatcher = JsonRpcDispatcher(self.handler, context_builder=_ContextBuilder(),
                                            enable_v0_3_compat=True)

    # the card -------------------------------------------------------------------
    def _url(self, request: Request | None) -> str:
        if self.config.url:
            return self.config.url
        base = self.host.config.host.public_url
        if not base:
            base = (str(request.base_url) if request is not None
                    else f"http://{self.host.config.host.bind}")
        return f"{base.rstrip('/')}/{self.name}/"

    def card(self, request: Request | None) -> AgentCard:
        """The agent card; its ``securitySchemes`` are what :attr:`auth` enforces."""
        c = self.config
        skills = [AgentSkill(id=s.id, name=s.name, description=s.description or s.name,
                             tags=s.tags or [s.id], examples=s.examples) for s in c.skills]
        if not skills:
            skills = [AgentSkill(id="chat", name="Chat", description=c.description,
                                 tags=["chat"])]
        card = AgentCard(
            name=c.name or self.host.target.name, description=c.description,
            version=c.version,
            supported_interfaces=[AgentInterface(url=self._url(request),
                                                 protocol_binding="JSONRPC",
                                                 protocol_version="1.0")],
            capabilities=AgentCapabilities(streaming=True, push_notifications=True),
            default_input_modes=["text/plain"], default_output_modes=["text/plain"],
            skills=skills)
        if self.auth.configured:
            described = "API key" if not self.oauth else (
                "OAuth 2.1 access token (JWT)" if not self.auth.keys
                else "API key or OAuth 2.1 access token (JWT)")
            card.security_schemes[_SCHEME].CopyFrom(SecurityScheme(
                http_auth_security_scheme=HTTPAuthSecurityScheme(
                    scheme="Bearer", description=described,
                    bearer_format="JWT" if self.oauth and not self.auth.keys else "")))
            requirement = SecurityRequirement()
            requirement.schemes[_SCHEME].CopyFrom(StringList(list=list(c.required_scopes)))
            card.security_requirements.append(requirement)
        return card

    # hooks ----------------------------------------------------------------
    @hookimpl
    def hostline_routes(self, host: Host) -> list[Route]:
        """The card and the JSON-RPC endpoint."""
        return [Route(CARD_PATH, self.get_card, methods=["GET"]),
                Route("/", self.rpc, methods=["POST"])]

    @hookimpl
    def hostline_task_handlers(self, host: Host) -> dict[str, Any]:
        """Push-notification deliveries run in the durable runner."""
        return self.push.handlers()

    @hookimpl
    def hostline_lifespan(self, host: Host) -> Any:
        """Close the HTTP clients at shutdown."""
        return self._lifespan()

    @contextlib.asynccontextmanager
    async def _lifespan(self) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await self.push.aclose()
            if self.oauth is not None:
                await self.oauth.aclose()

    # endpoints --------------------------------------------------------------
    async def get_card(self, request: Request) -> Response:
        """``GET /.well-known/agent-card.json`` (public, as A2A discovery needs)."""
        return JSONResponse(MessageToDict(self.card(request)))

    async def rpc(self, request: Request) -> Response:
        """``POST /``: authenticate, read under hostline's JSON policy, dispatch."""
        try:
            identity: Identity = await self.auth.authenticate(request.scope, request.headers)
        except InvalidToken as exc:
            with contextlib.suppress(Exception):
                await request.body()
            if exc.status == 503:
                return _jsonrpc_error(503, -32603, exc.description, {"retry-after": "5"})
            return _jsonrpc_error(exc.status, -32001, exc.description,
                                  {"www-authenticate": self.auth.challenge(None, exc)})
        try:
            body = encode_json_bytes(await read_json(request))
        except BadRequest as exc:
            return _jsonrpc_error(exc.status, -32700 if exc.status == 400 else -32600,
                                  exc.message)
        scope = dict(request.scope)
        scope[IDENTITY] = identity
        scope[ISOLATION] = current_isolation()
        sent = False

        async def replay() -> Any:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await request.receive()

        return await self.dispatcher.handle_requests(Request(scope, replay))
