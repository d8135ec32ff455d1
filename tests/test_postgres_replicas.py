"""Replicas on one PostgreSQL: three ``hostline serve`` processes share a
database; one is SIGKILLed mid-load and restarted, and nothing is lost or
reordered; a push queued by one process is delivered by another; a Telegram
polling leader's death is survived."""

from __future__ import annotations

import itertools
import subprocess
import sys
import threading
import time
from typing import Any

import httpx

from hostline.testing import ServerProcess
from hostline_postgres.testing import PostgresDatabase
from hostline_telegram.testing import FakeBotAPI

SECRET = "replica-Secret_1"
_update_ids = itertools.count(1)


def config(fake: FakeBotAPI, db: PostgresDatabase, *, mode: str = "webhook",
           poll: float = 0.05) -> str:
    secret = f'secret_token = "{SECRET}"\n' if mode == "webhook" else "polling_timeout = 1\n"
    return (f'[host]\nshutdown_grace = 2\ntarget = "echo"\n'
            f"[host.outbox]\nlease_seconds = 2.0\npoll_interval = {poll}\nbackoff_initial = 0.1\n"
            f"backoff_max = 0.5\n"
            + db.store_toml(pool_max=4)
            + f'[channels.telegram]\ntoken = "{fake.token}"\napi_base = "{fake.url}"\n'
              f'mode = "{mode}"\n{secret}bot_rate = 0\nchat_rate = 1000\nchat_burst = 1000\n'
              f"set_commands = false\n")


def update(chat: int, text: str) -> dict[str, Any]:
    uid = next(_update_ids)
    return {"update_id": uid, "message": {
        "message_id": uid, "date": 1767225600, "text": text,
        "chat": {"id": chat, "type": "private", "first_name": "Ann"},
        "from": {"id": chat, "is_bot": False, "first_name": "Ann"}}}


