"""Slash commands and feedback clicks, run from the durable queue.

A slash command ``/new`` (or ``/agent new`` for an app with one command) runs
hostline's command of that name; the answer goes back ephemerally through
the command's ``response_url`` (``chat.postEphemeral`` when it is gone). A
click on the feedback buttons under an answer becomes a
:class:`hostline.Feedback` with the answer it refers to, handed to every
``hostline_feedback`` implementation.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Literal

from hostline import Feedback, Identity, Task

from .api import SlackRetryableError
from .delivery import ANSWERS_NS
from .events import d, s, slack_id

if TYPE_CHECKING:
    from .channel import SlackChannel

__all__ = ["record_feedback", "respond", "run_command"]


async def run_command(ch: SlackChannel, task: Task) -> None:
    """Runner handler: a slash command; the reply goes back through ``response_url``."""
    form = {k: v for k, v in d(task.payload.get("form")).items() if isinstance(v, str)}
    team, user, channel = form["team_id"], form["user_id"], form["channel_id"]
    name = form["command"].lstrip("/").lower()
    args = form.get("text", "").strip()
    known = await ch.host.commands()
    if name in known:
        text = f"/{name} {args}".strip()
    elif args.split(maxsplit=1)[:1] and args.split(maxsplit=1)[0].lower().lstrip("/") \
            in known:
        text = "/" + args.lstrip("/")
    else:
        names = ", ".join(f"/{n}" for n in sorted(known))
        await respond(ch, form, f"Unknown command. Try: {names}")
        return
    identity = Identity(ch.name, f"{team}:{user}", form.get("user_name") or None,
                        {"team_id": team})
    reply = await ch.host.dispatch_command(text, channel=ch.name,
                                             scope=f"{team}:{channel}", identity=identity)
    await respond(ch, form, reply or "Done.")

async def respond(ch: SlackChannel, form: dict[str, str], text: str) -> None:
    url = form.get("response_url", "")
    team, channel = form["team_id"], form["channel_id"]
    if url.startswith(("https://", "http://")):
        try:
            resp = await ch.api.client.post(url, json={"response_type": "ephemeral",
                                                         "text": text})
        except Exception as exc:  # noqa: BLE001 - the network decides; retried by the task
            raise SlackRetryableError("response_url", type(exc).__name__) from None
        if resp.status_code >= 500 or resp.status_code == 429:
            raise SlackRetryableError("response_url", f"HTTP {resp.status_code}")
        if resp.status_code < 400:
            return
    await ch.call(team, "chat.postEphemeral", {"channel": channel, "user": form["user_id"],
                                                 "text": text}, channel=channel)

async def record_feedback(ch: SlackChannel, task: Task) -> None:
    """Runner handler: a feedback click, handed to ``hostline_feedback``."""
    payload = task.payload
    team = s(payload.get("team"))
    user = d(payload.get("user"))
    container = d(payload.get("container"))
    channel = slack_id(container.get("channel_id")) or slack_id(
        d(payload.get("channel")).get("id"))
    ts = slack_id(container.get("message_ts"))
    for action in payload.get("actions") or ():
        value = s(d(action).get("value")) or s(d(d(action).get("selected_option"))
                                               .get("value"))
        rating: Literal["positive", "negative"] = \
            "positive" if value in ("positive", "good", "up") else "negative"
        known = await ch.host.store.kv_get(ANSWERS_NS, f"{ch.name}:{channel}:{ts}")
        answer = d(known)
        uid = slack_id(user.get("id"))
        identity = Identity(ch.name, f"{team}:{uid}", s(user.get("name")) or None,
                            {"team_id": team}) if uid else None
        await ch.host.feedback(Feedback(
            ch.name, rating, answer=s(answer.get("answer")), message_id=ts,
            identity=identity, scope=s(answer.get("scope")) or None,
            run_id=s(answer.get("run_id")) or None,
            extra={"team_id": team, "channel_id": channel,
                   "thread_ts": slack_id(container.get("thread_ts")) or None,
                   "action_ts": s(d(action).get("action_ts")) or None},
            at=time.time()))
