"""The Teams streaming protocol in personal chats; one message everywhere else."""

from __future__ import annotations

import asyncio

from hostline import ImagePart, RunUpdate


def words(*chunks, pause=0.1):
    async def target(request):
        for chunk in chunks:
            await asyncio.sleep(pause)  # updates go out from timers: give each its turn
            yield chunk

    return target


def stream_of(received):
    return [(r.type, r.text, r.stream_info) for r in received]


async def test_streaming_sequence_in_a_personal_chat(bf, teams_toml, hostline_app):
    target = words("A", " brown", " fox")
    async with hostline_app(teams_toml(), target=target) as (_host, client):
        activity = bf.message("tell me")
        await bf.post(client, activity)
        await bf.connector.wait_for(1, type="message")
        received = bf.connector.activities()
        first = received[0]
        stream_id = first.id
        assert stream_of(received) == [
            ("typing", "Working on it...",
             {"type": "streaminfo", "streamType": "informative", "streamSequence": 1}),
            ("typing", "A", {"type": "streaminfo", "streamType": "streaming",
                             "streamSequence": 2, "streamId": stream_id}),
            ("typing", "A brown", {"type": "streaminfo", "streamType": "streaming",
                                   "streamSequence": 3, "streamId": stream_id}),
            ("typing", "A brown fox", {"type": "streaminfo", "streamType": "streaming",
                                       "streamSequence": 4, "streamId": stream_id}),
            ("message", "A brown fox", {"type": "streaminfo", "streamType": "final",
                                        "streamId": stream_id}),
        ]
        # channelData mirrors the entity, as the Teams SDKs send it.
        assert received[-1].activity["channelData"] == {"streamType": "final",
                                                        "streamId": stream_id}
        assert all(r.reply_to_id == activity["id"] for r in received)
        # The streamed answer is remembered like any other.
        await bf.post(client, bf.message("again"))
        await bf.connector.wait_for(2, type="message")


async def test_stream_without_informative_update(bf, teams_toml, hostline_app):
    toml = teams_toml(stream_informative_text="")
    async with hostline_app(toml, target=words("one", " two")) as (_host, client):
        await bf.post(client, bf.message("go"))
        await bf.connector.wait_for(1, type="message")
        received = bf.connector.activities()
        sid = received[0].id
        assert [(r.text, r.stream_info.get("streamSequence"), r.stream_info.get("streamId"))
                for r in received] == [("one", 1, None), ("one two", 2, sid),
                                       ("one two", None, sid)]


async def test_updates_are_throttled_by_stream_interval(bf, teams_toml, hostline_app):
    toml = teams_toml(stream_interval=3600)
    async with hostline_app(toml, target=words("a", "b", "c")) as (_host, client):
        await bf.post(client, bf.message("go"))
        await bf.connector.wait_for(1, type="message")
        assert [(r.type, r.text) for r in bf.connector.activities()] == [
            ("typing", "Working on it..."), ("message", "abc")]


async def test_group_chats_get_one_message(bf, teams_toml, hostline_app):
    async with hostline_app(teams_toml(typing=False), target=words("x", "y")) as (_host,
                                                                                  client):
        await bf.post(client, bf.message("go", mention=True,
                                         conversation_id="19:g@thread.v2",
                                         conversation_type="groupChat"))
        await bf.connector.wait_for(1, type="message")
        [reply] = bf.connector.activities()
        assert reply.text == "xy" and reply.stream_info is None


async def test_stream_false_sends_one_message(bf, teams_toml, hostline_app):
    toml = teams_toml(stream=False, typing=False)
    async with hostline_app(toml, target=words("x", "y")) as (_host, client):
        await bf.post(client, bf.message("go"))
        await bf.connector.wait_for(1, type="message")
        [reply] = bf.connector.activities()
        assert reply.text == "xy" and reply.stream_info is None


async def test_attachments_come_with_the_final_message(bf, teams_toml, hostline_app):
    async def target(request):
        yield "see"
        yield RunUpdate(part=ImagePart(url="https://img.example/a.png", name="a"))

    async with hostline_app(teams_toml(), target=target) as (_host, client):
        await bf.post(client, bf.message("picture"))
        [final] = await bf.connector.wait_for(1, type="message")
        assert final.stream_info["streamType"] == "final"
        assert final.activity["attachments"][0]["content"]["body"][0]["url"] == \
            "https://img.example/a.png"
        assert all("attachments" not in r.activity for r in bf.connector.activities(
            type="typing"))


async def test_a_failed_update_stops_updates_but_the_final_arrives(bf, teams_toml,
                                                                   hostline_app):
    gate = asyncio.Event()

    async def target(request):
        yield "part one"
        await gate.wait()
        yield " part two"
        yield " part three"

    async with hostline_app(teams_toml(), target=target) as (_host, client):
        await bf.post(client, bf.message("go"))
        await bf.connector.wait_for(2, type="typing")  # informative + "part one"
        bf.connector.fail_next(500)
        gate.set()
        [final] = await bf.connector.wait_for(1, type="message")
        assert final.text == "part one part two part three"
        assert final.stream_info["streamType"] == "final"
        assert [r.text for r in bf.connector.activities(type="typing")] == [
            "Working on it...", "part one"]


async def test_target_failure_mid_stream_closes_the_stream(bf, teams_toml, hostline_app):
    async def target(request):
        yield "starting"
        raise RuntimeError("model fell over")

    toml = teams_toml(error_reply="Sorry.")
    async with hostline_app(toml, target=target) as (_host, client):
        await bf.post(client, bf.message("go"))
        [final] = await bf.connector.wait_for(1, type="message")
        assert final.text == "Sorry." and final.stream_info["streamType"] == "final"


async def test_streams_outside_teams_are_plain(bf, teams_toml, hostline_app):
    # streaminfo is a Teams feature; Web Chat and others get one message.
    bf.openid.add_key(endorsements=["webchat"])
    async with hostline_app(teams_toml(typing=False), target=words("a", "b")) as (_host,
                                                                                  client):
        key = bf.openid.keys[-1]
        await bf.post(client, bf.message("go", channel_id="webchat"), key=key)
        [reply] = await bf.connector.wait_for(1, type="message")
        assert reply.text == "ab" and reply.stream_info is None


async def test_a_reply_ready_within_the_first_delay_is_one_plain_message(bf, teams_toml,
                                                                         hostline_app):
    toml = teams_toml(stream_first_delay=5.0, typing=False)
    async with hostline_app(toml, target=words("quick", " one", pause=0.01)) as (_h, client):
        await bf.post(client, bf.message("go"))
        [reply] = await bf.connector.wait_for(1, type="message")
        assert reply.text == "quick one" and reply.stream_info is None
        assert len(bf.connector.activities()) == 1  # no informative, no updates


async def test_updates_are_coalesced_between_intervals(bf, teams_toml, hostline_app):
    chunks = [f" w{i}" for i in range(20)]
    toml = teams_toml(stream_interval=0.3, stream_informative_text="")
    async with hostline_app(toml, target=words(*chunks, pause=0.02)) as (_h, client):
        await bf.post(client, bf.message("go"))
        [final] = await bf.connector.wait_for(1, type="message")
        updates = bf.connector.activities(type="typing")
    assert final.text.strip() == "".join(chunks).strip()
    assert 1 <= len(updates) < len(chunks)  # many deltas, few updates
    texts = [u.text for u in updates]
    assert len(set(texts)) == len(texts)  # each update says something new
