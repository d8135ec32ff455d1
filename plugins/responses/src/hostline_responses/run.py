"""One response being produced: session resolution, the turn, events, persistence."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any, Protocol, cast

from hostline import (
    Host,
    Identity,
    IsolationKeys,
    Message,
    Reject,
    RunResult,
    RunUpdate,
    Turn,
    TurnRecord,
    encode_json,
)

from .protocol import (
    TERMINAL,
    ApiError,
    input_item_to_message,
    message_to_output_item,
    new_id,
    output_text_part,
    usage_object,
)
from .records import Records

__all__ = ["ResponseRun", "RunPlace"]

log = logging.getLogger("hostline.responses")

_TERMINAL_EVENT = {"completed": "response.completed", "failed": "response.failed",
                   "incomplete": "response.incomplete", "cancelled": "response.incomplete"}


def _output_text(item: dict[str, Any]) -> str:
    return "".join(p.get("text", "") for p in item.get("content") or []
                   if p.get("type") == "output_text")


class RunPlace(Protocol):
    """What a run needs of the channel instance it runs in."""

    name: str
    host: Host
    records: Records


class ResponseRun:
    """Produces one response and keeps its stored record up to date.

    ``response`` is the Response object (mutated as the run goes), ``input``
    the normalised input items, ``seq`` the next stream sequence number.
    """

    def __init__(self, channel: RunPlace, response: dict[str, Any],
                 input_items: list[dict[str, Any]], options: dict[str, Any],
                 iso: IsolationKeys, identity: Identity | None, *, seq: int = 0,
                 scope: str | None = None, partition: str | None = None) -> None:
        self.channel = channel
        self.host = channel.host
        self.records = channel.records
        self.response = response
        self.input = input_items
        self.options = options
        self.iso = iso
        self.identity = identity
        self.seq = seq
        self.scope = scope
        self.fresh = False  # a session nobody used yet: nothing to load
        self.partition = partition
        self.turn: Turn | None = None
        self.state: dict[str, Any] | None = None
        #: Set by a cancel request; the run ends as ``cancelled``.
        self.cancel_requested = False
        self._text: list[str] = []
        self._item_id = new_id("msg")
        self._finished = False
        self._history_saved = False
        self._conversation_done = False
        self._release: Any = None
        #: Whether a record of this run is in the store (a background run checks
        #: it for a cancel or a delete before writing).
        self.stored = False
        #: The finished record went into the turn's own transaction (see
        #: :meth:`_records_with_turn`): nothing is left to persist.
        self._saved_with_turn = False
        #: The finished Response's JSON text, kept from encoding the record
        #: (the HTTP answer reuses it); cleared whenever the Response changes.
        self.response_json: str | None = None

    @property
    def id(self) -> str:
        """The response id."""
        return str(self.response["id"])

    @property
    def conversation(self) -> str | None:
        """The conversation id, if the response belongs to one."""
        conv = self.response.get("conversation")
        return conv.get("id") if isinstance(conv, dict) else None

    @classmethod
    def from_record(cls, channel: RunPlace, record: dict[str, Any],
                    iso: IsolationKeys) -> ResponseRun:
        """Rebuild a (background) run from its stored record."""
        ident = record.get("identity")
        run = cls(channel, record["response"], list(record.get("input") or []),
                  dict(record.get("options") or {}), iso,
                  Identity.from_json(ident) if isinstance(ident, dict) else None,
                  seq=int(record.get("seq") or 0), scope=record.get("scope"),
                  partition=record.get("partition"))
        run.state = record.get("state")
        run.stored = True
        return run

    def record(self) -> dict[str, Any]:
        """The stored form."""
        return {"v": 1, "response": self.response, "input": self.input,
                "options": self.options,
                "identity": self.identity.to_json() if self.identity else None,
                "scope": self.scope, "partition": self.partition, "state": self.state,
                "seq": self.seq}

    def hold(self, release: Any) -> None:
        """Call ``release()`` once when the run ends (frees a concurrency slot)."""
        self._release = release

    def release(self) -> None:
        """Free what :meth:`hold` reserved (idempotent)."""
        release, self._release = self._release, None
        if release is not None:
            release()

    # session --------------------------------------------------------------
    async def resolve_session(self) -> None:
        """Pick the session scope: the conversation's, the previous response's
        (for its first continuation), or a fresh one seeded from the chain."""
        conv = self.conversation
        if conv is not None:
            self.scope = f"conv:{conv}"
            return
        prev_id = self.response.get("previous_response_id")
        if not prev_id:
            self.scope = f"resp:{self.id}"
            self.fresh = True
            return
        prev = await self.records.get(prev_id, self.iso)
        if prev is None:
            raise ApiError(400, f"Previous response with id '{prev_id}' not found.",
                           param="previous_response_id", code="previous_response_not_found")
        if (prev.get("scope") and not prev["response"].get("conversation")
                and await self.records.claim_continuation(prev_id, self.id, self.iso)):
            # The first response continuing ``prev`` extends its session: its
            # history is exactly the chain up to ``prev``.
            self.scope = prev["scope"]
            return
        # A fork (a second continuation of the same response): a new session
        # seeded with the chain's messages and the state it had.
        self.scope = f"resp:{self.id}"
        await self._seed(prev)

    async def _seed(self, prev: dict[str, Any]) -> None:
        limit = self.host.config.host.history_limit
        messages: list[Message] = []
        rec: dict[str, Any] | None = prev
        for _ in range(10_000):
            if rec is None:
                break
            conv = rec["response"].get("conversation")
            if isinstance(conv, dict) and conv.get("id"):
                # A response in a conversation: its context is the conversation up
                # to and including its own output.
                messages[:0] = await self._conversation_context(conv["id"], rec)
                break
            turn = [input_item_to_message(i) for i in rec.get("input") or []]
            turn += [Message.assistant(_output_text(o)) for o in rec["response"].get("output") or []
                     if o.get("type") == "message" and _output_text(o)]
            messages[:0] = turn
            if len(messages) >= limit:
                break
            pid = rec["response"].get("previous_response_id")
            rec = await self.records.get(pid, self.iso) if pid else None
        key = self.host.session_scope(self.channel.name, self.scope or "", self.iso)
        session, _ = await self.host.store.load_session(key, 0)
        session.state = dict(prev.get("state") or {})
        if messages or session.state:
            await self.host.store.save_turn(session, messages[-limit:] if limit > 0 else [],
                                            limit)

    async def _conversation_context(self, conv_id: str,
                                    rec: dict[str, Any]) -> list[Message]:
        ids = [i.get("id") for i in [*(rec.get("input") or []),
                                     *(rec["response"].get("output") or [])]]
        items = await self.records.all_items(conv_id, self.iso)
        positions = [n for n, item in enumerate(items) if item.get("id") in ids]
        if not positions:  # the conversation is gone or was edited: the turn alone
            return [input_item_to_message(i) for i in rec.get("input") or []] + [
                Message.assistant(_output_text(o)) for o in rec["response"].get("output") or []
                if _output_text(o)]
        return [input_item_to_message(i) for i in items[:positions[-1] + 1]
                if i.get("type") == "message"]

    async def begin(self) -> None:
        """Authorize and load the session (:meth:`hostline.Host.begin_turn`)."""
        self.turn = await self.host.begin_turn(
            channel=self.channel.name, scope=self.scope or f"resp:{self.id}",
            input=[input_item_to_message(i) for i in self.input], identity=self.identity,
            options=self.options, isolation=self.iso, fresh=self.fresh)
        if not (self.response.get("background") or self.conversation):
            self.turn.reply_records = self._records_with_turn

    def _records_with_turn(self, reply: RunResult | None) -> list[TurnRecord]:
        """Finish the Response from a completed turn's reply and store its
        record with the turn's history: one write per response, and
        read-after-write holds as soon as the turn is saved. (Background runs
        and conversations keep their own writes: they check for a cancel, or
        add items, first.)"""
        assert self.turn is not None
        result = self.turn.result
        if result is None or result.status != "completed":
            return []  # a stream cut short: finished (as incomplete) by its caller
        self._finish_result(self._output_from(reply), result)
        self._history_saved = True
        if not self.response.get("store"):
            return []
        record = self.record()
        del record["response"]
        response_json = encode_json(self.response)
        rest = encode_json(record)
        encoded = self.records.fit('{"response":' + response_json + "," + rest[1:])
        if encoded is None:
            return []  # over max_stored_bytes: persist() says so and stores nothing
        self._saved_with_turn = True
        self.stored = True
        self.response_json = response_json
        return [self.records.entry(self.id, self.iso, encoded)]

    # outcome --------------------------------------------------------------
    def _finish(self, status: str, output: list[dict[str, Any]], result: RunResult | None,
                error: dict[str, Any] | None = None) -> None:
        self._finished = True
        if self._saved_with_turn:  # finished again: that record is not what is stored now
            self._saved_with_turn = self.stored = False
        self.response_json = None
        r = self.response
        r["status"] = status
        r["output"] = output
        r["usage"] = usage_object(result.usage if result else None)
        r["error"] = error
        r["incomplete_details"] = {"reason": None} if status == "incomplete" else None
        if status in TERMINAL:
            r["completed_at"] = int(time.time()) if status == "completed" else None
        if self.turn is not None:
            self.state = dict(self.turn.request.session.state)

    def _finish_result(self, output: list[dict[str, Any]], result: RunResult | None) -> str:
        """Finish from the target's result; a failed run carries an error object."""
        status = result.status if result else "completed"
        status = "incomplete" if status == "cancelled" else status
        error = None
        if status == "failed":
            error = {"code": "server_error",
                     "message": (result.error if result else None)
                     or "The agent reported a failure."}
        self._finish(status, output, result, error)
        return status

    def _partial_output(self, status: str) -> list[dict[str, Any]]:
        text = "".join(self._text)
        if not text:
            return []
        return [{"id": self._item_id, "type": "message", "role": "assistant", "status": status,
                 "content": [output_text_part(text)]}]

    def fail(self, message: str, code: str = "server_error") -> None:
        """End as ``failed`` with ``error``; keeps any partial output."""
        self._finish("failed", self._partial_output("incomplete"),
                     self.turn.result if self.turn else None,
                     {"code": code, "message": message})

    def failure_event(self, next_seq: int) -> dict[str, Any]:
        """The ``response.failed`` event closing a stream whose producer raised."""
        self.response["status"] = "failed"
        self.response["error"] = {"code": "server_error",
                                  "message": "The server failed while producing this response."}
        self.seq = max(self.seq, next_seq)
        return self.event("response.failed", response=self.snapshot())

    def _interrupted(self) -> None:
        status = "cancelled" if self.cancel_requested else "incomplete"
        self._history_saved = bool(self._text)
        self._finish(status, self._partial_output("incomplete"),
                     self.turn.result if self.turn else None)

    def _output_from(self, reply: RunResult | None) -> list[dict[str, Any]]:
        """Output items for what goes back to this caller (after response hooks)."""
        messages = [m for m in (reply.messages if reply is not None else ())
                    if m.role == "assistant" and m.text]
        return [message_to_output_item(m, self._item_id if i == 0 else None)
                for i, m in enumerate(messages)]

    # running ----------------------------------------------------------------
    async def run_once(self) -> None:
        """Run to completion (no streaming); the outcome is in :attr:`response`."""
        assert self.turn is not None
        try:
            reply = await self.turn.run()
        except asyncio.CancelledError:
            self._interrupted()
            raise
        except Exception as exc:  # the target's failure becomes the response's
            log.warning("response %s: the target failed: %s", self.id, type(exc).__name__,
                        exc_info=exc)
            self.fail("The agent failed while producing this response.")
        else:
            if not self._finished:  # not finished with the turn's records
                self._history_saved = True
                self._finish_result(self._output_from(reply), self.turn.result)
        finally:
            self.release()
            if not self._saved_with_turn:
                await asyncio.shield(self.persist())

    def event(self, type: str, **fields: Any) -> dict[str, Any]:
        """A stream event with the next sequence number."""
        ev = {"type": type, "sequence_number": self.seq, **fields}
        self.seq += 1
        return ev

    def snapshot(self) -> dict[str, Any]:
        """A copy of the Response for an event.

        Shallow on purpose: the Response is only ever changed by replacing
        its top-level values (status, output, usage, error...), never by
        changing a nested object in place, so later changes do not reach an
        event already made; a deep copy per event cost as much as encoding it.
        """
        return dict(self.response)

    async def events(self, *, announce: bool) -> AsyncGenerator[dict[str, Any], None]:
        """Run with streaming, yielding the Responses stream events in order.

        ``announce`` emits ``response.created`` (background runs emitted it
        at creation). However the consumer stops (a client disconnect, a
        cancel), the run is closed and what was produced is stored.
        """
        try:
            if announce:
                yield self.event("response.created", response=self.snapshot())
            self.response["status"] = "in_progress"
            yield self.event("response.in_progress", response=self.snapshot())
            if self.turn is None:
                try:
                    await self.resolve_session()
                    await self.begin()
                except Reject as exc:
                    self.fail(exc.reply or "Not allowed.", "permission_denied")
                except ApiError as exc:
                    self.fail(exc.message, exc.code or "invalid_request")
                if self._finished:
                    yield self.event("response.failed", response=self.snapshot())
                    return
            assert self.turn is not None
            item = self._item_id
            opened = False
            try:
                stream = cast("AsyncGenerator[RunUpdate, None]", self.turn.stream())
                async with aclosing(stream) as updates:
                    async for update in updates:
                        if not update.delta:
                            continue
                        if not opened:
                            opened = True
                            yield self._item_added(item)
                            yield self._part_added(item)
                        self._text.append(update.delta)
                        yield self.event("response.output_text.delta", item_id=item,
                                         output_index=0, content_index=0, delta=update.delta,
                                         logprobs=[])
            except Exception as exc:  # reported as response.failed
                log.warning("response %s: the target failed: %s", self.id,
                            type(exc).__name__, exc_info=exc)
                self._history_saved = bool(self._text)
                self.fail("The agent failed while producing this response.")
                yield self.event("response.failed", response=self.snapshot())
                return
            result = self.turn.result
            self._history_saved = True
            output = self.response["output"] if self._finished \
                else self._output_from(self.turn.reply)
            for index, out in enumerate(output):
                text = _output_text(out)
                if index > 0 or not opened:
                    yield self._item_added(out["id"], index)
                    yield self._part_added(out["id"], index)
                    if index > 0 or text:
                        yield self.event("response.output_text.delta", item_id=out["id"],
                                         output_index=index, content_index=0, delta=text,
                                         logprobs=[])
                yield self.event("response.output_text.done", item_id=out["id"],
                                 output_index=index, content_index=0, text=text, logprobs=[])
                yield self.event("response.content_part.done", item_id=out["id"],
                                 output_index=index, content_index=0,
                                 part=output_text_part(text))
                yield self.event("response.output_item.done", output_index=index, item=out)
            if opened and not output:
                # A response hook dropped what was streamed: close the open item empty.
                empty = {"id": item, "type": "message", "role": "assistant",
                         "status": "incomplete", "content": []}
                yield self.event("response.output_item.done", output_index=0, item=empty)
            status = self.response["status"] if self._finished \
                else self._finish_result(output, result)
            yield self.event(_TERMINAL_EVENT[status], response=self.snapshot())
        finally:
            if not self._finished:
                self._interrupted()
            self.release()
            if not self._saved_with_turn:
                await asyncio.shield(self.persist())

    def _item_added(self, item_id: str, index: int = 0) -> dict[str, Any]:
        return self.event("response.output_item.added", output_index=index,
                          item={"id": item_id, "type": "message", "role": "assistant",
                                "status": "in_progress", "content": []})

    def _part_added(self, item_id: str, index: int = 0) -> dict[str, Any]:
        return self.event("response.content_part.added", item_id=item_id, output_index=index,
                          content_index=0, part=output_text_part(""))

    # persistence --------------------------------------------------------------
    async def persist(self) -> None:
        """Store the record (if ``store``) and, once finished, add the turn to
        its conversation. Never raises: a store failure is logged."""
        try:
            await self._persist()
        except Exception:  # the client already has its answer
            log.exception("response %s: saving failed", self.id)

    async def _persist(self) -> None:
        conv = self.conversation
        if (self._finished and conv and self._history_saved
                and not self._conversation_done):
            self._conversation_done = True
            if await self.records.get_conversation(conv, self.iso) is not None:
                await self.records.add_items(conv, [*self.input, *self.response["output"]],
                                             self.iso)
        if not self.response.get("store"):
            return
        if self.response.get("background") and self.stored:
            current = await self.records.get(self.id, self.iso)
            if current is None:
                return  # deleted while running
            if current["response"].get("status") == "cancelled":
                self.cancel_requested = True
                if self.response["status"] != "cancelled":
                    self.response["status"] = "cancelled"
                    self.response["completed_at"] = None
        record = self.record()
        encoded = self.records.encode(record)
        if encoded is None:
            log.warning("response %s is over max_stored_bytes; not stored", self.id)
            if not self.response.get("background"):
                self.response["store"] = False
                return
            self.response["output"] = []
            self.response["status"] = "failed"
            self.response["error"] = {"code": "server_error",
                                      "message": "The response is over the size limit for "
                                                 "stored responses."}
            self.state = None
            record = self.record()
            encoded = None
        await self.records.put(record, self.iso, encoded)
        self.stored = True

