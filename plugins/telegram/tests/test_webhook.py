"""Webhook mode, in process: secret check, durable ack, dedupe, commands, identity."""

from __future__ import annotations

import asyncio
from typing import Any

import hostline
from hostline.testing import make_host, run_host
from hostline_telegram.testing import FakeBotAPI

from .conftest import HEADERS, channel_table, message, tg_config


async def test_reply_identity_and_destination(hostline_app: Any, fake: FakeBotAPI) -> None:
    seen: list[hostline.RunRequest] = []

    async def target(request: hostline.RunRequest) -> str:
        seen.append(request)
        await asyncio.sleep(0.3)  # long enough for "typing..."
        return f"you said *{request.text}*"

    async with hostline_app(tg_config(fake, typing_delay=0), target=target) as (_host, client):
        r = await client.post("/telegram/webhook", json=message("hi there", chat_id=42),
                              headers=HEADERS)
        assert r.status_code == 200
        await fake.until(lambda: fake.texts(42))
    assert fake.texts(42) == ["you said hi there"]
    assert fake.messages(42)[0].entities == [{"type": "italic", "offset": 9, "length": 8}]
    req = seen[0]
    assert req.identity == hostline.Identity("telegram", "42", "Ann Lee",
                                             {"username": "ann", "language_code": "en"})
    assert req.identity.claims == {"username": "ann", "language_code": "en"}
    assert req.destination.address == "42" and not req.destination.is_group
    assert [c.method for c in fake.calls()][:2] == ["getMe", "setMyCommands"]
    assert fake.calls("sendChatAction", chat_id=42)[0].params["action"] == "typing"


async def test_wrong_or_missing_secret_is_401_and_nothing_is_sent(
        hostline_app: Any, fake: FakeBotAPI) -> None:
    async with hostline_app(tg_config(fake)) as (host, client):
        for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"},
                        {"X-Telegram-Bot-Api-Secret-Token": ""}):
            r = await client.post("/telegram/webhook", json=message("x"), headers=headers)
            assert r.status_code == 401
            assert fake.token not in r.text
        assert await host.store.count_pending() == 0
        await asyncio.sleep(0.3)
    assert fake.calls("sendMessage") == [] and fake.calls("sendChatAction") == []


async def test_poison_bodies_are_acked_and_dead_lettered(hostline_app: Any,
                                                         fake: FakeBotAPI) -> None:
    """Telegram resends what is not acked: a body that can never be processed
    gets 200, a dead letter with its reason, and a count."""
    async with hostline_app(tg_config(fake)) as (host, client):
        for body in (b"{not json", b'{"message": {}}', b"[1, 2]",
                     b'{"a":' * 100 + b"1" + b"}" * 100):
            r = await client.post("/telegram/webhook", content=body, headers=HEADERS)
            assert r.status_code == 200, r.text
        dead = await host.store.list_tasks(["dead"])
        assert len(dead) == 4 and host.metrics["dead_letters:telegram"] == 4
        assert "invalid_json" in (dead[0].last_error or "")
        assert "too_deep" in (dead[3].last_error or "")
        r = await client.get("/telegram/webhook")
        assert r.status_code == 405


async def test_duplicate_update_gets_one_reply(hostline_app: Any, fake: FakeBotAPI) -> None:
    update = message("once", chat_id=50)
    async with hostline_app(tg_config(fake)) as (_host, client):
        for _ in range(3):  # while queued
            assert (await client.post("/telegram/webhook", json=update,
                                      headers=HEADERS)).status_code == 200
        await fake.until(lambda: fake.texts(50))
        await asyncio.sleep(0.2)
        # Telegram redelivers after the task is gone: still deduplicated.
        assert (await client.post("/telegram/webhook", json=update,
                                  headers=HEADERS)).status_code == 200
        await asyncio.sleep(0.4)
    assert fake.texts(50) == ["once"]


