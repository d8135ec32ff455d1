"""An authenticated activity that can never be processed is acked and dead-lettered:
the Bot Framework would otherwise resend it."""

from __future__ import annotations


async def test_unparseable_activity_is_acked_and_dead_lettered(bf, teams_toml, hostline_app):
    async with hostline_app(teams_toml()) as (host, client):
        activity = bf.message("hi")
        del activity["conversation"]
        for _ in range(2):
            response = await bf.post(client, activity)
            assert response.status_code == 200
        dead = await host.store.list_tasks(["dead"])
        assert len(dead) == 2 and host.metrics["dead_letters:teams"] == 2
        assert all((t.last_error or "").startswith("invalid_activity") for t in dead)
        assert dead[0].payload["update"]["text"] == "hi"
        # A good activity still goes through.
        assert (await bf.post(client, bf.message("fine"))).status_code == 202
        await bf.connector.wait_for(1, text="fine", timeout=20)


async def test_a_reply_with_a_lone_surrogate_is_still_sent(bf, teams_toml, hostline_app):
    async def target(request):
        return "odd \ud800 reply"

    async with hostline_app(teams_toml(), target=target) as (_host, client):
        assert (await bf.post(client, bf.message("hi"))).status_code == 202
        await bf.connector.wait_for(1, text="odd \ufffd reply", timeout=20)
