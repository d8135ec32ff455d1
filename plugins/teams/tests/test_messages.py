"""Activities in, replies out: against a real in-process host and the fakes."""

from __future__ import annotations

import asyncio
import base64
import json

import hostline
from hostline import FilePart, ImagePart, Message, RunResult

GROUP = {"conversation_id": "19:group-chat@thread.v2", "conversation_type": "groupChat"}


def recorder(reply=lambda request: f"echo: {request.text}"):
    calls: list[hostline.RunRequest] = []

    async def target(request):
        calls.append(request)
        return reply(request)

    return calls, target


async def test_reply_goes_to_the_reply_endpoint_with_a_bearer_token(bf, teams_toml,
                                                                    hostline_app):
    calls, target = recorder()
    async with hostline_app(teams_toml(typing=False), target=target) as (_host, client):
        first = bf.message("one")
        assert (await bf.post(client, first)).status_code == 202
        [reply] = await bf.connector.wait_for(1, type="message")
        assert reply.conversation_id == "a:personal-1"
        assert reply.reply_to_id == first["id"]
        assert reply.token_claims["appid"] == bf.app_id
        assert reply.token_claims["aud"] == "https://api.botframework.com"
        act = reply.activity
        assert act["text"] == "echo: one" and act["textFormat"] == "markdown"
        assert act["replyToId"] == first["id"]
        assert act["from"] == {"id": bf.bot_id, "name": bf.bot_name}
        assert act["recipient"]["id"] == "29:user-1"
        assert act["conversation"]["id"] == "a:personal-1"
        for text in ("two", "three"):
            assert (await bf.post(client, bf.message(text))).status_code == 202
        await bf.connector.wait_for(3, type="message")
        # One client-credentials token serves every call until it nears expiry.
        assert bf.tokens.requests == 1
        identity = calls[0].identity
        assert identity.key == "teams:aad-user-1"
        assert identity.display_name == "Ada Lovelace"
        assert identity.claims["tenant_id"] == "tenant-1"


async def test_typing_indicator_while_the_target_runs(bf, teams_toml, hostline_app):
    release = asyncio.Event()

    async def slow(request):
        await release.wait()
        return "done"

    async with hostline_app(teams_toml(typing_interval=0.01), target=slow) as (_host, client):
        activity = bf.message("think")
        assert (await bf.post(client, activity)).status_code == 202
        await bf.connector.wait_for(2, type="typing")
        release.set()
        await bf.connector.wait_for(1, type="message")
        kinds = [r.type for r in bf.connector.activities()]
        assert kinds[-1] == "message" and set(kinds[:-1]) == {"typing"}
        typing = bf.connector.activities(type="typing")[0]
        assert typing.reply_to_id == activity["id"]


async def test_mentions_of_the_bot_are_stripped_in_groups(bf, teams_toml, hostline_app):
    calls, target = recorder()
    async with hostline_app(teams_toml(), target=target) as (_host, client):
        other = {"type": "mention", "text": "<at>Grace</at>",
                 "mentioned": {"id": "29:grace", "name": "Grace"}}
        activity = bf.message("ask <at>Grace</at> too", mention=True, entities=[other], **GROUP)
        assert (await bf.post(client, activity)).status_code == 202
        [reply] = await bf.connector.wait_for(1, type="message")
        assert calls[0].text == "ask Grace too"
        assert reply.text == "echo: ask Grace too"
        assert reply.conversation_id == GROUP["conversation_id"]


async def test_group_mode(bf, teams_toml, hostline_app):
    calls, target = recorder()
    async with hostline_app(teams_toml(), target=target) as (_host, client):
        await bf.post(client, bf.message("not for the bot", **GROUP))
        await bf.post(client, bf.message("for the bot", mention=True, **GROUP))
        await bf.connector.wait_for(1, type="message")
        assert [c.text for c in calls] == ["for the bot"]
    bf.reset()
    calls, target = recorder()
    async with hostline_app(teams_toml(group_mode="always"), target=target) as (_host, client):
        await bf.post(client, bf.message("anyone", **GROUP))
        await bf.connector.wait_for(1, type="message")
        assert [c.text for c in calls] == ["anyone"]
    bf.reset()
    calls, target = recorder()
    async with hostline_app(teams_toml(group_mode="never"), target=target) as (_host, client):
        await bf.post(client, bf.message("ignored", mention=True, **GROUP))
        await bf.post(client, bf.message("personal"))
        await bf.connector.wait_for(1, type="message")
        assert [c.text for c in calls] == ["personal"]


def _memory(request):
    seen = [m.text for m in request.history if m.role == "user"]
    return f"{request.text} after {seen}"


