"""The official ``openai`` SDK (sync and async) against a real server on loopback."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from responses_testkit import ALICE, BOB, KEY, async_sdk, sdk, wait_for

from hostline.testing import ServerProcess

STREAM_ORDER = ["response.created", "response.in_progress", "response.output_item.added",
                "response.content_part.added"]
STREAM_END = ["response.output_text.done", "response.content_part.done",
              "response.output_item.done", "response.completed"]


def told(response: Any) -> dict[str, Any]:
    """What the ``__history__`` target reported."""
    return json.loads(response.output_text)  # type: ignore[no-any-return]


def check_order(types: list[str]) -> None:
    """created, in_progress, item/part added, deltas..., done events, completed."""
    assert types[:4] == STREAM_ORDER
    assert types[-4:] == STREAM_END
    middle = types[4:-4]
    assert middle and set(middle) == {"response.output_text.delta"}


# create -----------------------------------------------------------------------
def test_create_returns_a_full_response_object(client: openai.OpenAI) -> None:
    r = client.responses.create(model="any-model", input="hello there",
                                instructions="be brief", metadata={"ticket": "42"})
    assert r.id.startswith("resp_")
    assert r.object == "response"
    assert r.status == "completed"
    assert r.model == "any-model"
    assert r.output_text == "echo: hello there"
    assert r.instructions == "be brief"
    assert r.metadata == {"ticket": "42"}
    assert r.error is None and r.incomplete_details is None
    assert r.usage is not None and r.usage.total_tokens == r.usage.input_tokens + \
        r.usage.output_tokens
    msg = r.output[0]
    assert msg.type == "message" and msg.role == "assistant" and msg.status == "completed"
    assert msg.id.startswith("msg_")
    assert msg.content[0].type == "output_text"
    assert r.created_at <= time.time() + 1
    assert r.store is True and r.background is False
    assert r.tools == [] and r.tool_choice == "auto" and r.parallel_tool_calls is True


def test_item_list_input_with_roles_and_parts(client: openai.OpenAI) -> None:
    r = client.responses.create(model="m", input=[
        {"role": "system", "content": "sys rules"},
        {"role": "developer", "content": [{"type": "input_text", "text": "dev rules"}]},
        {"type": "message", "role": "user",
         "content": [{"type": "input_text", "text": "__history__"},
                     {"type": "input_image", "image_url": "https://example.com/a.png"}]},
    ])
    seen = told(r)
    assert seen["roles"] == ["system", "developer", "user"]
    assert seen["input"] == ["sys rules", "dev rules", "__history__"]
    items = client.responses.input_items.list(r.id, order="asc")
    assert [i.role for i in items.data] == ["system", "developer", "user"]
    assert items.data[2].content[1].type == "input_image"


def test_previous_response_id_continues_the_session(client: openai.OpenAI) -> None:
    r1 = client.responses.create(model="m", input="my name is Ada", instructions="first")
    r2 = client.responses.create(model="m", input="__history__", previous_response_id=r1.id)
    seen = told(r2)
    assert seen["history"] == ["my name is Ada", "echo: my name is Ada"]
    assert seen["instructions"] is None  # instructions are not carried over
    assert r2.previous_response_id == r1.id
    r3 = client.responses.create(model="m", input="__history__", previous_response_id=r2.id)
    assert len(told(r3)["history"]) == 4
    assert told(r3)["turns"] == 2  # session state carried along the chain
    # A second continuation of r2 forks: same history as r3, not r3 on top.
    fork = client.responses.create(model="m", input="__history__", previous_response_id=r2.id)
    assert told(fork)["history"] == told(r3)["history"]
    assert told(fork)["turns"] == 2
    # ...and the fork continues on its own branch.
    after_fork = client.responses.create(model="m", input="__history__",
                                         previous_response_id=fork.id)
    assert told(after_fork)["history"][-1] == fork.output_text


def test_each_new_response_starts_a_fresh_session(client: openai.OpenAI) -> None:
    client.responses.create(model="m", input="remember me")
    r = client.responses.create(model="m", input="__history__")
    assert told(r)["history"] == []


def test_unknown_previous_response_is_a_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.create(model="m", input="x", previous_response_id="resp_nope")
    assert err.value.code == "previous_response_not_found"
    assert err.value.param == "previous_response_id"


async def test_async_client_create_and_continue(server: ServerProcess) -> None:
    async with async_sdk(server) as ac:
        r1 = await ac.responses.create(model="m", input="async hello")
        assert r1.output_text == "echo: async hello"
        r2 = await ac.responses.create(model="m", input="__history__",
                                       previous_response_id=r1.id)
        assert told(r2)["history"] == ["async hello", "echo: async hello"]
        got = await ac.responses.retrieve(r2.id)
        assert got.output_text == r2.output_text
        items = await ac.responses.input_items.list(r1.id)
        assert [i.content[0].text for i in items.data] == ["async hello"]
        await ac.responses.delete(r1.id)
        with pytest.raises(openai.NotFoundError):
            await ac.responses.retrieve(r1.id)


def test_store_false_is_not_retrievable(client: openai.OpenAI) -> None:
    r = client.responses.create(model="m", input="secret", store=False)
    assert r.store is False and r.output_text == "echo: secret"
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(r.id)
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model="m", input="x", previous_response_id=r.id)


# conversations ------------------------------------------------------------------
def test_conversation_keeps_history_server_side(client: openai.OpenAI) -> None:
    conv = client.conversations.create(items=[{"role": "user", "content": "I like tea"}],
                                       metadata={"topic": "drinks"})
    assert conv.id.startswith("conv_") and conv.object == "conversation"
    assert conv.metadata == {"topic": "drinks"}
    r1 = client.responses.create(model="m", input="what do I like?", conversation=conv.id)
    assert r1.conversation is not None and r1.conversation.id == conv.id
    r2 = client.responses.create(model="m", input="__history__", conversation=conv.id)
    assert told(r2)["history"] == ["I like tea", "what do I like?", "echo: what do I like?"]
    items = client.conversations.items.list(conv.id, order="asc")
    texts = [i.content[0].text for i in items.data]
    assert texts[:3] == ["I like tea", "what do I like?", "echo: what do I like?"]
    assert [i.role for i in items.data][:3] == ["user", "user", "assistant"]
    # default order is newest first
    newest = client.conversations.items.list(conv.id, limit=1)
    assert newest.data[0].id == items.data[-1].id and newest.has_more
    # pagination with after
    first = client.conversations.items.list(conv.id, order="asc", limit=2)
    rest = client.conversations.items.list(conv.id, order="asc", after=first.data[-1].id)
    assert [i.id for i in first.data + rest.data] == [i.id for i in items.data]
    # continuing a conversation's response by id: the conversation up to that response
    cont = client.responses.create(model="m", input="__history__", previous_response_id=r1.id)
    assert told(cont)["history"] == ["I like tea", "what do I like?", "echo: what do I like?"]
    # the SDK's auto-pagination follows last_id
    assert [i.id for i in client.conversations.items.list(conv.id, order="asc", limit=1)
            ] == [i.id for i in items.data]


def test_conversation_crud_and_items(client: openai.OpenAI) -> None:
    conv = client.conversations.create()
    assert conv.metadata == {}
    got = client.conversations.retrieve(conv.id)
    assert got.id == conv.id
    upd = client.conversations.update(conv.id, metadata={"k": "v"})
    assert upd.metadata == {"k": "v"}
    added = client.conversations.items.create(conv.id, items=[
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "a"}]},
        {"type": "message", "role": "user", "content": "b"},
    ])
    assert [i.content[0].text for i in added.data] == ["a", "b"]
    item = client.conversations.items.retrieve(added.data[0].id, conversation_id=conv.id)
    assert item.id == added.data[0].id
    back = client.conversations.items.delete(added.data[0].id, conversation_id=conv.id)
    assert back.id == conv.id
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.retrieve(added.data[0].id, conversation_id=conv.id)
    # the deleted item is gone from what the target sees, the rest stays
    r = client.responses.create(model="m", input="__history__", conversation=conv.id)
    assert told(r)["history"] == ["b"]
    deleted = client.conversations.delete(conv.id)
    assert deleted.deleted is True and deleted.object == "conversation.deleted"
    with pytest.raises(openai.NotFoundError):
        client.conversations.retrieve(conv.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="m", input="x", conversation=conv.id)


async def test_async_conversation(server: ServerProcess) -> None:
    async with async_sdk(server) as ac:
        conv = await ac.conversations.create()
        await ac.responses.create(model="m", input="one", conversation={"id": conv.id})
        r = await ac.responses.create(model="m", input="__history__", conversation=conv.id)
        assert told(r)["history"] == ["one", "echo: one"]
        page = await ac.conversations.items.list(conv.id, order="asc")
        assert len(page.data) == 4


# streaming ------------------------------------------------------------------------
def test_stream_helper_event_order(client: openai.OpenAI) -> None:
    types: list[str] = []
    seqs: list[int] = []
    with client.responses.stream(model="m", input="stream this please") as stream:
        for event in stream:
            types.append(event.type)
            seqs.append(event.sequence_number)
        final = stream.get_final_response()
    check_order(types)
    assert seqs == list(range(len(seqs)))
    assert final.output_text == "echo: stream this please"
    assert final.status == "completed"
    stored = client.responses.retrieve(final.id)
    assert stored.output_text == final.output_text and stored.status == "completed"


def test_raw_stream_events(client: openai.OpenAI) -> None:
    events = list(client.responses.create(model="m", input="raw events here", stream=True))
    check_order([e.type for e in events])
    created = events[0]
    assert created.response.status == "in_progress" and created.response.output == []
    deltas = [e for e in events if e.type == "response.output_text.delta"]
    item_id = events[2].item.id
    assert all(d.item_id == item_id and d.output_index == 0 and d.content_index == 0
               for d in deltas)
    assert "".join(d.delta for d in deltas) == "echo: raw events here"
    assert events[-4].text == "echo: raw events here"
    assert events[-2].item.status == "completed"
    assert events[-1].response.output[0].id == item_id


async def test_async_stream_helper(server: ServerProcess) -> None:
    async with async_sdk(server) as ac:
        async with ac.responses.stream(model="m", input="async stream") as stream:
            types = [event.type async for event in stream]
            final = await stream.get_final_response()
    check_order(types)
    assert final.output_text == "echo: async stream"


def test_failing_target_ends_with_response_failed(client: openai.OpenAI) -> None:
    events = list(client.responses.create(model="m", input="__fail__", stream=True))
    assert events[-1].type == "response.failed"
    failed = events[-1].response
    assert failed.status == "failed" and failed.error is not None
    assert failed.error.code == "server_error"
    assert "hunter2" not in failed.error.message  # the target's exception text stays inside
    stored = client.responses.retrieve(failed.id)
    assert stored.status == "failed" and stored.error is not None
    # without streaming: the same outcome as a Response object
    r = client.responses.create(model="m", input="__fail__")
    assert r.status == "failed" and r.error is not None
    assert client.responses.retrieve(r.id).status == "failed"


# retrieve / input items / delete ------------------------------------------------------
def test_retrieve_input_items_pagination_delete(client: openai.OpenAI) -> None:
    r = client.responses.create(model="m", input=[
        {"role": "user", "content": f"m{i}"} for i in range(5)])
    assert client.responses.retrieve(r.id).id == r.id
    all_asc = client.responses.input_items.list(r.id, order="asc")
    texts = [i.content[0].text for i in all_asc.data]
    assert texts == [f"m{i}" for i in range(5)]
    desc = client.responses.input_items.list(r.id)  # default: newest first
    assert [i.id for i in desc.data] == [i.id for i in reversed(all_asc.data)]
    first = client.responses.input_items.list(r.id, order="asc", limit=2)
    assert len(first.data) == 2 and first.has_more
    nxt = client.responses.input_items.list(r.id, order="asc", limit=2, after=first.data[-1].id)
    assert [i.content[0].text for i in nxt.data] == ["m2", "m3"]
    before = client.responses.input_items.list(
        r.id, order="asc", limit=2, extra_query={"before": all_asc.data[3].id})
    assert [i.content[0].text for i in before.data] == ["m1", "m2"]
    # auto-pagination walks every page
    assert [i.id for i in client.responses.input_items.list(r.id, order="asc", limit=2)
            ] == [i.id for i in all_asc.data]
    client.responses.delete(r.id)
    for call in (lambda: client.responses.retrieve(r.id),
                 lambda: client.responses.input_items.list(r.id),
                 lambda: client.responses.delete(r.id),
                 lambda: client.responses.cancel(r.id)):
        with pytest.raises(openai.NotFoundError):
            call()


def test_delete_returns_the_deleted_object(http: httpx.Client, client: openai.OpenAI) -> None:
    r = client.responses.create(model="m", input="bye")
    res = http.delete(f"/responses/{r.id}")
    assert res.status_code == 200
    assert res.json() == {"id": r.id, "object": "response", "deleted": True}


# background ---------------------------------------------------------------------------
def test_background_queued_then_completed(client: openai.OpenAI) -> None:
    r = client.responses.create(model="m", input="__slow__ 5", background=True)
    assert r.status == "queued" and r.background is True
    done = wait_for(lambda: (x := client.responses.retrieve(r.id)).status == "completed" and x,
                    "the background response to complete")
    assert done.output_text == "0 1 2 3 4 "
    assert done.completed_at is not None


async def test_async_background_polling(server: ServerProcess) -> None:
    import asyncio

    async with async_sdk(server) as ac:
        r = await ac.responses.create(model="m", input="background async", background=True)
        seen = {r.status}
        for _ in range(500):
            r = await ac.responses.retrieve(r.id)
            seen.add(r.status)
            if r.status == "completed":
                break
            await asyncio.sleep(0.02)
        assert r.status == "completed" and r.output_text == "echo: background async"
        assert seen <= {"queued", "in_progress", "completed"}


def test_background_cancel(client: openai.OpenAI, markers: Path) -> None:
    r = client.responses.create(model="m", input="__forever__ bgcancel", background=True)
    wait_for(lambda: (markers / "bgcancel.started").exists(), "the target to start")
    wait_for(lambda: client.responses.retrieve(r.id).status == "in_progress", "in_progress")
    cancelled = client.responses.cancel(r.id)
    assert cancelled.status == "cancelled"
    # the target's stream was closed: nothing keeps running
    wait_for(lambda: (markers / "bgcancel.closed").exists(), "the target to be closed")
    assert client.responses.retrieve(r.id).status == "cancelled"
    # cancelling again is idempotent
    assert client.responses.cancel(r.id).status == "cancelled"


def test_cancel_rules(client: openai.OpenAI) -> None:
    fg = client.responses.create(model="m", input="foreground")
    with pytest.raises(openai.BadRequestError):
        client.responses.cancel(fg.id)
    bg = client.responses.create(model="m", input="quick", background=True)
    wait_for(lambda: client.responses.retrieve(bg.id).status == "completed", "completion")
    with pytest.raises(openai.BadRequestError):
        client.responses.cancel(bg.id)


def test_background_requires_store(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model="m", input="x", background=True, store=False)


def test_background_stream_resumes_with_starting_after(client: openai.OpenAI) -> None:
    stream = client.responses.create(model="m", input="__slow__ 8", background=True,
                                     stream=True)
    first: list[Any] = []
    for event in stream:
        first.append(event)
        if event.type == "response.output_text.delta":
            break
    stream.close()
    rid = first[0].response.id
    assert [e.type for e in first[:2]] == ["response.created", "response.queued"]
    assert first[0].response.status == "queued"
    cut = first[-1].sequence_number
    resumed = list(client.responses.retrieve(rid, stream=True, starting_after=cut))
    assert resumed[0].sequence_number == cut + 1
    assert [e.sequence_number for e in resumed] == list(range(cut + 1, cut + 1 + len(resumed)))
    assert resumed[-1].type == "response.completed"
    text = "".join(e.delta for e in first + resumed if e.type == "response.output_text.delta")
    assert text == "0 1 2 3 4 5 6 7 "
    # the SDK's helper replays and filters on its side
    with client.responses.stream(response_id=rid, starting_after=cut) as again:
        types = [e.type for e in again]
        final = again.get_final_response()
    assert types[-1] == "response.completed" and final.output_text == text
    # a foreground response cannot be streamed by GET
    fg = client.responses.create(model="m", input="fg")
    with pytest.raises(openai.BadRequestError):
        list(client.responses.retrieve(fg.id, stream=True))


def test_background_stream_helper(client: openai.OpenAI) -> None:
    with client.responses.stream(model="m", input="bg helper", background=True) as stream:
        types = [e.type for e in stream]
        final = stream.get_final_response()
    assert types[:3] == ["response.created", "response.queued", "response.in_progress"]
    assert types[-1] == "response.completed"
    assert final.output_text == "echo: bg helper"


# disconnects ---------------------------------------------------------------------------
def test_client_disconnect_mid_stream_closes_the_run(client: openai.OpenAI,
                                                     markers: Path) -> None:
    stream = client.responses.create(model="m", input="__forever__ dropped", stream=True)
    rid = None
    deltas = 0
    for event in stream:
        if event.type == "response.created":
            rid = event.response.id
        if event.type == "response.output_text.delta":
            deltas += 1
            if deltas == 5:
                break
    stream.close()  # the client goes away mid-stream
    assert rid is not None
    # The target's stream was closed (its finally ran): no task is left producing ticks.
    wait_for(lambda: (markers / "dropped.closed").exists(), "the target's stream to close")
    # What was produced is stored, marked incomplete.
    stored = wait_for(lambda: _retrieve_or_none(client, rid), "the stored response")
    assert stored.status == "incomplete"
    assert stored.output_text.startswith("tick tick tick tick tick")


def _retrieve_or_none(client: openai.OpenAI, rid: str) -> Any:
    try:
        return client.responses.retrieve(rid)
    except openai.NotFoundError:
        return None


def test_disconnect_releases_the_concurrency_slot(server: ServerProcess, markers: Path) -> None:
    with sdk(server, "limited") as c:
        stream = c.responses.create(model="m", input="__forever__ slot", stream=True)
        for event in stream:
            if event.type == "response.output_text.delta":
                break
        # the only slot is taken: a second run is refused with 429
        with pytest.raises(openai.RateLimitError):
            c.responses.create(model="m", input="second")
        stream.close()
        wait_for(lambda: (markers / "slot.closed").exists(), "the run to close")
        r = wait_for(lambda: _create_or_none(c), "the slot to be released")
        assert r.status == "completed"


def _create_or_none(c: openai.OpenAI) -> Any:
    try:
        return c.responses.create(model="m", input="again")
    except openai.RateLimitError:
        return None


# auth ----------------------------------------------------------------------------------
def test_wrong_key_is_an_authentication_error(server: ServerProcess) -> None:
    with sdk(server, key="sk-wrong") as bad:
        with pytest.raises(openai.AuthenticationError) as err:
            bad.responses.create(model="m", input="x")
        assert err.value.code == "invalid_api_key"
        with pytest.raises(openai.AuthenticationError):
            bad.models.list()
        with pytest.raises(openai.AuthenticationError):
            bad.conversations.create()


def test_key_maps_to_identity_and_allowlists_apply(server: ServerProcess) -> None:
    with sdk(server, key=ALICE) as alice:
        assert told(alice.responses.create(model="m", input="__history__"))["identity"] == \
            "alice"
    with sdk(server, "guarded", key=ALICE) as alice:
        assert alice.responses.create(model="m", input="hi").status == "completed"
    with sdk(server, "guarded", key=BOB) as bob:
        with pytest.raises(openai.PermissionDeniedError):
            bob.responses.create(model="m", input="hi")
        with pytest.raises(openai.PermissionDeniedError):
            bob.responses.create(model="m", input="hi", background=True)


def test_no_keys_on_loopback_serves(server: ServerProcess) -> None:
    with sdk(server, "open", key="anything") as c:
        r = c.responses.create(model="open-model", input="__history__")
        assert told(r)["identity"] == "anonymous"


# isolation -----------------------------------------------------------------------------
def test_isolation_keys_scope_stored_objects(server: ServerProcess) -> None:
    a = sdk(server, default_headers={"x-agent-user-isolation-key": "tenant-a"})
    b = sdk(server, default_headers={"x-agent-user-isolation-key": "tenant-b"})
    with a, b:
        r = a.responses.create(model="m", input="private")
        conv = a.conversations.create(items=[{"role": "user", "content": "mine"}])
        assert a.responses.retrieve(r.id).id == r.id
        for call in (lambda: b.responses.retrieve(r.id),
                     lambda: b.responses.input_items.list(r.id),
                     lambda: b.responses.delete(r.id),
                     lambda: b.conversations.retrieve(conv.id),
                     lambda: b.conversations.items.list(conv.id),
                     lambda: b.conversations.delete(conv.id),
                     lambda: b.responses.create(model="m", input="x", conversation=conv.id)):
            with pytest.raises(openai.NotFoundError):
                call()
        with pytest.raises(openai.BadRequestError):
            b.responses.create(model="m", input="x", previous_response_id=r.id)
        with sdk(server) as none:
            with pytest.raises(openai.NotFoundError):
                none.responses.retrieve(r.id)
        # still there for its owner
        assert a.responses.retrieve(r.id).output_text == "echo: private"
        assert len(a.conversations.items.list(conv.id).data) == 1


# models, retention, size ---------------------------------------------------------------
def test_models_list_the_served_target(client: openai.OpenAI, server: ServerProcess) -> None:
    models = client.models.list()
    assert [m.id for m in models.data] == ["responses_test_target:target"]
    assert client.models.retrieve("responses_test_target:target").object == "model"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-nope")
    with sdk(server, "open") as c:
        assert [m.id for m in c.models.list().data] == ["open-model"]


def test_ttl_and_size_limit(server: ServerProcess) -> None:
    with sdk(server, "small") as c:
        big = c.responses.create(model="m", input="x" * 4000)
        assert big.status == "completed" and big.store is False
        with pytest.raises(openai.NotFoundError):
            c.responses.retrieve(big.id)
        small = c.responses.create(model="m", input="tiny")
        assert c.responses.retrieve(small.id).id == small.id
        # retention is 1 s on this instance
        wait_for(lambda: _retrieve_or_none(c, small.id) is None, "the response to expire")


def test_keys_never_reach_the_log(server: ServerProcess, client: openai.OpenAI) -> None:
    with sdk(server, key="sk-wrong-secret-value") as bad:
        with pytest.raises(openai.AuthenticationError):
            bad.responses.create(model="m", input="x")
    client.responses.create(model="m", input="__fail__")
    log = server.output()
    for secret in (KEY, ALICE, BOB, "sk-wrong-secret-value"):
        assert secret not in log
