"""Posting answers: mrkdwn messages in order, files, durable retries.

An answer becomes a list of JSON-able *items* (a text message, a file) so
that the part left over after a transient failure can be committed as a
durable reply task and sent later, in order, by the runner. Rate limits
(429 with ``Retry-After``, or the proactive tier buckets) become the reply
task's delay, so a wait never holds a worker.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import attrs

from hostline import FilePart, ImagePart, RetryableDeliveryError, RunResult, decode_data_url

from .api import SlackError, SlackPermanentError
from .format import render

if TYPE_CHECKING:
    from .channel import SlackChannel

log = logging.getLogger("hostline.slack")

__all__ = ["ANSWERS_NS", "Poster", "Where", "feedback_blocks"]

#: Answers that carry feedback buttons, by ``<instance>:<channel>:<ts>``.
ANSWERS_NS = "slack-answers"
_ANSWER_TTL = 30 * 24 * 3600.0
FEEDBACK_ACTION = "hostline_feedback"


@attrs.frozen
class Where:
    """Where an answer goes: a workspace, a conversation, a thread."""

    team: str
    channel: str
    thread_ts: str | None = None
    user: str | None = None  # the person answered (native streaming in channels needs it)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form (for reply tasks)."""
        return attrs.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Where:
        """Inverse of :meth:`to_json`."""
        return cls(str(data["team"]), str(data["channel"]), data.get("thread_ts"),
                   data.get("user"))


def feedback_blocks(text: str) -> list[dict[str, Any]]:
    """A section with ``text`` (mrkdwn) and the thumbs-up/down feedback buttons under it."""
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {"type": "context_actions", "elements": [{
            "type": "feedback_buttons", "action_id": FEEDBACK_ACTION,
            "positive_button": {"text": {"type": "plain_text", "text": "\U0001f44d"},
                                "accessibility_label": "Good answer", "value": "positive"},
            "negative_button": {"text": {"type": "plain_text", "text": "\U0001f44e"},
                                "accessibility_label": "Bad answer", "value": "negative"},
        }]},
    ]