async def test_conversation_memory_and_new(bf, teams_toml, hostline_app):
    _, target = recorder(_memory)
    async with hostline_app(teams_toml(typing=False), target=target) as (_host, client):
        for text in ("a", "b", "/new", "c"):
            assert (await bf.post(client, bf.message(text))).status_code == 202
        replies = await bf.connector.wait_for(4, type="message")
        assert [r.text for r in replies] == [
            "a after []", "b after ['a']", "Started a new conversation.", "c after []"]


async def test_session_scopes(bf, teams_toml, hostline_app):
    ada = {"user_id": "29:ada", "aad_object_id": "aad-ada"}
    bob = {"user_id": "29:bob", "aad_object_id": "aad-bob", "user_name": "Bob"}
    other_group = {**GROUP, "conversation_id": "19:other@thread.v2"}
    expected = {
        # Ada then Bob in the group, then Ada in another group.
        "per_conversation": ["1 after []", "2 after ['1']", "3 after []"],
        "per_user_per_conversation": ["1 after []", "2 after []", "3 after []"],
        "per_user": ["1 after []", "2 after []", "3 after ['1']"],
    }
    for scope, want in expected.items():
        bf.reset()
        _, target = recorder(_memory)
        toml = teams_toml(session_scope=scope, typing=False)
        async with hostline_app(toml, target=target) as (_host, client):
            for i, (who, where) in enumerate([(ada, GROUP), (bob, GROUP), (ada, other_group)]):
                await bf.post(client, bf.message(str(i + 1), mention=True, **who, **where))
                await bf.connector.wait_for(i + 1, type="message")
            assert [r.text for r in bf.connector.activities(type="message")] == want, scope


async def test_attachments_arrive_as_parts(bf, teams_toml, hostline_app):
    calls, target = recorder(lambda r: "got it")
    async with hostline_app(teams_toml(), target=target) as (_host, client):
        activity = bf.message("look", attachments=[
            {"contentType": "image/png", "contentUrl": "https://files.example/cat.png",
             "name": "cat.png"},
            {"contentType": "application/vnd.microsoft.teams.file.download.info",
             "name": "report.pdf", "content": {"downloadUrl": "https://files.example/r.pdf",
                                               "fileType": "pdf", "uniqueId": "x"}},
            {"contentType": "text/html", "content": "<p>look</p>"},
        ])
        await bf.post(client, activity)
        await bf.connector.wait_for(1, type="message")
        [message] = calls[0].input
        assert message.text == "look"
        parts = message.content[1:]
        assert parts == (ImagePart(url="https://files.example/cat.png", mime_type="image/png",
                                   name="cat.png"),
                         FilePart(url="https://files.example/r.pdf", name="report.pdf",
                                  mime_type="application/pdf"))


async def test_result_attachments_are_adaptive_cards(bf, teams_toml, hostline_app):
    own_card = {"type": "AdaptiveCard", "version": "1.5",
                "body": [{"type": "TextBlock", "text": "custom"}]}
    data_url = "data:application/vnd.microsoft.card.adaptive;base64," + base64.b64encode(
        json.dumps(own_card).encode()).decode()

    async def target(request):
        return RunResult((Message.assistant([
            "here you are", ImagePart(url="https://img.example/chart.png", name="chart"),
            FilePart(url="https://files.example/data.csv", name="data.csv"),
            FilePart(url=data_url, mime_type="application/vnd.microsoft.card.adaptive"),
        ]),))

    async with hostline_app(teams_toml(), target=target) as (_host, client):
        await bf.post(client, bf.message("chart please"))
        [reply] = await bf.connector.wait_for(1, type="message")
        assert reply.text == "here you are"
        cards = reply.activity["attachments"]
        assert {c["contentType"] for c in cards} == {"application/vnd.microsoft.card.adaptive"}
        image, file, custom = (c["content"] for c in cards)
        assert image["body"] == [{"type": "Image", "url": "https://img.example/chart.png",
                                  "altText": "chart"}]
        assert file["actions"][0] == {"type": "Action.OpenUrl", "title": "Open",
                                      "url": "https://files.example/data.csv"}
        assert custom == own_card


async def test_conversation_update_welcome(bf, teams_toml, hostline_app):
    async with hostline_app(teams_toml(welcome_text="Hi, I am a bot.")) as (_host, client):
        update = bf.conversation_update()
        assert (await bf.post(client, update)).status_code == 202
        [welcome] = await bf.connector.wait_for(1, type="message")
        assert welcome.text == "Hi, I am a bot."
        assert welcome.reply_to_id is None and welcome.conversation_id == "a:personal-1"
        # In a group: a new member is not greeted, the bot joining is.
        await bf.post(client, bf.conversation_update([{"id": "29:newcomer"}], **GROUP))
        await bf.post(client, bf.conversation_update(**GROUP))
        await bf.connector.wait_for(2, type="message")
        assert [r.conversation_id for r in bf.connector.activities(type="message")] == [
            "a:personal-1", GROUP["conversation_id"]]


