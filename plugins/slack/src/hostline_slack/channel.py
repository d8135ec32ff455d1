"""The Slack channel: signed requests in, the Web API out.

Every request Slack sends (events, slash commands, interactions) takes the
host's durable path: the signature and timestamp are checked on the raw
body, the payload is committed as a runner task (keyed by ``event_id`` and
remembered, so Slack's retries and a restart never run it twice) and Slack
gets its 200 well inside its 3 seconds. Tasks run in the runner, one at a
time per thread, fair across threads; a thread is the conversation.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import hostline
from hostline import (
    DeliveryReceipt,
    Destination,
    Message,
    RunResult,
    Task,
    TextPart,
)

from . import assistant, interactive, oauth, people
from .api import SlackAPI, SlackError, SlackPermanentError
from .config import SlackConfig
from .delivery import FEEDBACK_ACTION, Poster, Where
from .errors import FileTooLarge
from .events import d, files_of, partition_of, s, skip_at_ack, slack_id, strip_mentions
from .installations import Installations
from .signing import SignatureError, verify
from .stream import stream_answer

log = logging.getLogger("hostline.slack")

__all__ = ["SlackChannel"]

THREADS_NS = "slack-threads"
SEEN_NS = "slack-seen"


class SlackChannel(hostline.Channel):
    """A Slack app: ``[channels.<name>]`` with ``plugin = "slack"``.

    Hooks: routes (``/events``, ``/commands``, ``/interactions`` and with
    OAuth ``/install`` and ``/oauth/callback``), a lifespan (the HTTP client,
    ``auth.test``), runner task handlers and ``hostline_push``. Targets fetch
    an incoming file with ``await host.channels[name].download(part.file_id)``.
    """

    Config = SlackConfig
    streaming = True
    needs_secrets = True

    def __init__(self, name: str, config: SlackConfig, host: hostline.Host) -> None:
        super().__init__(name, config, host)
        self.config: SlackConfig = config
        self._api: SlackAPI | None = None
        self.team_id: str | None = None  # one workspace: from auth.test
        self.bot_user_id: str | None = None
        self.installations = Installations(host, name)
        self.poster = Poster(self)
        #: Workspaces where the native streaming methods are not available.
        self.no_native: set[str] = set()
        self.kind_event = f"{name}:event"
        self.kind_command = f"{name}:command"
        self.kind_action = f"{name}:interaction"
        self.kind_reply = f"{name}:reply"

    @property
    def api(self) -> SlackAPI:
        """The Web API client (available while the host runs)."""
        if self._api is None:
            raise RuntimeError(f"channel {self.name!r} is not running")
        return self._api

    # hooks ------------------------------------------------------------------
    @hostline.hookimpl
    def hostline_routes(self, host: hostline.Host) -> list[Route]:
        """Events, commands, interactions; install and callback with OAuth."""
        routes = [Route("/events", self.events, methods=["POST"]),
                  Route("/commands", self.commands, methods=["POST"]),
                  Route("/interactions", self.interactions, methods=["POST"])]
        if self.config.oauth:
            routes += [Route("/install", self.install, methods=["GET"]),
                       Route("/oauth/callback", self.oauth_callback, methods=["GET"])]
        return routes

    async def install(self, request: Request) -> Response:
        """``GET /install``: start an OAuth install (see :mod:`hostline_slack.oauth`)."""
        return await oauth.install(self, request)

    async def oauth_callback(self, request: Request) -> Response:
        """``GET /oauth/callback``: finish an OAuth install."""
        return await oauth.callback(self, request)

    @hostline.hookimpl
    def hostline_lifespan(self, host: hostline.Host) -> Any:
        """The client pool and, with one workspace, ``auth.test``."""
        return self._lifespan()

    @hostline.hookimpl
    def hostline_task_handlers(self, host: hostline.Host) -> dict[str, Any]:
        """Runner handlers: events, commands, interactions, durable replies."""
        return {self.kind_event: self.handle_event, self.kind_command: self.handle_command,
                self.kind_action: self.handle_interaction, self.kind_reply: self.handle_reply}

    @hostline.hookimpl
    async def hostline_push(self, destination: Destination, message: Message,
                            host: hostline.Host, key: str) -> DeliveryReceipt | None:
        """Send ``message`` to a channel, or to a person (a DM opened with
        ``conversations.open``); into a thread when ``reference`` has ``thread_ts``."""
        if destination.channel != self.name:
            return None
        team = s(destination.reference.get("team_id")) or self._team_of(destination)
        if not team:
            raise hostline.PermanentDeliveryError(
                f"slack push to {destination.address}: no team_id in the reference")
        channel = destination.address
        if channel[:1] in ("U", "W"):
            channel = await people.open_dm(self, team, channel)
        thread = s(destination.reference.get("thread_ts")) or None
        where = Where(team, channel, thread)
        ids = await self.poster.deliver(where, self.poster.result_items(RunResult((message,))),
                                        key=f"{self.name}:push:{key}", in_task=True)
        return DeliveryReceipt(destination, tuple(ids))

    def _team_of(self, destination: Destination) -> str:
        if destination.identity:
            native = destination.identity.removeprefix(f"{self.name}:")
            team, _, _ = native.partition(":")
            if team:
                return team
        return self.team_id or ""

    # lifespan ---------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def _lifespan(self) -> AsyncIterator[None]:
        cfg = self.config
        outbox = self.host.config.host.outbox
        self._api = SlackAPI(api_base=cfg.api_base,
                             max_connections=cfg.max_connections or 2 * outbox.concurrency + 4,
                             connect_timeout=cfg.connect_timeout, read_timeout=cfg.read_timeout,
                             pool_timeout=cfg.pool_timeout, max_inline_wait=cfg.max_inline_wait)
        try:
            if cfg.bot_token is not None:
                try:
                    me = await self.api.call("auth.test", token=cfg.bot_token.reveal())
                except SlackError as exc:
                    raise RuntimeError(f"auth.test failed: {exc.error} (check bot_token and "
                                       "api_base)") from None
                self.team_id = s(me.get("team_id")) or None
                self.bot_user_id = s(me.get("user_id")) or None
                log.info("slack channel %r: workspace %s, bot user %s", self.name,
                         self.team_id, self.bot_user_id)
            else:
                log.info("slack channel %r: OAuth install at /%s/install", self.name, self.name)
            yield
        finally:
            await self._api.aclose()
            self._api = None

    # Web API ----------------------------------------------------------------
    async def token(self, team: str) -> str:
        """The bot token for workspace ``team``; permanent error if not installed."""
        cfg = self.config
        if cfg.bot_token is not None:
            return cfg.bot_token.reveal()
        install = await self.installations.get(team)
        if install is None:
            raise SlackPermanentError("token", f"app not installed in workspace {team}")
        return install.bot_token.reveal()

    async def bot_user(self, team: str) -> str | None:
        """The bot's own user id in ``team``."""
        if self.config.bot_token is not None:
            return self.bot_user_id
        install = await self.installations.get(team)
        return install.bot_user_id if install else None

    async def call(self, team: str, method: str, params: dict[str, Any] | None = None, *,
                   channel: str | None = None) -> dict[str, Any]:
        """Call ``method`` in workspace ``team`` with its token and rate limits."""
        try:
            return await self.api.call(method, params, token=await self.token(team), team=team,
                                       channel=channel)
        except SlackError as exc:
            if exc.error in ("token_revoked", "account_inactive") and self.config.oauth:
                # The workspace took the app's token back: forget the install.
                if exc.error == "token_revoked":
                    await self.installations.delete(team)
            raise

    async def download(self, file_id: str, *, max_bytes: int | None = None) -> bytes:
        """Fetch an incoming file's bytes (``files.info``, then its private URL).

        ``file_id`` is a part's ``file_id`` (``TEAM:FILE``). Raises
        :class:`hostline_slack.FileTooLarge` over ``max_bytes`` (default
        ``max_download_bytes``) and :class:`SlackError` otherwise.
        """
        team, _, fid = file_id.partition(":")
        if not fid:
            team, fid = self.team_id or "", team
        limit = max_bytes or self.config.max_download_bytes
        info = d((await self.call(team, "files.info", {"file": fid})).get("file"))
        size = info.get("size")
        if isinstance(size, int) and size > limit:
            raise FileTooLarge(size, limit)
        url = s(info.get("url_private_download")) or s(info.get("url_private"))
        if not url.startswith(("https://", "http://")):
            raise SlackPermanentError("files.info", "no download URL in the answer")
        return await self.api.download(url, token=await self.token(team), max_bytes=limit)

    # inbound: the ack path --------------------------------------------------
    async def _verified(self, request: Request) -> bytes | Response:
        body = await request.body()
        try:
            verify(self.config.signing_secret.reveal(), request.headers, body,
                   window=self.config.replay_window)
        except SignatureError as exc:
            return hostline.error_response(401, str(exc), code="invalid_signature")
        return body

    def _overloaded(self) -> Response | None:
        if not self.host.overloaded:
            return None
        return hostline.error_response(503, "overloaded, retry later", code="overloaded",
                                       headers={"Retry-After": str(
                                           self.config.overload_retry_after)})

    async def _enqueue(self, kind: str, payload: dict[str, Any], *, partition: str,
                       key: str) -> Response:
        try:
            await self.host.runner.enqueue(kind, payload, partition=partition, key=key,
                                           remember=self.config.dedupe_ttl)
        except Exception:
            log.exception("slack channel %r: could not persist a request", self.name)
            return hostline.error_response(503, "could not persist the request",
                                           code="unavailable", headers={"Retry-After": "1"})
        return Response(b"", status_code=200)

    async def events(self, request: Request) -> Response:
        """``POST /events``: verify, answer url_verification, persist, ack."""
        body = await self._verified(request)
        if isinstance(body, Response):
            return body
        try:
            envelope = hostline.decode_json(body)
        except ValueError:  # hostline.InvalidJSON
            return hostline.error_response(400, "body is not JSON", code="invalid_json")
        if not isinstance(envelope, dict):
            return hostline.error_response(400, "expected a JSON object", code="invalid_event")
        kind = envelope.get("type")
        if kind == "url_verification":
            challenge = envelope.get("challenge")
            if not isinstance(challenge, str) or len(challenge) > 1024:
                return hostline.error_response(400, "missing challenge", code="invalid_event")
            return hostline.JSONResponse({"challenge": challenge})
        if kind != "event_callback":
            return Response(b"", status_code=200)  # app_rate_limited and the like
        event, event_id = envelope.get("event"), slack_id(envelope.get("event_id"))
        team = slack_id(envelope.get("team_id")) or slack_id(d(event).get("team"))
        if not isinstance(event, dict) or not event_id or not team:
            return hostline.error_response(400, "expected event, event_id and team_id",
                                           code="invalid_event")
        if skip_at_ack(event):
            return Response(b"", status_code=200)
        busy = self._overloaded()
        if busy is not None:
            return busy
        auths = envelope.get("authorizations")
        auth = d(auths[0]) if isinstance(auths, list) and auths else {}
        payload = {"team": team, "event_id": event_id, "event": event,
                   "bot_user": slack_id(auth.get("user_id")) if auth.get("is_bot") else ""}
        return await self._enqueue(self.kind_event, payload,
                                   partition=partition_of(self.name, team, event),
                                   key=f"{self.name}:{event_id}")

    async def commands(self, request: Request) -> Response:
        """``POST /commands``: a slash command, persisted and acknowledged."""
        body = await self._verified(request)
        if isinstance(body, Response):
            return body
        try:
            form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True,
                                  max_num_fields=64))
        except (UnicodeDecodeError, ValueError):
            return hostline.error_response(400, "expected a form body", code="invalid_command")
        command, team = form.get("command", ""), slack_id(form.get("team_id"))
        user, channel = slack_id(form.get("user_id")), slack_id(form.get("channel_id"))
        trigger = form.get("trigger_id", "")[:100]
        if not command.startswith("/") or not team or not user or not channel:
            return hostline.error_response(400, "expected command, team_id, user_id and "
                                                "channel_id", code="invalid_command")
        busy = self._overloaded()
        if busy is not None:
            return busy
        keep = {k: form[k][:4000] for k in ("command", "text", "team_id", "user_id", "user_name",
                                             "channel_id", "response_url", "trigger_id")
                if k in form}
        key = f"{self.name}:cmd:{trigger or request.headers.get('x-slack-signature', '')}"
        return await self._enqueue(self.kind_command, {"form": keep},
                                   partition=f"{self.name}:{team}:{channel}", key=key)

    async def interactions(self, request: Request) -> Response:
        """``POST /interactions``: button clicks (feedback), persisted and acknowledged."""
        body = await self._verified(request)
        if isinstance(body, Response):
            return body
        try:
            form = dict(parse_qsl(body.decode("utf-8"), max_num_fields=16))
            payload = hostline.decode_json(form.get("payload", ""))
        except (UnicodeDecodeError, ValueError):
            return hostline.error_response(400, "expected a payload form field",
                                           code="invalid_payload")
        if not isinstance(payload, dict):
            return hostline.error_response(400, "payload is not an object",
                                           code="invalid_payload")
        if payload.get("type") != "block_actions":
            return Response(b"", status_code=200)
        team = slack_id(d(payload.get("team")).get("id")) or \
            slack_id(d(payload.get("user")).get("team_id"))
        listed = payload.get("actions")
        actions = [a for a in (listed if isinstance(listed, list) else ())
                   if isinstance(a, dict) and a.get("action_id") == FEEDBACK_ACTION]
        if not team or not actions:
            return Response(b"", status_code=200)
        container = d(payload.get("container"))
        keep = {"team": team, "user": d(payload.get("user")), "container": container,
                "channel": d(payload.get("channel")), "actions": actions[:5],
                "response_url": s(payload.get("response_url"))}
        stamp = s(actions[0].get("action_ts")) or s(payload.get("trigger_id"))
        return await self._enqueue(
            self.kind_action, keep, partition=f"{self.name}:{team}:feedback",
            key=f"{self.name}:act:{team}:{s(d(payload.get('user')).get('id'))}:{stamp}")

    # inbound: the runner ----------------------------------------------------
    async def handle_event(self, task: Task) -> None:
        """Runner handler: one event, in order within its thread."""
        payload = task.payload
        event, team = d(payload.get("event")), s(payload.get("team"))
        kind = event.get("type")
        if kind in ("message", "app_mention"):
            await self._on_message(team, event, s(payload.get("bot_user")) or None,
                                   s(payload.get("event_id")))
        elif kind == "assistant_thread_started":
            await assistant.thread_started(self, team, event)
        elif kind in ("app_uninstalled", "tokens_revoked"):
            await self._on_revoked(team, event)

    async def _on_revoked(self, team: str, event: dict[str, Any]) -> None:
        if event.get("type") == "tokens_revoked" and not d(event.get("tokens")).get("bot"):
            return  # only user tokens were revoked
        if self.config.oauth and await self.installations.delete(team):
            log.info("slack channel %r: uninstalled from workspace %s", self.name, team)

    async def _addressed(self, team: str, channel: str, event: dict[str, Any],
                         bot_user: str | None) -> bool:
        """Whether a channel message is for the bot under ``group_mode``."""
        if event.get("type") == "app_mention" or self.config.group_mode == "all":
            return True
        text = s(event.get("text"))
        if bot_user and f"<@{bot_user}" in text:
            return False  # its app_mention event runs it
        thread = slack_id(event.get("thread_ts"))
        # A follow-up in a thread the bot already answers in needs no mention.
        return bool(thread) and await self.host.store.kv_get(
            THREADS_NS, f"{self.name}:{team}:{channel}:{thread}") is not None

    async def _on_message(self, team: str, event: dict[str, Any], bot_user: str | None,
                          event_id: str = "") -> None:
        if skip_at_ack(event):
            return
        user, channel, ts = (slack_id(event.get("user")), slack_id(event.get("channel")),
                             slack_id(event.get("ts")))
        if not user or not channel or not ts:
            return
        bot_user = bot_user or await self.bot_user(team)
        if user == bot_user:
            return
        is_dm = event.get("channel_type") == "im" or channel.startswith("D")
        if not is_dm and not await self._addressed(team, channel, event, bot_user):
            return
        # A message can arrive as both `message` and `app_mention`: run it once
        # (but a retry of the same event, after a crash, runs again).
        seen = f"{self.name}:{team}:{channel}:{ts}"
        store = self.host.store
        if not await store.kv_add(SEEN_NS, seen, event_id, ttl=self.config.dedupe_ttl) and \
                await store.kv_get(SEEN_NS, seen) != event_id:
            return
        text = strip_mentions(s(event.get("text")), bot_user)
        thread = slack_id(event.get("thread_ts")) or (ts if self.config.reply_in_thread
                                                      else None)
        scope = f"{team}:{channel}:{thread}" if thread else f"{team}:{channel}"
        where = Where(team, channel, thread, user)
        key = f"{self.name}:{team}:{ts}"
        identity = await people.identity(self, team, user, event)
        if text.startswith("/"):
            reply = await self.host.dispatch_command(text, channel=self.name, scope=scope,
                                                     identity=identity)
            if reply is not None:
                await self.poster.deliver(where, self.poster.plain_items(reply), key=key,
                                          in_task=False)
                return
        parts: list[Any] = [TextPart(text)] if text else []
        parts += files_of(team, event)
        if not parts:
            return
        destination = Destination(self.name, channel, identity.key, not is_dm,
                                  {"team_id": team, "thread_ts": thread} if thread
                                  else {"team_id": team})
        try:
            turn = await self.host.begin_turn(channel=self.name, scope=scope,
                                              input=[Message.user(parts)], identity=identity,
                                              destination=destination)
        except hostline.Reject as exc:
            if exc.reply:
                await self.poster.deliver(where, self.poster.plain_items(exc.reply), key=key,
                                          in_task=False)
            return
        await self.poster.note_thread(where)
        in_assistant = is_dm and thread is not None and await self.host.store.kv_get(
            assistant.NS, f"{self.name}:{team}:{channel}:{thread}") is not None
        if in_assistant:
            await assistant.thinking(self, where, text, first=len(turn.request.history) == 0)
        try:
            await self._answer(turn, where, key)
        finally:
            if in_assistant:
                await assistant.clear(self, where)

    async def _answer(self, turn: hostline.Turn, where: Where, key: str) -> None:
        if self.config.stream and self.host.target.can_stream:
            await stream_answer(self, turn, where, key)
            return
        try:
            result = await turn.run()
        except Exception:
            log.exception("slack channel %r: target failed", self.name)
            items = self.poster.plain_items(self.config.error_reply) \
                if self.config.error_reply else []
        else:
            items = self.poster.result_items(result, run_id=turn.run_id,
                                             scope=turn.request.session.key) \
                if result is not None else []
        await self.poster.deliver(where, items, key=key, in_task=False)

    async def handle_command(self, task: Task) -> None:
        """Runner handler: a slash command; the reply goes back through ``response_url``."""
        await interactive.run_command(self, task)

    async def handle_interaction(self, task: Task) -> None:
        """Runner handler: a feedback click, handed to ``hostline_feedback``."""
        await interactive.record_feedback(self, task)

    # outbound ---------------------------------------------------------------
    async def enqueue_reply(self, where: Where, items: list[dict[str, Any]], key: str,
                            delay: float) -> None:
        """Commit the rest of an answer as a durable reply task."""
        await self.host.runner.enqueue(
            self.kind_reply, {"where": where.to_json(), "items": items},
            partition=f"{self.name}:reply:{where.team}:{where.channel}", key=key, delay=delay)

    async def handle_reply(self, task: Task) -> None:
        """Runner handler: the rest of an answer whose first try failed."""
        where = Where.from_json(task.payload["where"])
        await self.poster.deliver(where, list(task.payload["items"]),
                                  key=task.key or str(task.id), in_task=True)