class Poster:
    """Sends items for one channel instance."""

    def __init__(self, channel: SlackChannel) -> None:
        self.channel = channel

    # items ------------------------------------------------------------------
    def text_items(self, text: str, *, feedback: bool = False) -> list[dict[str, Any]]:
        """Markdown ``text`` as mrkdwn message items (feedback buttons on the last)."""
        items: list[dict[str, Any]] = [{"t": "text", "text": chunk} for chunk in
                                       render(text, limit=self.channel.config.max_message_chars)]
        if feedback and items:
            items[-1]["feedback"] = True
        return items

    def plain_items(self, text: str) -> list[dict[str, Any]]:
        """Text sent as it is (command replies, errors): escaped, split, no buttons."""
        from .format import escape, split_plain

        return [{"t": "text", "text": c}
                for c in split_plain(escape(text), self.channel.config.max_message_chars)]

    def result_items(self, result: RunResult, *, run_id: str | None = None,
                     scope: str | None = None) -> list[dict[str, Any]]:
        """A result as items: each message's text, then its files."""
        items: list[dict[str, Any]] = []
        feedback = self.channel.config.feedback_buttons
        for message in result.messages:
            if message.text.strip():
                items.extend(self.text_items(message.text))
            for part in message.content:
                if isinstance(part, (ImagePart, FilePart)) and (part.url or part.file_id):
                    items.append({"t": "file", "ref": part.url or part.file_id,
                                  "name": part.name, "mime": part.mime_type})
        texts = [i for i in items if i["t"] == "text"]
        if feedback and texts:
            texts[-1].update(feedback=True, answer=result.text[:4000], run_id=run_id,
                             scope=scope)
        return items

    # sending ----------------------------------------------------------------
    async def send(self, where: Where, item: dict[str, Any]) -> str | None:
        """Send one item; returns the message ``ts`` (``None`` for files)."""
        ch = self.channel
        if item["t"] == "file":
            await self.upload(where, item)
            return None
        params: dict[str, Any] = {"channel": where.channel, "text": item["text"],
                                  "thread_ts": where.thread_ts, "unfurl_links": False}
        if item.get("feedback"):
            params["blocks"] = feedback_blocks(item["text"])
        if item.get("edit"):
            params = {"channel": where.channel, "ts": item["edit"], "text": item["text"],
                      "blocks": params.get("blocks", [])}
            answer = await ch.call(where.team, "chat.update", params, channel=where.channel)
        else:
            answer = await ch.call(where.team, "chat.postMessage", params, channel=where.channel)
        ts = answer.get("ts") if isinstance(answer.get("ts"), str) else item.get("edit")
        if item.get("feedback") and ts:
            await ch.host.store.kv_put(
                ANSWERS_NS, f"{ch.name}:{where.channel}:{ts}",
                {"answer": item.get("answer") or item["text"], "run_id": item.get("run_id"),
                 "scope": item.get("scope"), "team": where.team}, ttl=_ANSWER_TTL)
        return str(ts) if ts else None

    async def upload(self, where: Where, item: dict[str, Any]) -> None:
        """The external-upload flow: get an upload URL, send the bytes, complete."""
        ch = self.channel
        ref = str(item["ref"])
        name = str(item.get("name") or "file")
        mime = str(item.get("mime") or "application/octet-stream")
        if ref.startswith("data:"):
            try:
                inline = decode_data_url(ref)
            except ValueError:
                raise SlackPermanentError("files.getUploadURLExternal",
                                          "invalid data URL") from None
            mime, content = inline.mime_type, inline.data
        elif ref.startswith(("http://", "https://")):
            # A link is shared as a link: fetching arbitrary URLs is not our job.
            await ch.call(where.team, "chat.postMessage",
                          {"channel": where.channel, "thread_ts": where.thread_ts,
                           "text": f"<{ref}|{name}>"}, channel=where.channel)
            return
        else:
            raise SlackPermanentError("files.getUploadURLExternal",
                                      f"cannot send a file from {ref[:20]!r}")
        got = await ch.call(where.team, "files.getUploadURLExternal",
                            {"filename": name, "length": len(content)})
        url, file_id = got.get("upload_url"), got.get("file_id")
        if not isinstance(url, str) or not isinstance(file_id, str):
            raise SlackPermanentError("files.getUploadURLExternal", "no upload_url in the answer")
        await ch.api.upload(url, content, name, mime)
        await ch.call(where.team, "files.completeUploadExternal",
                      {"files": [{"id": file_id, "title": name}], "channel_id": where.channel,
                       "thread_ts": where.thread_ts})

    async def deliver(self, where: Where, items: list[dict[str, Any]], *, key: str,
                      in_task: bool) -> list[str]:
        """Send ``items`` in order; returns the message timestamps.

        A transient failure hands the rest to a durable reply task (or, inside
        a task with nothing sent yet, re-raises so the runner retries it). A
        conversation that is gone ends the delivery (a permanent error inside
        a task, so the outbox dead-letters it).
        """
        ids: list[str] = []
        for i, item in enumerate(items):
            try:
                ts = await self.send(where, item)
            except SlackError as exc:
                if isinstance(exc, RetryableDeliveryError):
                    if in_task and i == 0:
                        raise
                    await self.channel.enqueue_reply(where, items[i:], f"{key}/{i}",
                                                     exc.retry_after or 0.0)
                    return ids
                if exc.gone:
                    if in_task:
                        raise
                    log.info("slack channel %r: %s unreachable: %s", self.channel.name,
                             where.channel, exc.error)
                    return ids
                log.warning("slack channel %r: dropped part %d of an answer to %s: %s",
                            self.channel.name, i, where.channel, exc)
                continue
            if ts is not None:
                ids.append(ts)
        return ids

    async def note_thread(self, where: Where) -> None:
        """Remember that the bot takes part in this thread (follow-ups need no mention)."""
        if where.thread_ts:
            await self.channel.host.store.kv_put(
                "slack-threads", f"{self.channel.name}:{where.team}:{where.channel}:"
                f"{where.thread_ts}", {"at": time.time()}, ttl=self.channel.config.dedupe_ttl * 15)
