"""A small HTTP/1.1 load generator: asyncio streams, keep-alive, fixed concurrency.

Used when wrk is not installed, and for the count-bounded phases (the memory
phase sends exactly N Telegram updates, one new chat each). It builds the same
request bodies as the Lua scripts in ``bench/lua`` and prints one line
``BENCH_JSON {...}`` with the same keys wrk's ``done()`` prints.

    python bench/loadgen.py --url http://127.0.0.1:8000/telegram/webhook \
        --scenario telegram --concurrency 32 --duration 10
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import socket
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit


def body_factory(scenario: str, env: dict[str, str], unique_chats: bool) -> Callable[[int, int],
                                                                                      bytes]:
    """``make(uid, sent) -> body`` for a scenario (the Lua scripts' bodies)."""
    if scenario in ("responses_json", "responses_sse"):
        stream = scenario == "responses_sse"

        def responses(uid: int, sent: int) -> bytes:
            extra = ',"stream":true' if stream else ""
            return f'{{"model":"echo","input":"hello {uid}"{extra}}}'.encode()
        return responses
    if scenario == "telegram":
        chats = int(env.get("BENCH_CHATS", "1000"))
        chat_base = int(env.get("BENCH_CHAT_BASE", "100000"))
        now = int(time.time())

        def telegram(uid: int, sent: int) -> bytes:
            chat = chat_base + (uid if unique_chats else uid % chats)
            return (f'{{"update_id":{uid},"message":{{"message_id":{sent},"date":{now},'
                    f'"chat":{{"id":{chat},"type":"private","first_name":"Bench"}},'
                    f'"from":{{"id":{chat},"is_bot":false,"first_name":"Bench"}},'
                    f'"text":"u{uid}"}}}}').encode()
        return telegram
    if scenario == "teams":
        convs = int(env.get("BENCH_CHATS", "1000"))
        service_url = env["BENCH_SERVICE_URL"]
        bot_id = env["BENCH_BOT_ID"]
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())

        def teams(uid: int, sent: int) -> bytes:
            c = uid if unique_chats else uid % convs
            return (f'{{"type":"message","id":"b{uid}","timestamp":"{stamp}",'
                    f'"serviceUrl":"{service_url}","channelId":"msteams",'
                    f'"from":{{"id":"29:user-{c}","name":"Bench {c}","aadObjectId":"aad-{c}"}},'
                    f'"conversation":{{"id":"a:bench-{c}","conversationType":"personal",'
                    f'"tenantId":"tenant-1"}},"recipient":{{"id":"{bot_id}",'
                    f'"name":"hostline-bot"}},"locale":"en-US",'
                    f'"channelData":{{"tenant":{{"id":"tenant-1"}}}},"text":"t{uid}",'
                    f'"textFormat":"plain"}}').encode()
        return teams
    if scenario == "slack":
        channels = int(env.get("BENCH_CHATS", "1000"))
        now = int(time.time())

        def slack(uid: int, sent: int) -> bytes:
            c = uid if unique_chats else uid % channels
            return (f'{{"token":"x","team_id":"T0TEAM1","api_app_id":"A0APP01",'
                    f'"type":"event_callback","event_id":"Ev{uid}","event_time":{now},'
                    f'"authorizations":[{{"team_id":"T0TEAM1","user_id":"U0BOT01",'
                    f'"is_bot":true}}],"event":{{"type":"message","channel_type":"im",'
                    f'"user":"U0BENCH","text":"s{uid}","ts":"{now}.{uid:06d}",'
                    f'"channel":"D{c:08d}","team":"T0TEAM1"}}}}').encode()
        return slack
    raise SystemExit(f"unknown scenario {scenario!r}")


