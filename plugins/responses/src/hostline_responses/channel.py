"""The Responses channel: an OpenAI Responses- and Conversations-compatible HTTP API.

For the instance ``responses`` the official SDK's ``base_url`` is
``http://HOST/responses/v1``. Routes (under ``/<instance>``):

* ``POST /v1/responses``, ``GET|DELETE /v1/responses/{id}``,
  ``GET /v1/responses/{id}/input_items``, ``POST /v1/responses/{id}/cancel``
* ``POST /v1/conversations``, ``GET|POST|DELETE /v1/conversations/{id}``,
  ``GET|POST /v1/conversations/{id}/items``,
  ``GET|DELETE /v1/conversations/{id}/items/{item_id}``
* ``GET /v1/models``, ``GET /v1/models/{model}``
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hostline import (
    Allowed,
    ApiKeys,
    BadRequest,
    Channel,
    Host,
    Identity,
    IsolationKeys,
    JSONResponse,
    Reject,
    Task,
    check_open_channel,
    current_isolation,
    error_response,
    hookimpl,
    is_loopback_client,
    read_json,
)

from .config import ResponsesConfig
from .protocol import (
    TERMINAL,
    ApiError,
    input_item_to_message,
    invalid,
    new_id,
    not_found,
    page,
    paginate,
    parse_create,
    parse_items,
    parse_list_query,
    parse_metadata,
    response_object,
)
from .records import Records
from .run import ResponseRun
from .sse import TERMINAL_TYPES, EventStream

__all__ = ["ResponsesChannel"]

log = logging.getLogger("hostline.responses")

#: What an endpoint returns: a Starlette response or a server-sent event stream.
Answer = Response | EventStream
Handler = Callable[[Request, Identity], Awaitable[Answer]]
_MAX_ID = 200


#: Seconds a finished background response's log is still followed for its
#: terminal event (see :meth:`ResponsesChannel._tail`).
FINISH_GRACE = 1.0


class ResponsesChannel(Channel):
    """An OpenAI Responses-compatible HTTP API for the served target."""

    Config = ResponsesConfig
    streaming = True
    needs_secrets = False

    def __init__(self, name: str, config: ResponsesConfig, host: Host) -> None:
        super().__init__(name, config, host)
        self.config: ResponsesConfig = config
        self._keys = ApiKeys(name, config.api_keys)
        check_open_channel(host.config.source, name, host.config.host.bind,
                           has_auth=bool(self._keys),
                           allow_unauthenticated=config.allow_unauthenticated)
        self.model_id = config.model or host.target.name
        self.records = Records(host, name, config.ttl, config.max_stored_bytes)
        self.task_kind = f"responses.background:{name}"
        self._created = int(time.time())
        self._active = 0
        self._running: dict[str, tuple[asyncio.Task[None], ResponseRun]] = {}
        self._wakeups: dict[str, asyncio.Event] = {}

    # hooks ----------------------------------------------------------------
    @hookimpl
    def hostline_routes(self, host: Host) -> list[Route]:
        """The ``/v1`` routes of this instance."""
        e = self._endpoint
        return [
            Route("/v1/responses", e(self.create), methods=["POST"]),
            Route("/v1/responses/{response_id}", e(self.retrieve), methods=["GET"]),
            Route("/v1/responses/{response_id}", e(self.delete), methods=["DELETE"]),
            Route("/v1/responses/{response_id}/input_items", e(self.input_items),
                  methods=["GET"]),
            Route("/v1/responses/{response_id}/cancel", e(self.cancel), methods=["POST"]),
            Route("/v1/conversations", e(self.create_conversation), methods=["POST"]),
            Route("/v1/conversations/{conversation_id}", e(self.get_conversation),
                  methods=["GET"]),
            Route("/v1/conversations/{conversation_id}", e(self.update_conversation),
                  methods=["POST"]),
            Route("/v1/conversations/{conversation_id}", e(self.delete_conversation),
                  methods=["DELETE"]),
            Route("/v1/conversations/{conversation_id}/items", e(self.create_items),
                  methods=["POST"]),
            Route("/v1/conversations/{conversation_id}/items", e(self.list_items),
                  methods=["GET"]),
            Route("/v1/conversations/{conversation_id}/items/{item_id}", e(self.get_item),
                  methods=["GET"]),
            Route("/v1/conversations/{conversation_id}/items/{item_id}", e(self.delete_item),
                  methods=["DELETE"]),
            Route("/v1/models", e(self.list_models), methods=["GET"]),
            Route("/v1/models/{model:path}", e(self.get_model), methods=["GET"]),
        ]

    @hookimpl
    def hostline_task_handlers(self, host: Host) -> dict[str, Any]:
        """Background responses run in the host's durable runner."""
        return {self.task_kind: self._run_background}

    # plumbing ---------------------------------------------------------------
    def _endpoint(self, fn: Handler) -> Callable[[Request], Awaitable[Answer]]:
        async def endpoint(request: Request) -> Answer:
            try:
                return await fn(request, self._authenticate(request))
            except ApiError as exc:
                await self._drain(request)
                return exc.response()
            except BadRequest as exc:
                return error_response(exc.status, exc.message, code=exc.code, param=exc.param)

        endpoint.__name__ = fn.__name__
        endpoint.__doc__ = fn.__doc__
        return endpoint

    @staticmethod
    async def _drain(request: Request) -> None:
        """Read an unread request body before answering an error: an HTTP/1.1
        server closes a keep-alive connection whose body was left unread, and
        a client reusing it would see a dropped connection instead of the error."""
        if request.method in ("POST", "PUT", "PATCH", "DELETE"):
            with contextlib.suppress(Exception):
                await request.body()

    def _authenticate(self, request: Request) -> Identity:
        """The caller's identity from the bearer key (keys are compared by digest)."""
        if not self._keys:
            if not self.config.allow_unauthenticated and not is_loopback_client(request):
                raise ApiError(401, "This server has no API keys configured and answers "
                                    "only clients on this machine.", code="invalid_api_key")
            return Identity(self.name, "anonymous", None, {"auth": "none"})
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if not header or scheme.lower() != "bearer" or not token:
            raise ApiError(401, "You didn't provide an API key. You need to provide your API "
                                "key in an Authorization header using Bearer auth (i.e. "
                                "Authorization: Bearer YOUR_KEY).",
                           headers={"www-authenticate": "Bearer"})
        found = self._keys.identify(token)
        if found is None:
            raise ApiError(401, "Incorrect API key provided.", code="invalid_api_key",
                           headers={"www-authenticate": "Bearer"})
        return found

    @staticmethod
    async def _json(request: Request, *, optional: bool = False) -> dict[str, Any]:
        if optional and not (await request.body()).strip():
            return {}
        body = await read_json(request)
        if not isinstance(body, dict):
            raise invalid("The request body must be a JSON object.", None, "invalid_json")
        return body  # read_json refused NaN and Infinity (the JSON boundary's policy)

    @staticmethod
    def _path_id(request: Request, name: str) -> str:
        value = str(request.path_params[name])
        if len(value) > _MAX_ID:
            raise not_found(f"No object with id '{value[:40]}...' found.")
        return value

    async def _response_record(self, request: Request, iso: IsolationKeys) -> dict[str, Any]:
        rid = self._path_id(request, "response_id")
        rec = await self.records.get(rid, iso)
        if rec is None:
            raise not_found(f"Response with id '{rid}' not found.")
        return rec

    def _reserve(self) -> Callable[[], None]:
        if self._active >= self.config.max_concurrent_runs:
            raise ApiError(429, "Too many concurrent requests on this server; retry shortly.",
                           code="rate_limit_exceeded", headers={"retry-after": "1"})
        self._active += 1
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self._active -= 1

        return release

    # responses ------------------------------------------------------------------
    async def create(self, request: Request, identity: Identity) -> Answer:
        """``POST /v1/responses``."""
        params = parse_create(await self._json(request), self.model_id)
        iso = current_isolation()
        rid = new_id("resp")
        if params.conversation is not None and await self.records.get_conversation(
                params.conversation, iso) is None:
            raise ApiError(404, f"Conversation with id '{params.conversation}' not found.",
                           param="conversation")
        prev = None
        if params.previous_response_id is not None:
            prev = await self.records.get(params.previous_response_id, iso)
            if prev is None:
                raise ApiError(400, f"Previous response with id '{params.previous_response_id}'"
                                    " not found.", param="previous_response_id",
                               code="previous_response_not_found")
            if not params.background and prev["response"].get("status") not in TERMINAL:
                raise invalid(f"Previous response with id '{params.previous_response_id}' is "
                              "still in progress; wait for it to finish.",
                              "previous_response_id", "previous_response_in_progress")
        response = response_object(rid, params, status="queued" if params.background
                                   else "in_progress")
        options = {**params.options(), "response_id": rid}
        run = ResponseRun(self, response, params.input, options, iso, identity)
        if params.background:
            return await self._create_background(run, params.stream, prev)
        run.hold(self._reserve())
        try:
            await run.resolve_session()
            await run.begin()
        except Reject as exc:
            run.release()
            raise ApiError(403, exc.reply or "You are not allowed to use this API.",
                           code="permission_denied") from None
        except BaseException:
            run.release()
            raise
        if params.stream:
            return EventStream(run.events(announce=True), on_close=run.release,
                               on_failure=run.failure_event)
        await run.run_once()
        if run.response_json is not None:  # encoded already, for the store
            return Response(run.response_json.encode(), media_type="application/json")
        return JSONResponse(run.response)

    async def _create_background(self, run: ResponseRun, stream: bool,
                                 prev: dict[str, Any] | None) -> Answer:
        if self.host.overloaded:
            raise ApiError(429, "The server is busy; retry shortly.", code="rate_limit_exceeded",
                           headers={"retry-after": "5"})
        if run.identity is not None:
            decision = await self.host.authorize(self.name, run.identity)
            if not isinstance(decision, Allowed):
                raise ApiError(403, self.host.config.channels[self.name].common.denied_reply,
                               code="permission_denied")
        iso = run.iso
        if prev is not None:
            # Same partition as the response continued: the runner runs them in order.
            run.partition = prev.get("partition")
        elif run.conversation is not None:
            run.partition = self.host.session_scope(self.name, f"conv:{run.conversation}", iso)
        run.partition = run.partition or self.host.session_scope(self.name, f"resp:{run.id}",
                                                                 iso)
        events = [run.event("response.created", response=run.snapshot()),
                  run.event("response.queued", response=run.snapshot())]
        snapshot = run.snapshot()
        await run.persist()
        await self.records.append_events(run.id, events, iso)
        await self.host.runner.enqueue(self.task_kind,
                                       {"id": run.id, "isolation": {"user": iso.user,
                                                                    "chat": iso.chat}},
                                       partition=f"{self.name}:{run.partition}", key=run.id)
        if stream:
            return EventStream(self._tail(run.id, iso, -1))
        return JSONResponse(snapshot)

    async def retrieve(self, request: Request, identity: Identity) -> Answer:
        """``GET /v1/responses/{id}`` (``?stream=true&starting_after=N`` replays events)."""
        iso = current_isolation()
        rec = await self._response_record(request, iso)
        q = request.query_params
        stream = q.get("stream", "false").lower()
        if stream not in ("true", "false", "1", "0"):
            raise invalid("Invalid value for 'stream': expected a boolean.", "stream",
                          "invalid_type")
        if stream in ("true", "1"):
            if not rec["response"].get("background"):
                raise invalid("Only responses created with background=true can be streamed "
                              "with GET.", "stream", "invalid_value")
            raw = q.get("starting_after")
            after = -1
            if raw is not None:
                try:
                    after = int(raw)
                except ValueError:
                    raise invalid("Invalid 'starting_after': expected an integer.",
                                  "starting_after", "invalid_type") from None
            return EventStream(self._tail(rec["response"]["id"], iso, after))
        return JSONResponse(rec["response"])

    async def delete(self, request: Request, identity: Identity) -> Answer:
        """``DELETE /v1/responses/{id}``."""
        iso = current_isolation()
        rid = self._path_id(request, "response_id")
        running = self._running.get(rid)
        if not await self.records.delete(rid, iso):
            raise not_found(f"Response with id '{rid}' not found.")
        if running is not None and running[1].iso == iso:
            running[1].cancel_requested = True
            running[0].cancel()
        return JSONResponse({"id": rid, "object": "response", "deleted": True})

    async def input_items(self, request: Request, identity: Identity) -> Answer:
        """``GET /v1/responses/{id}/input_items`` (``after``, ``before``, ``limit``, ``order``)."""
        rec = await self._response_record(request, current_isolation())
        after, before, limit, order = parse_list_query(request.query_params)
        return JSONResponse(paginate(list(rec.get("input") or []), after, before, limit, order))

    async def cancel(self, request: Request, identity: Identity) -> Answer:
        """``POST /v1/responses/{id}/cancel`` (background responses only)."""
        iso = current_isolation()
        rec = await self._response_record(request, iso)
        resp = rec["response"]
        rid = resp["id"]
        if not resp.get("background"):
            raise invalid("Only responses created with background=true can be cancelled.",
                          None, "invalid_value")
        status = resp.get("status")
        if status == "cancelled":
            return JSONResponse(resp)
        if status in TERMINAL:
            raise invalid(f"Cannot cancel a {status} response.", None, "invalid_value")
        resp["status"] = "cancelled"
        await self.records.put(rec, iso)
        running = self._running.get(rid)
        if running is not None:
            task, run = running
            run.cancel_requested = True
            task.cancel()
            await asyncio.wait({task}, timeout=10)
        self._wake(rid)
        rec = await self.records.get(rid, iso) or rec
        return JSONResponse(rec["response"])

    # background -----------------------------------------------------------------
    async def _run_background(self, task: Task) -> None:
        payload = task.payload
        rid = str(payload.get("id"))
        raw_iso = payload.get("isolation") or {}
        iso = IsolationKeys(raw_iso.get("user"), raw_iso.get("chat"))
        rec = await self.records.get(rid, iso)
        if rec is None or rec["response"].get("status") in TERMINAL:
            return  # deleted or cancelled before it ran
        run = ResponseRun.from_record(self, rec, iso)
        if rec["response"].get("status") == "in_progress":
            # An earlier attempt died with its worker: what it produced is lost.
            run.fail("The response was interrupted by a server restart.")
            await self.records.append_events(
                rid, [run.event("response.failed", response=run.snapshot())], iso)
            await run.persist()
            self._wake(rid)
            return
        run.response["status"] = "in_progress"
        await run.persist()
        if run.cancel_requested:
            return  # cancelled between the claim and now
        work = asyncio.create_task(self._drive(run), name=f"hostline-response-{rid}")
        self._running[rid] = (work, run)
        try:
            await work
        except asyncio.CancelledError:
            if not run.cancel_requested:
                raise  # shutdown: the runner releases the task
        finally:
            self._running.pop(rid, None)
            self._wake(rid)

    async def _drive(self, run: ResponseRun) -> None:
        """Run a background response, appending its events to the stored log.

        Writes batch whatever accumulated while the previous write was in
        flight, so fast targets do not cost one write per delta.
        """
        pending: list[dict[str, Any]] = []
        ready = asyncio.Event()
        finished = False
        me = asyncio.current_task()
        last_check = time.monotonic()

        async def writer() -> None:
            nonlocal last_check
            while True:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(ready.wait(), 0.5)
                ready.clear()
                while pending:
                    batch = pending[:]
                    del pending[:]
                    await self.records.append_events(run.id, batch, run.iso)
                    self._wake(run.id)
                if finished:
                    return
                if time.monotonic() - last_check > 0.25:
                    # A cancel handled by another worker process shows in the store.
                    last_check = time.monotonic()
                    rec = await self.records.get(run.id, run.iso)
                    if rec is None or rec["response"].get("status") == "cancelled":
                        run.cancel_requested = True
                        if me is not None:
                            me.cancel()
                        return

        flusher = asyncio.create_task(writer())
        try:
            async with contextlib.aclosing(run.events(announce=False)) as events:
                async for event in events:
                    pending.append(event)
                    ready.set()
                    await asyncio.sleep(0)
        finally:
            finished = True
            ready.set()
            if flusher.done():
                # Stopped after a cancel: write what is left here.
                if pending:
                    await asyncio.shield(self.records.append_events(run.id, list(pending),
                                                                     run.iso))
            else:
                await asyncio.shield(flusher)

    def _wake(self, rid: str) -> None:
        event = self._wakeups.pop(rid, None)
        if event is not None:
            event.set()

    async def _tail(self, rid: str, iso: IsolationKeys,
                    after_seq: int) -> AsyncIterator[dict[str, Any]]:
        """Stored events of a background response after ``after_seq``, following
        the log until the response is finished.

        The run stores its finished record a moment before its last events
        (they are written behind it, in batches): a finished record ends the
        log once its terminal event is read, or after :data:`FINISH_GRACE`
        seconds without one (a run stopped by a cancel writes none)."""
        last_key: str | None = None
        wakeup: asyncio.Event | None = None
        ended = False
        finished_at: float | None = None
        try:
            while True:
                # Registered before reading, so a write in between still wakes us.
                wakeup = self._wakeups.setdefault(rid, asyncio.Event())
                rec = await self.records.get(rid, iso)
                finished = rec is None or rec["response"].get("status") in TERMINAL
                rows = await self.records.events(rid, iso, last_key)
                for key, batch in rows:
                    last_key = key
                    for event in batch:
                        if not isinstance(event, dict):
                            continue
                        ended = ended or event.get("type") in TERMINAL_TYPES
                        if event.get("sequence_number", -1) > after_seq:
                            yield event
                if rows:
                    continue
                if finished:
                    now = time.monotonic()
                    finished_at = finished_at or now
                    if ended or rec is None or now - finished_at >= FINISH_GRACE:
                        return
                # Other worker processes write too: poll as well as wait.
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(wakeup.wait(), 0.05 if finished else 0.5)
        finally:
            if wakeup is not None and self._wakeups.get(rid) is wakeup:
                del self._wakeups[rid]

    # conversations ----------------------------------------------------------------
    def _conversation_scope(self, conv_id: str) -> str:
        return f"conv:{conv_id}"

    async def _conversation(self, request: Request, iso: IsolationKeys) -> dict[str, Any]:
        cid = self._path_id(request, "conversation_id")
        conv = await self.records.get_conversation(cid, iso)
        if conv is None:
            raise not_found(f"Conversation with id '{cid}' not found.")
        return conv

    @staticmethod
    def _items(body: dict[str, Any], required: bool) -> list[dict[str, Any]]:
        raw = body.get("items")
        if raw is None:
            if required:
                raise invalid("Missing required parameter: 'items'.", "items",
                              "missing_required_parameter")
            return []
        if not isinstance(raw, list):
            raise invalid("Invalid type for 'items': expected an array of items.", "items",
                          "invalid_type")
        if len(raw) > 20:
            raise invalid("Invalid 'items': array too long. Expected an array with maximum "
                          f"length 20, but got {len(raw)} instead.", "items",
                          "array_above_max_length")
        return parse_items(raw, "items")

    async def _append_history(self, conv_id: str, items: list[dict[str, Any]],
                              iso: IsolationKeys) -> None:
        """Items added through the API join the conversation's session history."""
        if not items:
            return
        key = self.host.session_scope(self.name, self._conversation_scope(conv_id), iso)
        session, _ = await self.host.store.load_session(key, 0)
        await self.host.store.save_turn(session, [input_item_to_message(i) for i in items],
                                        self.host.config.host.history_limit)

    async def _rebuild_history(self, conv_id: str, iso: IsolationKeys) -> None:
        """After an item is deleted: a fresh session with the remaining items and
        the same state (the store's history is append-only)."""
        scope = self._conversation_scope(conv_id)
        key = self.host.session_scope(self.name, scope, iso)
        old, _ = await self.host.store.load_session(key, 0)
        await self.host.reset_session(self.name, scope, iso)
        new, _ = await self.host.store.load_session(key, 0)
        new.state = old.state
        limit = self.host.config.host.history_limit
        messages = [input_item_to_message(i) for i in await self.records.all_items(conv_id, iso)
                    if i.get("type") == "message"]
        await self.host.store.save_turn(new, messages[-limit:] if limit > 0 else [], limit)

    async def create_conversation(self, request: Request, identity: Identity) -> Answer:
        """``POST /v1/conversations``."""
        body = await self._json(request, optional=True)
        unknown = sorted(k for k in body if k not in ("items", "metadata"))
        if unknown:
            raise invalid(f"Unrecognized request argument supplied: {unknown[0]:.100}",
                          unknown[0], "unknown_parameter")
        metadata = parse_metadata(body.get("metadata"))
        items = self._items(body, required=False)
        iso = current_isolation()
        conv: dict[str, Any] = {"id": new_id("conv"), "object": "conversation",
                                "created_at": int(time.time()), "metadata": metadata}
        await self.records.put_conversation(conv, iso)
        await self.records.add_items(conv["id"], items, iso)
        await self._append_history(conv["id"], items, iso)
        return JSONResponse(conv)

    async def get_conversation(self, request: Request, identity: Identity) -> Answer:
        """``GET /v1/conversations/{id}``."""
        return JSONResponse(await self._conversation(request, current_isolation()))

    async def update_conversation(self, request: Request, identity: Identity) -> Answer:
        """``POST /v1/conversations/{id}`` (metadata)."""
        iso = current_isolation()
        conv = await self._conversation(request, iso)
        body = await self._json(request)
        unknown = sorted(k for k in body if k != "metadata")
        if unknown:
            raise invalid(f"Unrecognized request argument supplied: {unknown[0]:.100}",
                          unknown[0], "unknown_parameter")
        if "metadata" not in body:
            raise invalid("Missing required parameter: 'metadata'.", "metadata",
                          "missing_required_parameter")
        conv["metadata"] = parse_metadata(body["metadata"])
        await self.records.put_conversation(conv, iso)
        return JSONResponse(conv)

    async def delete_conversation(self, request: Request, identity: Identity) -> Answer:
        """``DELETE /v1/conversations/{id}``."""
        iso = current_isolation()
        conv = await self._conversation(request, iso)
        await self.records.delete_conversation(conv["id"], iso)
        await self.host.reset_session(self.name, self._conversation_scope(conv["id"]), iso)
        return JSONResponse({"id": conv["id"], "object": "conversation.deleted",
                             "deleted": True})

    async def create_items(self, request: Request, identity: Identity) -> Answer:
        """``POST /v1/conversations/{id}/items``."""
        iso = current_isolation()
        conv = await self._conversation(request, iso)
        body = await self._json(request)
        unknown = sorted(k for k in body if k != "items")
        if unknown:
            raise invalid(f"Unrecognized request argument supplied: {unknown[0]:.100}",
                          unknown[0], "unknown_parameter")
        items = self._items(body, required=True)
        await self.records.add_items(conv["id"], items, iso)
        await self._append_history(conv["id"], items, iso)
        return JSONResponse(page(items, False))

    async def list_items(self, request: Request, identity: Identity) -> Answer:
        """``GET /v1/conversations/{id}/items`` (``after``, ``limit``, ``order``)."""
        iso = current_isolation()
        conv = await self._conversation(request, iso)
        after, _, limit, order = parse_list_query(request.query_params)
        listed = await self.records.list_items(conv["id"], iso, after=after, limit=limit,
                                               order=order)
        if listed is None:
            raise invalid(f"Invalid 'after': no item with id '{after}' in this conversation.",
                          "after", "invalid_value")
        items, has_more = listed
        return JSONResponse(page(items, has_more))

    async def get_item(self, request: Request, identity: Identity) -> Answer:
        """``GET /v1/conversations/{id}/items/{item_id}``."""
        iso = current_isolation()
        conv = await self._conversation(request, iso)
        item_id = self._path_id(request, "item_id")
        item = await self.records.get_item(conv["id"], item_id, iso)
        if item is None:
            raise not_found(f"Item with id '{item_id}' not found.")
        return JSONResponse(item)

    async def delete_item(self, request: Request, identity: Identity) -> Answer:
        """``DELETE /v1/conversations/{id}/items/{item_id}``; returns the conversation."""
        iso = current_isolation()
        conv = await self._conversation(request, iso)
        item_id = self._path_id(request, "item_id")
        if not await self.records.delete_item(conv["id"], item_id, iso):
            raise not_found(f"Item with id '{item_id}' not found.")
        await self._rebuild_history(conv["id"], iso)
        return JSONResponse(conv)

    # models -------------------------------------------------------------------------
    def _model(self) -> dict[str, Any]:
        return {"id": self.model_id, "object": "model", "created": self._created,
                "owned_by": "hostline"}

    async def list_models(self, request: Request, identity: Identity) -> Answer:
        """``GET /v1/models``: the served target."""
        return JSONResponse({"object": "list", "data": [self._model()]})

    async def get_model(self, request: Request, identity: Identity) -> Answer:
        """``GET /v1/models/{model}``."""
        model = str(request.path_params["model"])
        if model != self.model_id:
            raise ApiError(404, f"The model '{model[:100]}' does not exist.", param="model",
                           code="model_not_found")
        return JSONResponse(self._model())