def test_three_replicas_one_killed_mid_load_lose_nothing(
        hostline_server: Any, postgres_db: PostgresDatabase) -> None:
    chats, per_chat = 24, 15
    with FakeBotAPI() as fake:
        text = config(fake, postgres_db)
        replicas: list[ServerProcess] = [hostline_server(text) for _ in range(3)]
        acked = [0]
        lock = threading.Lock()

        def send(chat: int) -> None:
            with httpx.Client(timeout=10) as client:
                for i in range(per_chat):
                    body = update(1000 + chat, f"{chat}:{i}")
                    for attempt in itertools.count():
                        # Round-robin; the load balancer tries the next replica on failure.
                        server = replicas[(chat + i + attempt) % len(replicas)]
                        try:
                            r = client.post(f"{server.url}/telegram/webhook", json=body,
                                            headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
                        except httpx.HTTPError:
                            r = None
                        if r is not None and r.status_code == 200:
                            break
                        assert attempt < 50, "no replica took the update"
                        time.sleep(0.05)
                    with lock:
                        acked[0] += 1

        threads = [threading.Thread(target=send, args=(c,)) for c in range(chats)]
        for t in threads:
            t.start()
        total = chats * per_chat
        deadline = time.monotonic() + 30
        while acked[0] < total // 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        replicas[1].kill()  # SIGKILL mid-load, replies in flight
        killed_at = acked[0]
        time.sleep(1.0)
        replicas[1].start()
        for t in threads:
            t.join(60)

        def received() -> int:
            return sum(len(set(fake.texts(1000 + c))) for c in range(chats))

        fake.wait_for(lambda: received() >= total, timeout=60)
        lost = dups = disorder = 0
        for c in range(chats):
            texts = fake.texts(1000 + c)
            seen: list[int] = []
            for t in texts:
                n = int(t.split(":")[1])
                if n in seen:
                    dups += 1
                else:
                    seen.append(n)
            lost += per_chat - len(seen)
            disorder += seen != sorted(seen)
        print(f"\nreplicas=3 updates={total} killed after {killed_at} acks: "
              f"lost={lost} duplicates={dups} chats out of order={disorder}")
        assert lost == 0 and disorder == 0
        # Only replies already in flight on the killed replica may repeat.
        assert dups <= 16
        assert not fake.flood_violations


def test_a_push_queued_by_one_process_is_delivered_by_another(
        hostline_server: Any, postgres_db: PostgresDatabase) -> None:
    with FakeBotAPI() as fake:
        # Runners poll only every 30 s: only a NOTIFY can wake them in time.
        text = config(fake, postgres_db, poll=30.0)
        server = hostline_server(text)
        time.sleep(0.5)  # past the runner's first claim
        out = subprocess.run([sys.executable, "-m", "hostline", "push", "--config",
                              str(server.config_path), "--channel", "telegram", "--to", "777",
                              "from another process"], capture_output=True, text=True,
                             timeout=60, cwd=server.config_path.parent)
        assert out.returncode == 0, out.stderr
        started = time.monotonic()
        fake.wait_for(lambda: fake.texts(777) == ["from another process"], timeout=10)
        took = time.monotonic() - started
        print(f"\npush queued by `hostline push`, delivered by the replica {took:.2f}s after "
              "it exited")
        assert took < 10


def test_the_telegram_polling_leader_dies_and_another_replica_takes_over(
        hostline_server: Any, postgres_db: PostgresDatabase) -> None:
    with FakeBotAPI() as fake:
        text = config(fake, postgres_db, mode="polling")
        first = hostline_server(text)
        second = hostline_server(text)

        def leaders() -> list[ServerProcess]:
            return [s for s in (first, second) if "getUpdates: this process leads" in s.output()]

        fake.wait_for(lambda: len(leaders()) == 1, timeout=15)
        time.sleep(2.5)  # a follower keeps trying the lock: it must not get it
        assert len(leaders()) == 1
        leader = leaders()[0]
        other = second if leader is first else first
        fake.queue_update(update(501, "before"))
        fake.wait_for(lambda: fake.texts(501) == ["before"], timeout=15)
        leader.kill()
        killed = time.monotonic()
        fake.wait_for(lambda: "getUpdates: this process leads" in other.output(), timeout=15)
        took = time.monotonic() - killed
        fake.queue_update(update(502, "after"))
        fake.wait_for(lambda: fake.texts(502) == ["after"], timeout=15)
        print(f"\npolling leader SIGKILLed; the other replica leads {took:.2f}s later")
        assert fake.texts(501) == ["before"]


def test_a_background_response_is_followed_and_cancelled_from_another_replica(
        hostline_server: Any, postgres_db: PostgresDatabase) -> None:
    import openai

    text = ('[host]\ntarget = "hostline.testing:simulated_model"\nshutdown_grace = 2\n'
            "[host.target_options]\nfirst_token = 0.1\ntokens_per_second = 40\n"
            "reply_tokens = 400\n"
            + postgres_db.store_toml(pool_max=4) + "[channels.responses]\n")
    a, b = hostline_server(text), hostline_server(text)
    on_a = openai.OpenAI(base_url=f"{a.url}/responses/v1", api_key="unused", max_retries=0)
    on_b = openai.OpenAI(base_url=f"{b.url}/responses/v1", api_key="unused", max_retries=0)
    r = on_a.responses.create(model="m", input="hello", background=True)
    assert r.status == "queued"
    deadline = time.monotonic() + 20
    while on_b.responses.retrieve(r.id).status != "in_progress":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # Following the run's events from the other replica, from a cursor.
    events = on_b.responses.retrieve(r.id, stream=True)
    seen = []
    for event in events:
        seen.append(event)
        if len(seen) >= 5:
            break
    events.close()
    cut = seen[2].sequence_number
    resumed = on_b.responses.retrieve(r.id, stream=True, starting_after=cut)
    first = next(iter(resumed))
    resumed.close()
    assert first.sequence_number == cut + 1
    assert on_b.responses.cancel(r.id).status == "cancelled"
    assert on_a.responses.retrieve(r.id).status == "cancelled"
    time.sleep(1.0)  # the run stopped wherever it ran: it never completes
    assert on_a.responses.retrieve(r.id).status == "cancelled"
    assert on_b.responses.retrieve(r.id).status == "cancelled"