def signer_for(scenario: str, env: dict[str, str]) -> Callable[[bytes], str] | None:
    """Per-request headers (Slack signs every body), or ``None`` when static ones do."""
    if scenario != "slack":
        return None
    key = env["BENCH_SLACK_SECRET"].encode()

    def sign(body: bytes) -> str:
        stamp = str(int(time.time()))
        mac = hmac.new(key, b"v0:" + stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
        return f"X-Slack-Request-Timestamp: {stamp}\r\nX-Slack-Signature: v0={mac}\r\n"
    return sign


def headers_for(scenario: str, env: dict[str, str]) -> dict[str, str]:
    if scenario.startswith("responses"):
        return {"Authorization": f"Bearer {env['BENCH_API_KEY']}"}
    if scenario == "telegram":
        return {"X-Telegram-Bot-Api-Secret-Token": env["BENCH_SECRET"]}
    if scenario == "teams":
        return {"Authorization": env["BENCH_AUTH"]}
    return {}


class Closed(Exception):
    """The server closed the connection."""


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], int]:
    """Status, headers and body length of one response (the body is read and dropped)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
    size = 0
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            n = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(n + 2)
            size += n
            if n == 0:
                break
    elif "content-length" in headers:
        size = int(headers["content-length"])
        await reader.readexactly(size)
    return status, headers, size


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return values[k]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    env = dict(os.environ)
    parts = urlsplit(args.url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = parts.path or "/"
    make_body = body_factory(args.scenario, env, args.unique_chats)
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers_for(args.scenario, env).items())
    signer = signer_for(args.scenario, env)
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: application/json\r\n{extra}")
    id_base = int(env.get("BENCH_ID_BASE", "1"))
    latencies: list[float] = []
    errors = {"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0}
    statuses: dict[str, int] = {}
    counters = {"sent": 0, "ok": 0, "bytes": 0}
    start = time.perf_counter()
    deadline = start + args.duration if args.duration else None

    def next_id() -> int | None:
        if args.count is not None and counters["sent"] >= args.count:
            return None
        if deadline is not None and time.perf_counter() >= deadline:
            return None
        counters["sent"] += 1
        return id_base + counters["sent"]

    async def worker() -> None:
        reader: asyncio.StreamReader | None = None
        writer: asyncio.StreamWriter | None = None
        uid = next_id()
        while uid is not None:
            if writer is None:
                try:
                    reader, writer = await asyncio.open_connection(host, port)
                    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP,
                                                               socket.TCP_NODELAY, 1)
                except OSError:
                    errors["connect"] += 1
                    await asyncio.sleep(0.05)
                    continue
            assert reader is not None
            body = make_body(uid, counters["sent"])
            signed = signer(body) if signer is not None else ""
            request = (head + signed + f"Content-Length: {len(body)}\r\n\r\n").encode() + body
            t0 = time.perf_counter()
            try:
                writer.write(request)
                status, headers, size = await asyncio.wait_for(read_response(reader),
                                                               args.timeout)
            except asyncio.TimeoutError:
                errors["timeout"] += 1
                writer.close()
                writer = None
                uid = next_id()
                continue
            except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
                errors["read"] += 1
                writer.close()
                writer = None
                uid = next_id()
                continue
            latencies.append(time.perf_counter() - t0)
            counters["bytes"] += size
            statuses[str(status)] = statuses.get(str(status), 0) + 1
            if headers.get("connection", "").lower() == "close":
                writer.close()
                writer = None
            if status >= 400:
                errors["status"] += 1
                if args.retry_busy and status in (429, 503):
                    # What Telegram and the Bot Framework do: wait, send it again.
                    wait = min(1.0, float(headers.get("retry-after", "1") or 1))
                    await asyncio.sleep(wait)
                    continue
            else:
                counters["ok"] += 1
            uid = next_id()
        if writer is not None:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    elapsed = time.perf_counter() - start
    latencies.sort()
    us = 1e6
    return {
        "requests": len(latencies), "duration_us": int(elapsed * us),
        "bytes": counters["bytes"], "errors": errors, "statuses": statuses,
        "latency_us": {"p50": int(percentile(latencies, 50) * us),
                       "p90": int(percentile(latencies, 90) * us),
                       "p99": int(percentile(latencies, 99) * us),
                       "max": int((latencies[-1] if latencies else 0) * us),
                       "mean": (sum(latencies) / len(latencies) * us) if latencies else 0.0},
        "threads": [{"tid": 0, "sent": counters["sent"]}],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--scenario", required=True,
                        choices=["responses_json", "responses_sse", "telegram", "teams",
                                 "slack"])
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--duration", type=float, default=None, help="seconds")
    parser.add_argument("--count", type=int, default=None, help="requests (ids) to send")
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--unique-chats", action="store_true",
                        help="a new chat / conversation for every request")
    parser.add_argument("--retry-busy", action="store_true",
                        help="send a request answered 429/503 again after Retry-After")
    args = parser.parse_args()
    if args.duration is None and args.count is None:
        parser.error("give --duration or --count")
    print("BENCH_JSON " + json.dumps(asyncio.run(run(args))), flush=True)


if __name__ == "__main__":
    main()
