"""Fixtures: a FakeBotAPI per test, config text, python-telegram-bot updates."""

from __future__ import annotations

import datetime
import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from telegram import (
    Chat,
    ChatMemberBanned,
    ChatMemberMember,
    ChatMemberUpdated,
    Document,
    Message,
    MessageEntity,
    PhotoSize,
    Update,
    User,
)

from hostline_telegram.testing import FakeBotAPI

SECRET = "s3cret-Token_1"
HEADERS = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
TESTS_DIR = Path(__file__).parent
NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


@pytest.fixture
def fake() -> Any:
    with FakeBotAPI() as f:
        yield f


def toml_value(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, bool) else str(value).lower()


def tg_config(fake: FakeBotAPI, *, host: dict[str, Any] | None = None,
              outbox: dict[str, Any] | None = None, name: str = "telegram",
              **channel: Any) -> str:
    """A hostline.toml with one Telegram channel pointed at ``fake``."""
    lines = ["[host]", "shutdown_grace = 2"]
    lines += [f"{k} = {toml_value(v)}" for k, v in (host or {}).items()]
    lines += ["", "[host.outbox]"]
    box = {"poll_interval": 0.05, "backoff_initial": 0.1, "backoff_max": 1.0}
    box.update(outbox or {})
    lines += [f"{k} = {toml_value(v)}" for k, v in box.items()]
    return "\n".join(lines) + "\n\n" + channel_table(fake, name, **channel)


def channel_table(fake: FakeBotAPI, name: str = "telegram", **channel: Any) -> str:
    """One ``[channels.<name>]`` table for a Telegram bot served by ``fake``."""
    # The fake does not limit the bot as a whole: tests of the bot-wide pace set bot_rate.
    opts: dict[str, Any] = {"token": fake.token, "secret_token": SECRET, "api_base": fake.url,
                            "stream_edit_interval": 0.2, "bot_rate": 0}
    opts.update(channel)
    lines = [f"[channels.{name}]"]
    if name != "telegram":
        lines.append('plugin = "telegram"')
    lines += [f"{k} = {toml_value(v)}" for k, v in opts.items() if v is not None]
    return "\n".join(lines) + "\n"


_ids = itertools.count(1000)


def user(uid: int = 42, first: str = "Ann", username: str | None = "ann",
         language: str | None = "en", last: str | None = "Lee") -> User:
    return User(uid, first, False, last_name=last, username=username, language_code=language)


def chat(cid: int = 42, kind: str = "private", forum: bool = False) -> Chat:
    if kind == "private":
        return Chat(cid, "private", first_name="Ann")
    return Chat(cid, kind, title="Group", is_forum=forum or None)


def as_json(update: Update) -> dict[str, Any]:
    return json.loads(update.to_json())


def message(text: str | None = "hello", *, chat_id: int = 42, from_id: int | None = None,
            kind: str = "private", update_id: int | None = None, thread: int | None = None,
            reply_to: Message | None = None, entities: list[MessageEntity] | None = None,
            photo: list[PhotoSize] | None = None, document: Document | None = None,
            caption: str | None = None, from_user: User | None = None,
            message_id: int | None = None) -> dict[str, Any]:
    """A Telegram Update carrying one message, built with python-telegram-bot."""
    uid = update_id if update_id is not None else next(_ids)
    sender = from_user or user(from_id if from_id is not None else
                               (chat_id if kind == "private" else 42))
    msg = Message(
        message_id if message_id is not None else uid, NOW,
        chat(chat_id, kind, forum=thread is not None), from_user=sender, text=text,
        entities=entities, message_thread_id=thread,
        is_topic_message=True if thread is not None else None, reply_to_message=reply_to,
        photo=photo, document=document, caption=caption)
    return as_json(Update(uid, message=msg))


def bot_message(message_id: int, chat_id: int, fake: FakeBotAPI, kind: str = "group") -> Message:
    """A message sent by the bot (to reply to)."""
    bot = User(fake.bot_id, fake.first_name, True, username=fake.username)
    return Message(message_id, NOW, chat(chat_id, kind), from_user=bot, text="earlier answer")


def member_update(status: str, chat_id: int = 42) -> dict[str, Any]:
    """A my_chat_member update: the user blocked ("kicked") or restarted the bot."""
    u = user(chat_id)
    bot = User(123456789, "Bot", True)
    new = ChatMemberBanned(bot, NOW) if status == "kicked" else ChatMemberMember(bot)
    upd = ChatMemberUpdated(chat(chat_id), u, NOW, ChatMemberMember(bot), new)
    return as_json(Update(next(_ids), my_chat_member=upd))
