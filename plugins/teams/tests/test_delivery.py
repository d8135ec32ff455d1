"""Connector failures: 429/503 honour Retry-After, 401/403 refresh the token once,
a failed reply never wedges the conversation, nothing is dropped."""

from __future__ import annotations

import asyncio
import logging


def counting():
    calls: list[str] = []

    async def target(request):
        calls.append(request.text)
        return f"echo: {request.text}"

    return calls, target


async def test_429_is_retried_after_retry_after(bf, teams_toml, hostline_app):
    calls, target = counting()
    async with hostline_app(teams_toml(typing=False), target=target) as (_host, client):
        bf.connector.fail_next(429, retry_after="1", code="TooManyRequests")
        await bf.post(client, bf.message("hi"))
        [reply] = await bf.connector.wait_for(1, type="message")
        assert reply.text == "echo: hi"
        assert bf.connector.requests == 2
        assert calls == ["hi"]  # the reply was retried, not the run


async def test_503_is_retried(bf, teams_toml, hostline_app):
    calls, target = counting()
    async with hostline_app(teams_toml(typing=False), target=target) as (_host, client):
        bf.connector.fail_next(503, retry_after="0", times=2)
        await bf.post(client, bf.message("hi"))
        await bf.connector.wait_for(1, type="message")
        assert bf.connector.requests == 3 and calls == ["hi"]


async def test_401_refreshes_the_token_once(bf, teams_toml, hostline_app):
    async with hostline_app(teams_toml(typing=False)) as (_host, client):
        await bf.post(client, bf.message("one"))
        await bf.connector.wait_for(1, type="message")
        bf.tokens.revoke_all()
        await bf.post(client, bf.message("two"))
        replies = await bf.connector.wait_for(2, type="message")
        assert [r.text for r in replies] == ["one", "two"]
        assert bf.connector.unauthorized == 1
        assert bf.tokens.requests == 2
        assert replies[0].token_claims["jti"] != replies[1].token_claims["jti"]


async def test_repeated_403_fails_the_delivery_visibly(bf, teams_toml, hostline_app, caplog,
                                                       wait_dead):
    calls, target = counting()
    async with hostline_app(teams_toml(typing=False), target=target) as (host, client):
        bf.connector.fail_next(403, times=2, code="BotNotInConversationRoster")
        with caplog.at_level(logging.WARNING):
            await bf.post(client, bf.message("blocked"))
            [task] = await wait_dead(host)
        assert "HTTP 403 (BotNotInConversationRoster)" in task.last_error
        assert bf.connector.requests == 2 and bf.tokens.requests == 2
        assert any("dead" in r.getMessage() for r in caplog.records)
        # The conversation is not wedged.
        await bf.post(client, bf.message("next"))
        [reply] = await bf.connector.wait_for(1, type="message")
        assert reply.text == "echo: next" and calls == ["blocked", "next"]


async def test_500_on_a_first_send_does_not_wedge_the_chat(bf, teams_toml, hostline_app):
    calls, target = counting()
    async with hostline_app(teams_toml(typing=False), target=target) as (_host, client):
        bf.connector.fail_next(500)
        await bf.post(client, bf.message("first"))
        await bf.post(client, bf.message("second"))
        replies = await bf.connector.wait_for(2, type="message")
        assert sorted(r.text for r in replies) == ["echo: first", "echo: second"]
        assert calls == ["first", "second"]


async def test_one_token_request_for_concurrent_sends(bf, teams_toml, hostline_app):
    async with hostline_app(teams_toml(typing=False)) as (_host, client):
        posts = [bf.post(client, bf.message(f"m{i}", conversation_id=f"a:conv-{i}"))
                 for i in range(12)]
        assert {r.status_code for r in await asyncio.gather(*posts)} == {202}
        await bf.connector.wait_for(12, type="message")
        assert bf.tokens.requests == 1


async def test_token_endpoint_outage_is_retried(bf, teams_toml, hostline_app):
    async with hostline_app(teams_toml(typing=False)) as (_host, client):
        bf.tokens.fail_next(503, retry_after="0")
        await bf.post(client, bf.message("hi"))
        await bf.connector.wait_for(1, type="message")
        assert bf.tokens.requests == 2


async def test_a_timed_out_send_is_retried_not_dropped(bf, teams_toml, hostline_app):
    calls, target = counting()
    async with hostline_app(teams_toml(typing=False, timeout=0.2), target=target) as (_host,
                                                                                      client):
        bf.connector.stall_next(0.5)
        await bf.post(client, bf.message("slow"))
        [reply] = await bf.connector.wait_for(1, type="message")
        assert reply.text == "echo: slow" and calls == ["slow"]
        assert bf.connector.requests == 2
