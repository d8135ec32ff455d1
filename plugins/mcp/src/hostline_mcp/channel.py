"""The MCP channel: the served agent as one tool over Streamable HTTP.

For the instance ``mcp`` the endpoint is ``http://HOST/mcp/`` (POST, GET and
DELETE as the Streamable HTTP transport defines them); with OAuth, the
RFC 9728 metadata is at ``/mcp/.well-known/oauth-protected-resource``.

The tool takes ``{"input": str, "session_id"?: str}`` and returns the answer
as text content with ``{"session_id": str}`` as structured content; passing
the id back continues that hostline session. A streaming target's partial
text goes out as progress notifications when the caller asks for progress.
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
from collections.abc import AsyncIterator
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel.server import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.exceptions import MCPError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hostline import (
    BearerAuth,
    Channel,
    Host,
    Identity,
    IsolationKeys,
    Message,
    Reject,
    error_response,
    hookimpl,
)

from .config import MCPConfig
from .gate import IDENTITY, ISOLATION, Gate

__all__ = ["MCPChannel"]

log = logging.getLogger("hostline.mcp")

_SESSION_ID = re.compile(r"[A-Za-z0-9._:@-]{1,200}")
_MAX_INPUT = 1_000_000

try:
    _VERSION = version("hostline-mcp")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    _VERSION = "0"


def _text_result(text: str, *, error: bool = False,
                 session_id: str | None = None) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)],
        structured_content={"session_id": session_id} if session_id is not None else None,
        is_error=error)


class MCPChannel(Channel):
    """The agent as an MCP server with one tool."""

    Config = MCPConfig
    streaming = True
    needs_secrets = False

    def __init__(self, name: str, config: MCPConfig, host: Host) -> None:
        super().__init__(name, config, host)
        self.config: MCPConfig = config
        self.auth = BearerAuth.for_channel(name, config, source=host.config.source,
                                           bind=host.config.host.bind)
        self.oauth = self.auth.oauth
        self.server: Server[Any] = Server(
            config.server_name or host.target.name, version=_VERSION,
            instructions=config.tool_description,
            on_list_tools=self._list_tools, on_call_tool=self._call_tool)
        self.manager = StreamableHTTPSessionManager(
            app=self.server, stateless=config.stateless, json_response=config.json_response,
            max_request_body_size=host.config.host.max_body_bytes)
        self.gate = Gate(name, self.auth, self.manager, host.config.host.public_url)
        self._active = 0

    # hooks ----------------------------------------------------------------
    @hookimpl
    def hostline_routes(self, host: Host) -> list[Route]:
        """The Streamable HTTP endpoint and, with OAuth, its resource metadata."""
        routes = [Route("/", self.gate, methods=["GET", "POST", "DELETE"])]
        if self.oauth is not None:
            routes.append(Route("/.well-known/oauth-protected-resource", self.metadata,
                                methods=["GET"]))
        return routes

    @hookimpl
    def hostline_lifespan(self, host: Host) -> Any:
        """The SDK's session manager runs for the host's lifetime."""
        return self._lifespan()

    @contextlib.asynccontextmanager
    async def _lifespan(self) -> AsyncIterator[None]:
        try:
            async with self.manager.run():
                yield
        finally:
            if self.oauth is not None:
                await self.oauth.aclose()

    async def metadata(self, request: Request) -> Response:
        """``GET /.well-known/oauth-protected-resource`` (RFC 9728)."""
        if self.oauth is None:  # pragma: no cover - the route exists only with OAuth
            return error_response(404, "no OAuth configured")
        return JSONResponse(self.oauth.metadata(self.oauth.audience))

    # MCP handlers -------------------------------------------------------------
    def tool(self) -> types.Tool:
        """The one tool this server lists."""
        return types.Tool(
            name=self.config.tool_name, description=self.config.tool_description,
            input_schema={
                "type": "object",
                "properties": {
                    "input": {"type": "string", "description": "What to ask or say."},
                    "session_id": {"type": "string", "description":
                                   "A session_id returned earlier: continue that conversation."},
                },
                "required": ["input"], "additionalProperties": False},
            output_schema={"type": "object", "properties": {"session_id": {"type": "string"}},
                           "required": ["session_id"]},
            annotations=types.ToolAnnotations(read_only_hint=False, destructive_hint=False,
                                              open_world_hint=True))

    async def _list_tools(self, ctx: ServerRequestContext[Any],
                          params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[self.tool()])

    @staticmethod
    def _caller(ctx: ServerRequestContext[Any]) -> tuple[Identity, IsolationKeys]:
        request = ctx.request
        scope = getattr(request, "scope", None) or {}
        identity = scope.get(IDENTITY)
        if not isinstance(identity, Identity):
            raise MCPError(-32001, "Not authenticated.")
        iso = scope.get(ISOLATION)
        return identity, iso if isinstance(iso, IsolationKeys) else IsolationKeys()

    async def _call_tool(self, ctx: ServerRequestContext[Any],
                         params: types.CallToolRequestParams) -> types.CallToolResult:
        if params.name != self.config.tool_name:
            raise MCPError(-32602, f"Unknown tool: {params.name[:100]}")
        identity, iso = self._caller(ctx)
        args = params.arguments or {}
        text = args.get("input")
        sid = args.get("session_id")
        unknown = sorted(k for k in args if k not in ("input", "session_id"))
        if unknown:
            return _text_result(f"Unknown argument '{unknown[0][:100]}'.", error=True)
        if not isinstance(text, str) or not text.strip():
            return _text_result("'input' must be a non-empty string.", error=True)
        if len(text) > _MAX_INPUT:
            return _text_result(f"'input' is over {_MAX_INPUT} characters.", error=True)
        if sid is not None and (not isinstance(sid, str) or not _SESSION_ID.fullmatch(sid)):
            return _text_result("'session_id' must be a session_id this tool returned.",
                                error=True)
        if self._active >= self.config.max_concurrent_runs:
            return _text_result("Too many calls at once; retry shortly.", error=True)
        session_id = sid or secrets.token_hex(16)
        self._active += 1
        try:
            return await self._run(ctx, identity, iso, text, session_id, fresh=sid is None)
        finally:
            self._active -= 1

    async def _run(self, ctx: ServerRequestContext[Any], identity: Identity, iso: IsolationKeys,
                   text: str, session_id: str, *, fresh: bool) -> types.CallToolResult:
        try:
            turn = await self.host.begin_turn(
                channel=self.name, scope=f"{identity.native_id}:{session_id}",
                input=[Message.user(text)], identity=identity, isolation=iso, fresh=fresh)
        except Reject as exc:
            return _text_result(exc.reply or "Not allowed.", error=True)
        partial: list[str] = []
        try:
            # Progress is a no-op unless the caller sent a progress token.
            async for update in turn.stream():
                if update.delta:
                    partial.append(update.delta)
                    await ctx.session.report_progress(len(partial), None, "".join(partial))
        except Exception as exc:  # the target's failure: an error result, no traceback
            log.warning("tool call on %s: the target failed: %s", self.name,
                        type(exc).__name__, exc_info=exc)
            return _text_result("The agent failed while answering.", error=True,
                                session_id=session_id)
        reply = turn.reply
        answer = "\n\n".join(m.text for m in (reply.messages if reply else ()) if m.text)
        return _text_result(answer, session_id=session_id)
