from __future__ import annotations


async def test_message_gets_a_reply(bf, teams_toml, hostline_app):
    async with hostline_app(teams_toml()) as (_host, client):
        activity = bf.message("hello")
        response = await bf.post(client, activity)
        assert response.status_code == 202, response.text
        [reply] = await bf.connector.wait_for(1, type="message")
        assert reply.text == "hello"
