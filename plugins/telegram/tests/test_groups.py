"""Groups and supergroups: mention rules, session scopes, forum topics."""

from __future__ import annotations

import asyncio
from typing import Any

from telegram import MessageEntity

import hostline
from hostline_telegram.testing import FakeBotAPI

from .conftest import HEADERS, bot_message, message, tg_config, user

GROUP = -1001


async def echo_history(request: hostline.RunRequest) -> str:
    return f"{request.text} [history={len(request.history)}]"


async def post_all(client: Any, updates: list[dict[str, Any]]) -> None:
    for u in updates:
        r = await client.post("/telegram/webhook", json=u, headers=HEADERS)
        assert r.status_code == 200


async def test_mention_only_answers_mentions_replies_and_commands(
        hostline_app: Any, fake: FakeBotAPI) -> None:
    at = "@" + fake.username
    g = {"chat_id": GROUP, "kind": "supergroup"}
    updates = [
        message("just chatting", **g),
        message(f"{at} what time is it", entities=[MessageEntity("mention", 0, len(at))], **g),
        message("hey " + at.upper() + ", help", **g),                    # no entity, any case
        message("answer this", reply_to=bot_message(5, GROUP, fake), **g),
        message("replying to a person", reply_to=message_obj_from_user(), **g),
        message("/help", **g),
        message("/help@some_other_bot", **g),
        message(f"/unknown@{fake.username} do it", **g),
        message("/unknown without a mention", **g),
        message(f"@{fake.username}_fan is someone else", **g),
    ]
    async with hostline_app(tg_config(fake), target=echo_history) as (_host, client):
        await post_all(client, updates)
        await fake.until(lambda: len(fake.texts(GROUP)) >= 5)
        await asyncio.sleep(0.4)
    texts = fake.texts(GROUP)
    assert len(texts) == 5, texts
    assert texts[0] == "what time is it [history=0]"  # the mention is removed
    assert texts[1].startswith("hey , help")
    assert texts[2].startswith("answer this")
    assert texts[3].startswith("Commands:")
    assert texts[4].startswith("/unknown do it")
    # Replies in groups quote the message they answer.
    replied = fake.messages(GROUP)[0].reply_to
    assert replied == updates[1]["message"]["message_id"]


def message_obj_from_user() -> Any:
    from telegram import Message

    from .conftest import NOW, chat

    return Message(3, NOW, chat(GROUP, "supergroup"), from_user=user(77, "Bob"), text="hi")


async def test_group_mode_all_answers_everything(hostline_app: Any, fake: FakeBotAPI) -> None:
    async with hostline_app(tg_config(fake, group_mode="all")) as (_host, client):
        await post_all(client, [message("one", chat_id=GROUP, kind="group"),
                                message("two", chat_id=GROUP, kind="group")])
        await fake.until(lambda: len(fake.texts(GROUP)) >= 2)
    assert fake.texts(GROUP) == ["one", "two"]


async def test_session_scopes(hostline_app: Any, fake: FakeBotAPI) -> None:
    def three(gid: int) -> list[dict[str, Any]]:
        return [message("a", chat_id=gid, kind="group", from_id=1),
                message("b", chat_id=gid, kind="group", from_id=2),
                message("c", chat_id=gid, kind="group", from_id=1)]

    results = {}
    for scope, gid in (("per_chat", -11), ("per_user_per_chat", -12), ("per_user", -13)):
        async with hostline_app(tg_config(fake, group_mode="all", session_scope=scope),
                                target=echo_history) as (_host, client):
            if scope == "per_user":
                # user 1 talked to the bot privately first: per_user shares that history
                await post_all(client, [message("private", chat_id=1)])
                await fake.until(lambda: fake.texts(1))
            await post_all(client, three(gid))
            await fake.until(lambda gid=gid: len(fake.texts(gid)) >= 3)
            results[scope] = fake.texts(gid)
    assert results["per_chat"] == ["a [history=0]", "b [history=2]", "c [history=4]"]
    assert results["per_user_per_chat"] == ["a [history=0]", "b [history=0]", "c [history=2]"]
    assert results["per_user"] == ["a [history=2]", "b [history=0]", "c [history=4]"]


async def test_forum_topics_are_answered_in_their_thread(
        hostline_app: Any, fake: FakeBotAPI) -> None:
    at = "@" + fake.username
    async def slow_echo(request: hostline.RunRequest) -> str:
        await asyncio.sleep(0.2)  # long enough for "typing..."
        return await echo_history(request)

    async with hostline_app(tg_config(fake, session_scope="per_chat", typing_delay=0.05),
                            target=slow_echo) as (_host, client):
        # In a topic, reply_to_message is the topic's first message: not a reply to the bot.
        root = bot_message(7, GROUP, fake)
        await post_all(client, [
            message("in topic 7, not for us", chat_id=GROUP, kind="supergroup", thread=7,
                    reply_to=root),
            message(f"{at} in topic 7", chat_id=GROUP, kind="supergroup", thread=7,
                    reply_to=root),
            message(f"{at} in topic 9", chat_id=GROUP, kind="supergroup", thread=9),
            message(f"{at} again in 7", chat_id=GROUP, kind="supergroup", thread=7),
        ])
        await fake.until(lambda: len(fake.texts(GROUP)) >= 3)
        await asyncio.sleep(0.3)
    sent = fake.messages(GROUP)
    assert [(m.thread_id, m.text) for m in sent] == [
        (7, "in topic 7 [history=0]"), (9, "in topic 9 [history=0]"),
        (7, "again in 7 [history=2]")]
    actions = fake.calls("sendChatAction", chat_id=GROUP)
    assert {c.params.get("message_thread_id") for c in actions} == {7, 9}


async def test_messages_from_bots_and_channels_are_ignored(
        hostline_app: Any, fake: FakeBotAPI) -> None:
    from telegram import User

    other_bot = User(555, "Other", True, username="other_bot")
    async with hostline_app(tg_config(fake, group_mode="all")) as (_host, client):
        await post_all(client, [message("beep", chat_id=GROUP, kind="group",
                                        from_user=other_bot),
                                message("ok", chat_id=GROUP, kind="group")])
        await fake.until(lambda: fake.texts(GROUP))
        await asyncio.sleep(0.2)
    assert fake.texts(GROUP) == ["ok"]