async def test_restart_keeps_history_and_dedupe(tmp_path: Any, fake: FakeBotAPI) -> None:
    async def target(request: hostline.RunRequest) -> str:
        return f"{request.text} [history={len(request.history)}]"

    config = tg_config(fake)
    first = message("one", chat_id=60)
    async with run_host(make_host(tmp_path, config, target=target)) as (_, client):
        await client.post("/telegram/webhook", json=first, headers=HEADERS)
        await fake.until(lambda: fake.texts(60))
    async with run_host(make_host(tmp_path, config, target=target)) as (_host, client):
        await client.post("/telegram/webhook", json=first, headers=HEADERS)  # redelivery
        await client.post("/telegram/webhook", json=message("two", chat_id=60), headers=HEADERS)
        await fake.until(lambda: len(fake.texts(60)) >= 2)
        await asyncio.sleep(0.3)
    assert fake.texts(60) == ["one [history=0]", "two [history=2]"]


async def test_commands_new_help_and_plugin_commands(hostline_app: Any, fake: FakeBotAPI) -> None:
    class Plugin:
        __name__ = "ping-plugin"

        @hostline.hookimpl
        def hostline_commands(self, host: hostline.Host) -> list[hostline.Command]:
            return [hostline.Command("ping", "Answer pong", lambda ctx: f"pong {ctx.args}")]

    async def target(request: hostline.RunRequest) -> str:
        return f"history={len(request.history)}"

    async with hostline_app(tg_config(fake), target=target, plugins=[Plugin()]) as (_h, client):
        assert {"command": "ping", "description": "Answer pong"} in fake.commands
        assert {c["command"] for c in fake.commands} >= {"start", "help", "new"}
        for text in ("a", "b", "/ping x", "/new", "c", "/help", "/start"):
            await client.post("/telegram/webhook", json=message(text, chat_id=70),
                              headers=HEADERS)
        await fake.until(lambda: len(fake.texts(70)) >= 7)
    texts = fake.texts(70)
    assert texts[:5] == ["history=0", "history=2", "pong x", "Started a new conversation.",
                         "history=0"]
    assert "/ping - Answer pong" in texts[5]
    assert texts[6].startswith("Hello!")


async def test_set_webhook_at_start_up(hostline_app: Any, fake: FakeBotAPI) -> None:
    config = tg_config(fake, host={"public_url": "https://bot.example.com/"},
                       allowed_updates=["message"], drop_pending_updates=True)
    async with hostline_app(config):
        hook = fake.webhook
    assert hook is not None
    assert hook["url"] == "https://bot.example.com/telegram/webhook"
    assert hook["secret_token"] == "s3cret-Token_1"
    assert hook["allowed_updates"] == ["message"]
    assert hook["drop_pending_updates"] is True


async def test_overloaded_host_answers_429_with_retry_after(
        hostline_app: Any, fake: FakeBotAPI) -> None:
    release = asyncio.Event()

    async def target(request: hostline.RunRequest) -> str:
        await release.wait()
        return "done"

    config = tg_config(fake, outbox={"high_water": 2})
    async with hostline_app(config, target=target) as (host, client):
        for chat_id in (1, 2):
            r = await client.post("/telegram/webhook", json=message("x", chat_id=chat_id),
                                  headers=HEADERS)
            assert r.status_code == 200
        r = await client.post("/telegram/webhook", json=message("x", chat_id=3), headers=HEADERS)
        assert r.status_code == 429
        assert r.headers["retry-after"] == "5"
        assert (await client.get("/readyz")).json()["overloaded"] is True
        release.set()
        await fake.until(lambda: fake.texts(1) and fake.texts(2))
        await fake.until(lambda: not host.overloaded)
        r = await client.post("/telegram/webhook", json=message("x", chat_id=3), headers=HEADERS)
        assert r.status_code == 200
        await fake.until(lambda: fake.texts(3))


async def test_reject_sends_the_denied_reply(hostline_app: Any, fake: FakeBotAPI) -> None:
    config = tg_config(fake) + '[channels.telegram.allow]\nnative_ids = ["1"]\n'
    async with hostline_app(config) as (_host, client):
        await client.post("/telegram/webhook", json=message("let me in", chat_id=99),
                          headers=HEADERS)
        await fake.until(lambda: fake.texts(99))
    assert fake.texts(99) == ["Sorry, you are not allowed to use this bot."]


