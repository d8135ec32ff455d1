"""The A2A channel with ``a2a-sdk``'s client against a real ``hostline serve``."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from a2a.types.a2a_pb2 import (
    CancelTaskRequest,
    GetTaskPushNotificationConfigRequest,
    GetTaskRequest,
    SubscribeToTaskRequest,
    TaskPushNotificationConfig,
    TaskState,
)
from a2a_testkit import AUDIENCE, KEY

from hostline_a2a.testing import WebhookRecorder, a2a_client, send_request


def _answer(task) -> str:
    return "".join(p.text for a in task.artifacts if a.name == "answer" for p in a.parts)


async def _send(client, text, **kw):
    """The final task of a non-streaming send."""
    last = None
    async for event in client.send_message(send_request(text, **kw)):
        last = event
    assert last is not None and last.HasField("task"), last
    return last.task


def test_agent_card_says_what_the_server_enforces(server):
    card = httpx.get(f"{server.url}/a2a/.well-known/agent-card.json").json()
    assert card["name"] == "Test agent" and card["description"] == "Remembers what you said."
    assert card["skills"][0]["id"] == "remember"
    assert card["supportedInterfaces"][0]["url"] == f"{server.url}/a2a/"
    assert card["supportedInterfaces"][0]["protocolBinding"] == "JSONRPC"
    assert card["capabilities"] == {"streaming": True, "pushNotifications": True}
    assert card["securitySchemes"]["bearer"]["httpAuthSecurityScheme"]["scheme"] == "Bearer"
    assert card["securityRequirements"] == [{"schemes": {"bearer": {}}}]
    # ...and the server enforces it.
    denied = httpx.post(f"{server.url}/a2a/", json={"jsonrpc": "2.0", "id": 1,
                                                   "method": "GetTask", "params": {"id": "x"}})
    assert denied.status_code == 401 and denied.headers["www-authenticate"].startswith("Bearer")
    assert denied.json()["error"]["code"] == -32001


async def test_send_and_continue_the_context(server):
    async with a2a_client(f"{server.url}/a2a/", key=KEY, streaming=False) as client:
        first = await _send(client, "hello")
        assert first.status.state == TaskState.TASK_STATE_COMPLETED
        assert _answer(first) == "(0 before) hello"
        second = await _send(client, "again", context_id=first.context_id)
        assert _answer(second) == "(1 before) again"
        assert second.context_id == first.context_id and second.id != first.id


async def test_stream(server):
    async with a2a_client(f"{server.url}/a2a/", key=KEY) as client:
        events = [e async for e in client.send_message(send_request("a streamed reply"))]
    kinds = [e.WhichOneof("payload") for e in events]
    assert kinds[0] == "task" and kinds[-1] == "status_update"
    chunks = [e.artifact_update for e in events if e.HasField("artifact_update")]
    assert len(chunks) >= 3
    assert "".join(p.text for c in chunks[:-1] for p in c.artifact.parts) == \
        "(0 before) a streamed reply"
    assert chunks[-1].last_chunk
    assert events[-1].status_update.status.state == TaskState.TASK_STATE_COMPLETED


async def test_resubscribe_then_cancel_a_running_task(server):
    async with a2a_client(f"{server.url}/a2a/", key=KEY, streaming=False) as client:
        task = await _send(client, "slow one", return_immediately=True)
        assert task.status.state in (TaskState.TASK_STATE_SUBMITTED, TaskState.TASK_STATE_WORKING)
    async with a2a_client(f"{server.url}/a2a/", key=KEY) as client:
        seen = 0
        async for event in client.subscribe(SubscribeToTaskRequest(id=task.id)):
            seen += event.HasField("artifact_update")
            if seen >= 2:
                break
        assert seen >= 2  # the running task's chunks reach a new subscriber
    async with a2a_client(f"{server.url}/a2a/", key=KEY, streaming=False) as client:
        cancelled = await client.cancel_task(CancelTaskRequest(id=task.id))
        assert cancelled.status.state == TaskState.TASK_STATE_CANCELED
        got = await client.get_task(GetTaskRequest(id=task.id))
        assert got.status.state == TaskState.TASK_STATE_CANCELED


async def test_push_notification_is_retried_and_delivered_once(server):
    with WebhookRecorder(fail_first=1) as hook:
        async with a2a_client(f"{server.url}/a2a/", key=KEY, streaming=False) as client:
            config = TaskPushNotificationConfig(url=hook.url, token="tok-123")
            task = await _send(client, "notify me", task_push_notification_config=config)

        def completed(posts):
            return any(b.get("statusUpdate", {}).get("status", {}).get("state")
                       == "TASK_STATE_COMPLETED" for _, b in posts)

        posts = await asyncio.to_thread(hook.wait, completed)
        await asyncio.sleep(1.0)  # a duplicate would arrive by now
    assert hook.attempts > len(hook.posts)  # the first attempt failed
    assert all(h["x-a2a-notification-token"] == "tok-123" for h, _ in posts)
    states = [b["statusUpdate"]["status"]["state"] for _, b in posts if "statusUpdate" in b]
    assert states.count("TASK_STATE_COMPLETED") == 1
    assert all((b.get("statusUpdate") or b.get("task") or b.get("artifactUpdate"))
               .get("taskId", task.id) == task.id for _, b in posts)
    async with a2a_client(f"{server.url}/a2a/", key=KEY, streaming=False) as client:
        stored = await client.get_task_push_notification_config(
            GetTaskPushNotificationConfigRequest(task_id=task.id, id=task.id))
    assert stored.url == hook.url


def test_v0_3_method_names(server):
    auth = {"authorization": f"Bearer {KEY}"}
    sent = httpx.post(f"{server.url}/a2a/", headers=auth, json={
        "jsonrpc": "2.0", "id": 1, "method": "message/send",
        "params": {"message": {"role": "user", "messageId": "m-1", "kind": "message",
                               "parts": [{"kind": "text", "text": "old style"}]}}}).json()
    task = sent["result"]
    assert task["kind"] == "task" and task["status"]["state"] == "completed"
    got = httpx.post(f"{server.url}/a2a/", headers=auth, json={
        "jsonrpc": "2.0", "id": 2, "method": "tasks/get", "params": {"id": task["id"]}}).json()
    assert got["result"]["id"] == task["id"]
    cancel = httpx.post(f"{server.url}/a2a/", headers=auth, json={
        "jsonrpc": "2.0", "id": 3, "method": "tasks/cancel", "params": {"id": task["id"]}})
    assert cancel.status_code == 200 and "error" in cancel.json()  # completed: not cancelable
    with httpx.stream("POST", f"{server.url}/a2a/", headers=auth, json={
            "jsonrpc": "2.0", "id": 4, "method": "message/stream",
            "params": {"message": {"role": "user", "messageId": "m-2", "kind": "message",
                                   "parts": [{"kind": "text", "text": "streamed"}]}}}) as r:
        text = r.read().decode()
    assert r.headers["content-type"].startswith("text/event-stream")
    assert '"final":true' in text.replace(" ", "")


async def test_oauth_token_accepted_and_bad_ones_refused(server, issuer):
    good = issuer.token(audience=AUDIENCE, subject="ann", scope="agent")
    async with a2a_client(f"{server.url}/oauth/", key=good, streaming=False) as client:
        assert _answer(await _send(client, "hi")) == "(0 before) hi"
    for token in (issuer.token(audience="http://x/", scope="agent"),
                  issuer.token(audience=AUDIENCE, scope="agent", expired=True),
                  issuer.token(audience=AUDIENCE, scope="agent", foreign_key=True)):
        response = httpx.post(f"{server.url}/oauth/", headers={"authorization": f"Bearer {token}"},
                              json={"jsonrpc": "2.0", "id": 1, "method": "GetTask",
                                    "params": {"id": "x"}})
        assert response.status_code == 401
        assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_tasks_survive_a_restart(server):
    """Last in this module: it restarts the shared server."""
    async with a2a_client(f"{server.url}/a2a/", key=KEY, streaming=False) as client:
        task = await _send(client, "remember me")
        running = await _send(client, "slow and then a crash", return_immediately=True)
        await asyncio.sleep(0.5)
    server.kill()  # a crash while `running` is being worked on
    server.start()
    await asyncio.sleep(2.5)  # its liveness lapses (task_lease = 2)
    async with a2a_client(f"{server.url}/a2a/", key=KEY, streaming=False) as client:
        interrupted = await client.get_task(GetTaskRequest(id=running.id))
        assert interrupted.status.state == TaskState.TASK_STATE_FAILED
        assert "interrupted" in interrupted.status.message.parts[0].text
    async with a2a_client(f"{server.url}/a2a/", key=KEY, streaming=False) as client:
        got = await client.get_task(GetTaskRequest(id=task.id))
        assert got.status.state == TaskState.TASK_STATE_COMPLETED
        assert _answer(got) == "(0 before) remember me"
        # The context (the hostline session) survived too.
        later = await _send(client, "and now", context_id=task.context_id)
        assert _answer(later) == "(1 before) and now"
    # Another caller cannot read it.
    other = httpx.post(f"{server.url}/a2a/", json={"jsonrpc": "2.0", "id": 1, "method": "GetTask",
                                                  "params": {"id": task.id}},
                       headers={"authorization": f"Bearer {KEY}",
                                "x-agent-user-isolation-key": "someone-else",
                                "a2a-version": "1.0"}).json()
    assert "error" in other


def test_no_credentials_on_a_public_bind_refuses_to_start(tmp_path):
    from hostline.testing import make_host

    with pytest.raises(Exception, match=r"\[channels.a2a\].*loopback"):
        make_host(tmp_path, '[host]\nbind = "0.0.0.0:8000"\n[channels.a2a]\n')