async def test_ignored_activities_do_not_run(bf, teams_toml, hostline_app):
    calls, target = recorder()
    toml = teams_toml()  # no welcome_text: conversationUpdate only stores the reference
    async with hostline_app(toml, target=target) as (host, client):
        typing = await bf.post(client, bf.typing())
        assert typing.status_code == 200
        assert await host.store.count_pending() == 0  # typing is not even queued
        for activity in (bf.reaction(), bf.conversation_update(),
                         bf._activity("installationUpdate", action="add"),
                         bf._activity("event", name="something")):
            assert (await bf.post(client, activity)).status_code == 202
        await bf.post(client, bf.message("real"))
        await bf.connector.wait_for(1, type="message")
        assert [c.text for c in calls] == ["real"]
        assert len(bf.connector.activities(type="message")) == 1


async def test_card_action_invoke(bf, teams_toml, hostline_app):
    calls, target = recorder(lambda r: f"action: {r.text}")
    async with hostline_app(teams_toml(invoke_reply="On it."), target=target) as (_host,
                                                                                   client):
        invoke = bf.invoke(value={"action": {"type": "Action.Execute", "verb": "order",
                                             "data": {"text": "one pizza"}},
                                  "trigger": "manual"})
        response = await bf.post(client, invoke)
        assert response.status_code == 200
        assert response.json() == {"statusCode": 200,
                                   "type": "application/vnd.microsoft.activity.message",
                                   "value": "On it."}
        [reply] = await bf.connector.wait_for(1, type="message")
        assert reply.text == "action: one pizza"
        assert calls[0].options["teams_action"] == {"verb": "order",
                                                    "data": {"text": "one pizza"}}
        # Unhandled invoke names: 501, like the Bot Framework SDK; nothing runs.
        response = await bf.post(client, bf.invoke("composeExtension/query", {"q": 1}))
        assert response.status_code == 501
        # Action.Submit arrives as a message with a value and no text.
        await bf.post(client, bf.message("", value={"choice": "b"}))
        await bf.connector.wait_for(2, type="message")
        assert calls[1].text == '{"choice": "b"}'
        assert len(calls) == 2


async def test_overloaded_host_answers_503_with_retry_after(bf, teams_toml, hostline_app):
    toml = teams_toml(host="[host.outbox]\nhigh_water = 0")
    async with hostline_app(toml) as (host, client):
        response = await bf.post(client, bf.message("too much"))
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        assert await host.store.count_pending() == 0


async def test_redelivered_activity_runs_once(bf, teams_toml, hostline_app):
    calls, target = recorder()
    async with hostline_app(teams_toml(), target=target) as (_host, client):
        activity = bf.message("once")
        assert (await bf.post(client, activity)).status_code == 202
        await bf.connector.wait_for(1, type="message")
        assert (await bf.post(client, activity)).status_code == 202
        await bf.post(client, bf.message("next"))
        await bf.connector.wait_for(2, type="message")
        assert [c.text for c in calls] == ["once", "next"]


async def test_denied_people_get_the_denied_reply(bf, teams_toml, hostline_app):
    calls, target = recorder()
    toml = teams_toml() + '[channels.teams.allow]\nnative_ids = ["aad-somebody-else"]\n'
    async with hostline_app(toml, target=target) as (_host, client):
        await bf.post(client, bf.message("let me in"))
        [reply] = await bf.connector.wait_for(1, type="message")
        assert reply.text == "Sorry, you are not allowed to use this bot."
        assert calls == []


async def test_target_failure_is_reported_and_not_retried(bf, teams_toml, hostline_app,
                                                          wait_dead):
    attempts = []

    async def broken(request):
        attempts.append(request.text)
        raise RuntimeError("model down")

    async with hostline_app(teams_toml(error_reply="Oops."), target=broken) as (host,
                                                                                client):
        await bf.post(client, bf.message("hi"))
        [reply] = await bf.connector.wait_for(1, type="message")
        assert reply.text == "Oops."
        dead = await wait_dead(host)
        assert len(dead) == 1 and "RuntimeError" in (dead[0].last_error or "")
        assert attempts == ["hi"]


async def test_long_replies_are_split(bf, teams_toml, hostline_app):
    long = "\n".join(f"line {i} " + "x" * 90 for i in range(450))  # ~45 KB

    async with hostline_app(teams_toml(), target=lambda r: long) as (_host, client):
        await bf.post(client, bf.message("long"))
        replies = await bf.connector.wait_for(3, type="message")
        assert all(len(r.text) <= 20_000 for r in replies)
        assert "\n".join(r.text for r in replies) == long


async def test_fast_replies_send_no_typing_indicator(bf, teams_toml, hostline_app):
    async with hostline_app(teams_toml(typing_delay=5.0)) as (_host, client):
        assert (await bf.post(client, bf.message("quick"))).status_code == 202
        await bf.connector.wait_for(1, type="message")
        assert [r.type for r in bf.connector.activities()] == ["message"]