async def test_config_errors_are_clear_and_never_echo_secrets(tmp_path: Any,
                                                              fake: FakeBotAPI) -> None:
    import pytest

    with pytest.raises(hostline.ConfigError) as info:
        make_host(tmp_path / "a", tg_config(fake, secret_token=None))
    assert "secret_token" in str(info.value) and "required in webhook mode" in str(info.value)
    with pytest.raises(hostline.ConfigError) as info:
        make_host(tmp_path / "b", tg_config(fake, secret_token="has spaces!"))
    assert "has spaces" not in str(info.value)
    with pytest.raises(hostline.ConfigError) as info:
        make_host(tmp_path / "c", tg_config(fake, group_mode="sometimes"))
    assert "group_mode" in str(info.value)
    host = make_host(tmp_path / "d", tg_config(fake, mode="polling", secret_token=None))
    assert "polling" in repr(host.channels["telegram"].config)
    assert fake.token not in repr(host.channels["telegram"].config)


async def test_two_bots_in_one_host(tmp_path: Any) -> None:
    async with FakeBotAPI("111:first-bot-token-aaaaaaaaaaaaaaaa", username="first_bot") as one, \
            FakeBotAPI("222:second-bot-token-bbbbbbbbbbbbbbb", username="second_bot") as two:
        config = tg_config(one) + "\n" + channel_table(two, "support")
        async with run_host(make_host(tmp_path, config)) as (host, client):
            assert set(host.channels) == {"telegram", "support"}
            await client.post("/telegram/webhook", json=message("to one", chat_id=5),
                              headers=HEADERS)
            await client.post("/support/webhook", json=message("to two", chat_id=5),
                              headers=HEADERS)
            await one.until(lambda: one.texts(5))
            await two.until(lambda: two.texts(5))
            await host.push("pushed", to=hostline.Destination("support", "6"))
            await two.until(lambda: two.texts(6))
    assert one.texts(5) == ["to one"] and two.texts(5) == ["to two"]
    assert one.texts(6) == []


async def test_update_interrupted_by_shutdown_is_answered_after_restart(
        tmp_path: Any, fake: FakeBotAPI) -> None:
    started = asyncio.Event()

    async def slow(request: hostline.RunRequest) -> str:
        started.set()
        await asyncio.sleep(30)
        return "too late"

    async def fast(request: hostline.RunRequest) -> str:
        return f"answered: {request.text}"

    config = tg_config(fake).replace("shutdown_grace = 2", "shutdown_grace = 0.2")
    async with run_host(make_host(tmp_path, config, target=slow)) as (_, client):
        await client.post("/telegram/webhook", json=message("hello", chat_id=61),
                          headers=HEADERS)
        await asyncio.wait_for(started.wait(), 5)
    # The run was cancelled and its lease given back: the next start resumes it,
    # and the dedupe record of the interrupted attempt does not hide it.
    async with run_host(make_host(tmp_path, config, target=fast)):
        await fake.until(lambda: fake.texts(61))
    assert fake.texts(61) == ["answered: hello"]


async def test_a_poison_update_naming_a_chat_gets_the_error_reply(
        hostline_app: Any, fake: FakeBotAPI) -> None:
    update = message("x", chat_id=77)
    update["update_id"] = "not-an-int"
    async with hostline_app(tg_config(fake)) as (host, client):
        r = await client.post("/telegram/webhook", json=update, headers=HEADERS)
        assert r.status_code == 200
        await fake.until(lambda: fake.texts(77))
        assert fake.texts(77) == ["Sorry, something went wrong. Please try again."]
        assert host.metrics["dead_letters:telegram"] == 1


async def test_a_reply_with_a_lone_surrogate_is_still_sent(hostline_app: Any,
                                                          fake: FakeBotAPI) -> None:
    async def target(request: hostline.RunRequest) -> str:
        return "odd \ud800 reply"

    async with hostline_app(tg_config(fake, stream=False), target=target) as (_host, client):
        r = await client.post("/telegram/webhook", json=message("hi", chat_id=78),
                              headers=HEADERS)
        assert r.status_code == 200
        await fake.until(lambda: fake.texts(78))
        assert fake.texts(78) == ["odd \ufffd reply"]
