"""Proactive messages: stored conversation references, trusted service URLs,
and delivery by a real ``hostline serve`` process after a crash."""

from __future__ import annotations

import asyncio
import subprocess
import sys

from hostline import Destination, Identity, ResponseTarget


async def test_push_to_a_conversation_the_bot_has_seen(bf, teams_toml, hostline_app):
    async with hostline_app(teams_toml(typing=False)) as (host, client):
        await bf.post(client, bf.message("hello"))
        await bf.connector.wait_for(1, type="message")
        # By conversation id (what `hostline push --to` gives), without a reference.
        await host.push("by conversation id", to=Destination("teams", "a:personal-1"))
        [pushed] = await bf.connector.wait_for(1, text="by conversation id")
        assert pushed.reply_to_id is None and pushed.conversation_id == "a:personal-1"
        assert pushed.activity["from"]["id"] == bf.bot_id
        assert pushed.activity["recipient"]["id"] == "29:user-1"
        assert pushed.token_claims["appid"] == bf.app_id
        # By person: their stored personal conversation.
        dest = await host.channels["teams"].destination_for("aad-user-1")
        assert dest is not None and dest.address == "a:personal-1" and not dest.is_group
        await host.push("by person", to=dest)
        await bf.connector.wait_for(1, text="by person")
        # Through the host's identity resolution (the Destination begin_turn stored).
        ada = Identity("teams", "aad-user-1")
        await host.push("by identity", to=ResponseTarget.identities([ada.key]), identity=ada)
        await bf.connector.wait_for(1, text="by identity")


async def test_references_are_stored_for_activities_that_do_not_run(bf, teams_toml,
                                                                    hostline_app):
    async with hostline_app(teams_toml()) as (host, client):
        # The bot was installed; nobody said anything yet.
        await bf.post(client, bf.conversation_update(conversation_id="a:installed"))
        channel = host.channels["teams"]
        for _ in range(500):
            if await channel.conversation_reference("a:installed"):
                break
            await asyncio.sleep(0.01)
        await host.push("welcome aboard", to=Destination("teams", "a:installed"))
        [pushed] = await bf.connector.wait_for(1, type="message")
        assert pushed.conversation_id == "a:installed"


async def test_push_to_an_unknown_conversation_fails_visibly(bf, teams_toml, hostline_app,
                                                             wait_dead):
    async with hostline_app(teams_toml()) as (host, _client):
        await host.push("anyone there?", to=Destination("teams", "a:never-seen"))
        [task] = await wait_dead(host)
        assert "no conversation reference" in task.last_error
        assert bf.connector.requests == 0


async def test_push_refuses_untrusted_service_urls(bf, teams_toml, hostline_app, wait_dead):
    async with hostline_app(teams_toml()) as (host, client):
        await bf.post(client, bf.message("hello"))
        await bf.connector.wait_for(1, type="message")
        requests = bf.connector.requests
        forged = {"serviceUrl": f"{bf.connector.url}/elsewhere/", "channelId": "msteams",
                  "conversation": {"id": "a:personal-1"}, "bot": {"id": bf.bot_id}}
        await host.push("steal a token", to=Destination("teams", "a:personal-1",
                                                       reference=forged))
        [task] = await wait_dead(host)
        assert "never arrived on an authenticated activity" in task.last_error
        assert bf.connector.requests == requests  # the token never left the bot
        assert bf.tokens.requests == 1


def test_real_server_replies_and_pushes_after_a_crash(bf, hostline_server):
    toml = "[host]\n[host.outbox]\npoll_interval = 0.05\n" + bf.config_toml(
        typing=False, stream_interval=0.0)
    server = hostline_server(toml)
    # A forged activity is refused over real HTTP, and nothing is sent.
    assert bf.post_sync(server.url, bf.message("forged"), audience="other").status_code == 401
    response = bf.post_sync(server.url, bf.message("hello over HTTP"))
    assert response.status_code == 202
    [reply] = bf.connector.wait_for_sync(1, type="message")
    assert reply.text == "hello over HTTP"
    assert reply.token_claims["appid"] == bf.app_id

    server.kill()  # a crash: no graceful shutdown
    queued = subprocess.run(
        [sys.executable, "-m", "hostline", "push", "--config", str(server.config_path),
         "--channel", "teams", "--to", "a:personal-1", "after the crash"],
        capture_output=True, text=True, timeout=60, check=False)
    assert queued.returncode == 0, queued.stderr
    server.start()
    [pushed] = bf.connector.wait_for_sync(1, text="after the crash", timeout=20)
    assert pushed.reply_to_id is None and pushed.conversation_id == "a:personal-1"
    assert bf.tokens.requests == 2  # the new process fetched its own token
    assert bf.app_password not in server.output()


async def test_a_persons_reference_prefers_their_personal_chat(bf, teams_toml, hostline_app):
    async with hostline_app(teams_toml(typing=False)) as (host, client):
        channel = host.channels["teams"]
        await bf.post(client, bf.message("in the group", mention=True,
                                         conversation_id="19:g@thread.v2",
                                         conversation_type="groupChat"))
        await bf.connector.wait_for(1, type="message")
        group = await channel.destination_for("aad-user-1")
        assert group.address == "19:g@thread.v2" and group.is_group
        await bf.post(client, bf.message("in private"))
        await bf.post(client, bf.message("group again", mention=True,
                                         conversation_id="19:g@thread.v2",
                                         conversation_type="groupChat"))
        await bf.connector.wait_for(3, type="message")
        personal = await channel.destination_for("aad-user-1")
        assert personal.address == "a:personal-1" and not personal.is_group
        assert await channel.destination_for("aad-never-seen") is None
