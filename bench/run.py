"""hostline benchmarks: hostline against a bare Starlette floor, memory, outbox.

One run, loopback only, bounded counts and durations (``nox -s bench``;
``--quick`` for a one-minute smoke run). See BENCHMARKS.md for what is measured
and the targets. Steps:

1. Start the fakes (Telegram Bot API, Bot Framework), a hostline server
   (``python -m hostline serve``: echo target; Responses, Telegram in webhook
   mode, Teams) and the bare floor app (``bench/bare_app.py``) with the same
   Hypercorn settings.
2. Load from a separate process (wrk with ``bench/lua/*.lua`` when installed,
   else ``bench/loadgen.py``) for Responses JSON, Responses SSE, Telegram
   webhooks (unique update ids over 1,000 chats) and Teams activities (unique
   ids, one pre-signed JWT): req/s, p50/p99 latency, errors, hostline / bare.
3. Telegram: after the load, wait (bounded) until the fake Bot API has a reply
   for every update sent; lost = acked - answered.
4. Resident memory of a fresh hostline server at start and after 10k, 50k and
   100k Telegram chats (one new chat per update), in bytes per chat.
5. Outbox deliveries/s on SQLite with one and two workers: N pushes queued
   before start-up, drained into a counting sink channel (``bench/benchsink.py``).
6. The agent scenarios of ``bench/agents.py``: an instant streaming target
   beside the plain one on Telegram, 2,000 chats against the simulated
   model on Telegram and Teams, memory per conversation in flight.
7. Results to ``bench/results/<date>.md`` (and the latest table to
   BENCHMARKS.md), printed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from agents import render_agents, run_agents

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PY = sys.executable
API_KEY = "bench-key"
SECRET = "bench-secret"
STRIDE = 10_000_000  # ids per load thread per run (see lua/common.lua)

SCENARIOS: dict[str, dict[str, Any]] = {
    "responses_json": {"title": "Responses JSON", "path": "/responses/v1/responses",
                       "lua": "responses.lua", "env": {"BENCH_STREAM": "0"}, "target": 0.70},
    "responses_sse": {"title": "Responses SSE", "path": "/responses/v1/responses",
                      "lua": "responses.lua", "env": {"BENCH_STREAM": "1"}, "target": 0.85},
    "telegram": {"title": "Telegram webhook", "path": "/telegram/webhook", "lua": "telegram.lua",
                 "env": {}, "target": 0.70},
    "teams": {"title": "Teams activities", "path": "/teams/api/messages", "lua": "teams.lua",
              "env": {}, "target": None},
    # Signed per request (HMAC), so always the Python load generator.
    "slack": {"title": "Slack events", "path": "/slack/events", "lua": None, "python": True,
              "env": {}, "target": 0.70},
}
SLACK_SECRET = "bench-slack-signing-secret"
TARGET_REPLIES_PER_S = 1000.0
TARGET_BYTES_PER_SESSION = 2048
TARGET_TELEGRAM_BYTES_PER_CHAT = 1024
TARGET_OUTBOX_PER_S = 2000.0


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get(url: str, timeout: float = 2.0) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 - loopback only
            raw = r.read()
            status = r.status
    except urllib.error.HTTPError as exc:
        raw, status = exc.read(), exc.code
    try:
        return status, json.loads(raw or b"null")
    except ValueError:
        return status, None


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


# servers ---------------------------------------------------------------------
class Server:
    """A server subprocess in its own process group, with its log in a file."""

    def __init__(self, name: str, cmd: list[str], port: int, log_path: Path,
                 env: dict[str, str] | None = None) -> None:
        self.name = name
        self.cmd = cmd
        self.port = port
        self.log_path = log_path
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.state_db: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 60.0) -> Server:
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(self.cmd, stdout=out, stderr=subprocess.STDOUT,
                                         cwd=ROOT, env=self.env, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n"
                                   f"{self.log_tail()}")
            with contextlib.suppress(OSError):
                status, _ = http_get(self.url + "/readyz", 1.0)
                if status == 200:
                    return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not become ready:\n{self.log_tail()}")

    def readyz(self) -> dict[str, Any]:
        try:
            _, body = http_get(self.url + "/readyz", 5.0)
        except OSError:
            return {}
        return body if isinstance(body, dict) else {}

    def stop(self, timeout: float = 30.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def tree(self) -> list[int]:
        """The serving process and its descendants (runner processes)."""
        pids, i = [self.pid], 0
        while i < len(pids):
            with contextlib.suppress(OSError):
                for task in os.listdir(f"/proc/{pids[i]}/task"):
                    kids = Path(f"/proc/{pids[i]}/task/{task}/children").read_text().split()
                    pids.extend(int(k) for k in kids)
            i += 1
        return pids

    def rss(self) -> int:
        """Resident set size of the serving process and its runners, bytes (VmRSS)."""
        total = 0
        for pid in self.tree():
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        if not total:
            raise RuntimeError("no VmRSS")
        return total

    def cpu_seconds(self) -> float:
        """utime + stime of the serving process and its runners (all threads)."""
        total = 0
        for pid in self.tree():
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")


# load ------------------------------------------------------------------------
class Load:
    """Runs one load process (wrk or bench/loadgen.py) and parses its summary."""

    def __init__(self, tool: str, connections: int, threads: int, env: dict[str, str]) -> None:
        self.tool = tool
        self.connections = connections
        self.threads = threads if tool == "wrk" else 1
        self.env = env
        self.next_base = 1_000_000

    def alloc(self) -> int:
        base = self.next_base
        self.next_base += (self.threads + 1) * STRIDE
        return base

    def run(self, scenario: str, base_url: str, *, duration: float | None = None,
            count: int | None = None, extra_env: dict[str, str] | None = None,
            python: bool = False, unique_chats: bool = False) -> dict[str, Any]:
        spec = SCENARIOS[scenario]
        base = self.alloc()
        env = {**os.environ, **self.env, **spec["env"], **(extra_env or {}),
               "BENCH_ID_BASE": str(base), "BENCH_STRIDE": str(STRIDE),
               "BENCH_PATH": spec["path"], "BENCH_LUA_DIR": str(BENCH / "lua")}
        url = base_url + spec["path"]
        if self.tool == "wrk" and not python and not spec.get("python") and count is None:
            assert duration is not None
            cmd = ["wrk", "-t", str(self.threads), "-c", str(self.connections),
                   "-d", f"{max(1, round(duration))}s", "--timeout", "10s",
                   "-s", str(BENCH / "lua" / spec["lua"]), url]
            threads = self.threads
        else:
            cmd = [PY, str(BENCH / "loadgen.py"), "--url", url, "--scenario", scenario,
                   "--concurrency", str(self.connections)]
            cmd += ["--duration", str(duration)] if duration else ["--count", str(count)]
            if unique_chats:
                cmd += ["--unique-chats", "--retry-busy"]
            threads = 1
        budget = (duration or 0) + 60 + (count or 0) / 100
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=budget,
                             check=False)
        line = next((ln for ln in out.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
        if line is None:
            raise RuntimeError(f"load generator failed ({out.returncode}):\n{out.stdout[-2000:]}"
                               f"\n{out.stderr[-2000:]}")
        res: dict[str, Any] = json.loads(line[len("BENCH_JSON "):])
        res["base"] = base
        res["threads_n"] = threads
        secs = res["duration_us"] / 1e6
        errs = res["errors"]
        res["ok"] = res["requests"] - errs["status"]
        res["rps"] = res["ok"] / secs if secs else 0.0
        res["error_count"] = sum(errs.values())
        return res


def accepted_updates(db_path: Path | None, update_ids: set[int]) -> set[int]:
    """Which of ``update_ids`` the server committed (a task or a dedupe record exists)."""
    if not update_ids or db_path is None:
        return set()
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        keys = {f"telegram:{u}": u for u in update_ids}
        found: set[int] = set()
        for sql in ("SELECT key FROM tasks WHERE key=?",
                    "SELECT key FROM kv WHERE ns='hostline:task-keys' AND key=?"):
            for key, u in keys.items():
                if db.execute(sql, (key,)).fetchone():
                    found.add(u)
        return found
    finally:
        db.close()


def written_ids(res: dict[str, Any]) -> set[int]:
    """Every id the load generator put in a request (see lua/common.lua)."""
    ids: set[int] = set()
    for t in res["threads"]:
        start = res["base"] + t["tid"] * STRIDE
        ids.update(range(start + 1, start + t["sent"] + 1))
    return ids


# the bench ---------------------------------------------------------------------
class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="hostline-bench-"))
        self.servers: list[Server] = []
        self.results: dict[str, Any] = {"runs": [], "telegram": [], "teams": [], "slack": [],
                                        "memory": None, "outbox": [], "profiles": {}}
        self.tool = "wrk" if (args.load != "python" and shutil.which("wrk")) else "python"
        if args.load == "wrk" and self.tool != "wrk":
            raise SystemExit("wrk is not installed")
        self.tg: Any = None
        self.bf: Any = None
        self.slack: Any = None

    # setup --------------------------------------------------------------
    def start_fakes(self) -> None:
        from hostline_slack.testing import FakeSlackAPI
        from hostline_teams.testing import FakeBotFramework
        from hostline_telegram.testing import FakeBotAPI

        self.tg = FakeBotAPI().start()
        self.bf = FakeBotFramework().start()
        self.slack = FakeSlackAPI().start()
        activity = self.bf.message("bench")
        self.teams_env = {
            "BENCH_AUTH": self.bf.sign(activity, expires=time.time() + 6 * 3600),
            "BENCH_SERVICE_URL": self.bf.service_url, "BENCH_BOT_ID": self.bf.bot_id,
        }

    def hostline_config(self, name: str, port: int) -> Path:
        state = self.tmp / name / "state"
        state.mkdir(parents=True)
        text = f"""[host]
target = "echo"
state_dir = "{state}"
public_url = "http://127.0.0.1:{port}"

[channels.responses]
api_keys = ["{API_KEY}"]

[channels.telegram]
token = "{self.tg.token}"
secret_token = "{SECRET}"
api_base = "{self.tg.url}"
# The fake does not limit sends: measure the host, not Telegram's pacing.
bot_rate = 0
chat_rate = 0

""" + self.bf.config_toml() + f"""
[channels.slack]
signing_secret = "{SLACK_SECRET}"
bot_token = "{self.slack.bot_token}"
api_base = "{self.slack.api_base}"
lookup_users = false
"""
        path = self.tmp / name / "hostline.toml"
        path.write_text(text)
        return path

    def start_hostline(self, name: str) -> Server:
        port = free_port()
        config = self.hostline_config(name, port)
        cmd = [PY, "-m", "hostline", "serve", "--config", str(config),
               "--bind", f"127.0.0.1:{port}", "--runners", str(self.args.runners)]
        if self.args.log_level:
            cmd[3:3] = ["--log-level", self.args.log_level]
        server = Server(name, cmd, port, self.tmp / name / "server.log")
        server.state_db = self.tmp / name / "state" / "hostline.sqlite3"
        self.servers.append(server.start())
        return server

    def start_bare(self) -> Server:
        port = free_port()
        (self.tmp / "bare").mkdir()
        server = Server("bare", [PY, str(BENCH / "bare_app.py"), "--bind", f"127.0.0.1:{port}"],
                        port, self.tmp / "bare" / "server.log").start()
        self.servers.append(server)
        return server

    def stop_all(self) -> None:
        for s in reversed(self.servers):
            s.stop()
        self.servers.clear()
        if self.tg is not None:
            self.tg.stop()
        if self.bf is not None:
            self.bf.stop()
        if self.slack is not None:
            self.slack.stop()

    # throughput ------------------------------------------------------------
    def load_env(self) -> dict[str, str]:
        return {"BENCH_API_KEY": API_KEY, "BENCH_SECRET": SECRET, "BENCH_CHATS": "1000",
                "BENCH_SLACK_SECRET": SLACK_SECRET,
                "BENCH_CHAT_BASE": "100000", **self.teams_env}

    def measure(self, load: Load, server: Server, app: str, scenario: str, duration: float,
                record: bool = True, round_no: int = 0) -> dict[str, Any]:
        sent0 = self.tg.sent_count
        msgs0 = len(self.bf.connector.received)
        posts0 = len(self.slack.calls("chat.postMessage", ok=True))
        cpu0 = server.cpu_seconds()
        la = loadavg()
        t0 = time.monotonic()
        res = load.run(scenario, server.url, duration=duration)
        t1 = time.monotonic()
        cpu = server.cpu_seconds() - cpu0
        res.update(app=app, scenario=scenario, round=round_no, loadavg=la,
                   cpu_s=cpu, cpu_pct=100 * cpu / (t1 - t0),
                   cpu_us=1e6 * cpu / res["ok"] if res["ok"] else 0.0)
        if record:
            self.results["runs"].append(res)
            log(f"{scenario:15} {app:8} {res['rps']:8.0f} req/s  p50 "
                f"{res['latency_us']['p50'] / 1000:.1f} ms  p99 "
                f"{res['latency_us']['p99'] / 1000:.1f} ms  errors {res['error_count']}  "
                f"cpu {res['cpu_pct']:.0f}% ({res['cpu_us']:.0f} us/req)  load {la}")
        if app == "hostline" and scenario == "telegram":
            tg = self.telegram_delivery(server, res, t0, t1, sent0)
            if record:
                self.results["telegram"].append(tg)
        elif app == "hostline" and scenario == "teams":
            tm = self.teams_delivery(server, res, msgs0)
            if record:
                self.results["teams"].append(tm)
        elif app == "hostline" and scenario == "slack":
            sl = self.slack_delivery(server, res, posts0)
            if record:
                self.results["slack"].append(sl)
        return res

    def wait_idle(self, server: Server, done: Any, timeout: float) -> float:
        """Wait until ``done()`` and the server's queue is empty; seconds waited."""
        t0 = time.monotonic()
        last_progress, last_value = t0, None
        while time.monotonic() - t0 < timeout:
            value = done()
            if value is True and self.queue_empty(server):
                break
            if value != last_value:
                last_value, last_progress = value, time.monotonic()
            elif time.monotonic() - last_progress > 30:
                log(f"no delivery progress for 30 s on {server.name}; giving up waiting")
                break
            time.sleep(0.2)
        return time.monotonic() - t0

    def telegram_delivery(self, server: Server, res: dict[str, Any], t0: float, t1: float,
                          sent0: int) -> dict[str, Any]:
        ids = written_ids(res)
        need, acked = len(ids), res["ok"]

        def done() -> Any:
            n = self.tg.sent_count - sent0
            # Updates in flight when the load stopped may never have reached the
            # server: once every acked one could be answered and the queue is
            # empty, nothing more is coming.
            return True if n >= need or (n >= acked and self.queue_empty(server)) else n

        wait = self.wait_idle(server, done, self.args.drain_timeout)
        answered: set[int] = set()
        replies = 0
        times: list[float] = []
        for call in self.tg.calls("sendMessage"):
            if call.at < t0 or call.status != 200:
                continue
            text = str(call.params.get("text", ""))
            if text.startswith("u") and text[1:].isdigit() and int(text[1:]) in ids:
                replies += 1
                answered.add(int(text[1:]))
                times.append(call.at)
        missing = ids - answered
        # An update is acked only after its task is committed, so one the
        # server never stored was never acked. Stored and unanswered = lost
        # (counted even when its ack did not reach the client in time).
        stored = accepted_updates(server.state_db, missing)
        last = max(times) if times else t1
        out = {
            "written": need, "acked": acked, "answered": len(answered),
            "duplicates": replies - len(answered), "never_stored": len(missing) - len(stored),
            "lost": len(stored),
            "replies_per_s": len(answered) / (last - t0) if last > t0 else 0.0,
            "replies_per_s_during_load": sum(1 for t in times if t <= t1) / (t1 - t0),
            "drain_s": max(0.0, last - t1), "wait_s": wait,
        }
        log(f"telegram delivery: written {need}, acked {acked}, answered {len(answered)}, "
            f"lost = {out['lost']}, replies/s sustained {out['replies_per_s']:.0f}, "
            f"drained {out['drain_s']:.1f} s after the load")
        return out

    def queue_empty(self, server: Server) -> bool:
        return server.readyz().get("queue", 1) == 0

    def teams_delivery(self, server: Server, res: dict[str, Any], msgs0: int) -> dict[str, Any]:
        need = len(written_ids(res))

        def count() -> int:
            with self.bf.connector.lock:
                items = self.bf.connector.received[msgs0:]
            return sum(1 for r in items if r.type == "message")

        def done() -> Any:
            n = count()
            return True if n >= need or (n >= res["ok"] and self.queue_empty(server)) else n

        wait = self.wait_idle(server, done, self.args.drain_timeout)
        replied = count()
        out = {"written": need, "acked": res["ok"], "replied": replied, "wait_s": wait}
        log(f"teams delivery: written {need}, acked {res['ok']}, replies {replied}, "
            f"waited {wait:.1f} s")
        return out

    def slack_delivery(self, server: Server, res: dict[str, Any], posts0: int) -> dict[str, Any]:
        """Every acked Slack event answered once (lost = acked - answered)."""
        def answered() -> set[str]:
            return {str(c.params.get("text")) for c in
                    self.slack.calls("chat.postMessage", ok=True)[posts0:]}

        def done() -> Any:
            n = len(answered())
            return True if n >= res["ok"] and self.queue_empty(server) else n

        wait = self.wait_idle(server, done, self.args.drain_timeout)
        calls = self.slack.calls("chat.postMessage", ok=True)[posts0:]
        got = answered()
        span = (calls[-1].at - calls[0].at) if len(calls) > 1 else 0.0
        out = {"acked": res["ok"], "answered": len(got), "duplicates": len(calls) - len(got),
               "lost": max(0, res["ok"] - len(got)), "wait_s": wait,
               "replies_per_s": len(got) / span if span > 0 else 0.0}
        log(f"slack delivery: acked {res['ok']}, answered {len(got)}, lost = {out['lost']}, "
            f"duplicates {out['duplicates']}, replies/s {out['replies_per_s']:.0f}")
        return out

    def slack_model(self, chats: int = 500) -> None:
        """Slack against the simulated model: ``chats`` DMs at once, each answered by a
        model that waits 1 s and streams for 2 s. Ideal: every answer ~3 s after its ack."""
        name = "slack-model"
        port = free_port()
        state = self.tmp / name / "state"
        state.mkdir(parents=True)
        config = self.tmp / name / "hostline.toml"
        config.write_text(f"""[host]
target = "hostline.testing:simulated_model"
state_dir = "{state}"

[host.target_options]
first_token = 1.0
tokens_per_second = 20.0
reply_tokens = 40
chunk_tokens = 2

[channels.slack]
signing_secret = "{SLACK_SECRET}"
bot_token = "{self.slack.bot_token}"
api_base = "{self.slack.api_base}"
lookup_users = false
""")
        cmd = [PY, "-m", "hostline", "serve", "--config", str(config),
               "--bind", f"127.0.0.1:{port}", "--runners", str(self.args.runners)]
        server = Server(name, cmd, port, self.tmp / name / "server.log")
        self.servers.append(server.start())
        calls0 = len(self.slack.calls())
        la = loadavg()
        t0 = time.time()
        res = self.load.run("slack", server.url, count=chats, unique_chats=True)
        t_acked = time.time()

        def stopped() -> list[Any]:
            return [c for c in self.slack.calls()[calls0:] if c.ok and (
                c.method == "chat.stopStream" or (c.method == "chat.postMessage"
                                                  and c.params.get("thread_ts")))]

        self.wait_idle(server, lambda: True if len(stopped()) >= res["ok"] else
                       len(stopped()), self.args.drain_timeout)
        done = stopped()
        calls = [c for c in self.slack.calls()[calls0:] if c.ok]
        last = max((c.at for c in done), default=t_acked)
        out = {"chats": chats, "acked": res["ok"], "answered": len(done),
               "lost": max(0, res["ok"] - len(done)), "ack_rps": res["rps"],
               "last_answer_after_last_ack_s": last - t_acked, "total_s": last - t0,
               "calls_per_answer": len(calls) / max(1, len(done)), "loadavg": la,
               "methods": dict(collections.Counter(c.method for c in calls))}
        self.results["slack_model"] = out
        log(f"slack + simulated model: {chats} chats, acked {res['ok']}, answered {len(done)}, "
            f"last answer {out['last_answer_after_last_ack_s']:.1f} s after the last ack "
            f"(ideal ~3 s), {out['calls_per_answer']:.1f} Web API calls per answer")
        server.stop()
        self.servers.remove(server)

    def throughput(self, hostline: Server, bare: Server) -> None:
        a = self.args
        load = Load(self.tool, a.connections, a.threads, self.load_env())
        self.load = load
        scenarios = [s for s in SCENARIOS if s in a.scenarios]
        log(f"warm-up ({a.warmup:.0f} s per scenario and app)")
        for scenario in scenarios:
            for app, server in (("bare", bare), ("hostline", hostline)):
                self.measure(load, server, app, scenario, a.warmup, record=False)
        for r in range(a.rounds):
            for scenario in scenarios:
                pairs = [("bare", bare), ("hostline", hostline)]
                if r % 2:
                    pairs.reverse()  # alternate the order: drift hits both sides alike
                for app, server in pairs:
                    self.measure(load, server, app, scenario, a.duration, round_no=r)

    # memory ----------------------------------------------------------------
    def memory(self) -> None:
        a = self.args
        server = self.start_hostline("memory")
        load = Load("python", a.connections, 1, self.load_env())
        load.next_base = 1_500_000_000
        time.sleep(1.0)
        rss0 = server.rss()
        log(f"memory: fresh server RSS {rss0 / 2**20:.1f} MiB")
        rows = [{"sessions": 0, "rss": rss0}]
        done_n = 0
        chat_base = 1_000_000_000
        t_start = time.monotonic()
        for checkpoint in a.sessions:
            n = checkpoint - done_n
            t0 = time.monotonic()
            sent = acked = rejected = answered = 0
            # Batches, each answered before the next: the backlog stays small, so
            # this phase measures memory, not how the runner copes with a backlog.
            while sent < n:
                batch = min(a.memory_batch, n - sent)
                sent0 = self.tg.sent_count
                res = load.run("telegram", server.url, count=batch, unique_chats=True,
                               extra_env={"BENCH_CHAT_BASE": str(chat_base + done_n + sent)})

                def done(sent0: int = sent0, batch: int = batch) -> Any:
                    got = self.tg.sent_count - sent0
                    return True if got >= batch else got

                self.wait_idle(server, done, a.drain_timeout)
                answered += self.tg.sent_count - sent0
                acked += res["ok"]
                rejected += res["errors"]["status"]
                sent += batch
            elapsed = time.monotonic() - t0
            time.sleep(1.0)
            rss = server.rss()
            done_n = checkpoint
            rows.append({"sessions": checkpoint, "rss": rss, "answered": answered,
                         "sent": n, "acked": acked, "seconds": elapsed, "rejected": rejected})
            log(f"memory: {checkpoint} chats, RSS {rss / 2**20:.1f} MiB, "
                f"{(rss - rss0) / checkpoint:.0f} B/chat ({n} updates in {elapsed:.1f} s, "
                f"{answered} answered)")
        self.results["memory"] = {"rows": rows, "seconds": time.monotonic() - t_start}
        server.stop()
        self.servers.remove(server)

    # outbox ----------------------------------------------------------------
    def outbox(self) -> None:
        for workers in self.args.outbox_workers:
            self.results["outbox"].append(self.outbox_run(workers, self.args.outbox_tasks))

    def outbox_run(self, workers: int, n: int) -> dict[str, Any]:
        from benchsink import queue_pushes

        from hostline import SQLiteStore

        name = f"outbox-{workers}"
        root = self.tmp / name
        state, stats = root / "state", root / "stats"
        stats.mkdir(parents=True)
        port = free_port()
        config = root / "hostline.toml"
        config.write_text(f"""[host]
target = "echo"
state_dir = "{state}"

[channels.sink]
plugin = "benchsink:SinkChannel"
stats_dir = "{stats}"
""")

        async def enqueue() -> None:
            store = SQLiteStore(state / "hostline.sqlite3")
            await store.open()
            try:
                await queue_pushes(store, n)
            finally:
                await store.close()

        asyncio.run(enqueue())
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(BENCH), *filter(None, [os.environ.get("PYTHONPATH")])])}
        cmd = [PY, "-m", "hostline", "serve", "--config", str(config),
               "--bind", f"127.0.0.1:{port}", "--workers", str(workers)]
        server = Server(name, cmd, port, root / "server.log", env=env)
        t0 = time.monotonic()
        server.start()
        self.servers.append(server)

        def totals() -> tuple[int, list[dict[str, Any]]]:
            items = []
            for f in stats.glob("sink-*.json"):
                with contextlib.suppress(OSError, ValueError):
                    items.append(json.loads(f.read_text()))
            return sum(i["count"] for i in items), items

        deadline = time.monotonic() + self.args.drain_timeout + n / 500
        while time.monotonic() < deadline and totals()[0] < n:
            time.sleep(0.2)
        waited = time.monotonic() - t0
        server.stop()
        self.servers.remove(server)
        delivered, items = totals()
        firsts = [i["first"] for i in items if i["first"]]
        lasts = [i["last"] for i in items if i["last"]]
        span = (max(lasts) - min(firsts)) if firsts and lasts else 0.0
        db = sqlite3.connect(state / "hostline.sqlite3")
        left = db.execute("SELECT COUNT(*) FROM tasks").fetchone()[0]
        db.close()
        out = {"workers": workers, "tasks": n, "delivered": delivered, "left": left,
               "seconds": span, "per_s": delivered / span if span else 0.0,
               "per_process": sorted(i["count"] for i in items), "wall_s": waited}
        log(f"outbox {workers} worker(s): {delivered}/{n} delivered in {span:.2f} s = "
            f"{out['per_s']:.0f}/s (per process {out['per_process']}, {left} left)")
        return out

    # profile ------------------------------------------------------------------
    def profile(self, hostline: Server) -> None:
        """An extra, unrecorded pass per scenario with py-spy attached (if installed)."""
        pyspy = self.args.py_spy or shutil.which("py-spy")
        if not pyspy:
            log("profiling skipped: py-spy not found (--py-spy PATH)")
            return
        scenarios = [s for s in SCENARIOS if s in self.args.scenarios]
        dur = self.args.duration
        for scenario in scenarios:
            out = self.tmp / f"profile-{scenario}.txt"
            spy = subprocess.Popen([pyspy, "record", "-p", str(hostline.pid), "-d",
                                    str(int(dur) + 1), "-r", "250", "-f", "raw", "-o", str(out),
                                    "--nonblocking", "--gil"], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
            time.sleep(0.5)
            self.measure(self.load, hostline, "hostline", scenario, dur, record=False)
            spy.wait(60)
            if out.exists():
                self.results["profiles"][scenario] = summarize_profile(out.read_text())
                log(f"profiled {scenario}")

    # all -----------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        a = self.args
        info = machine_info(self.tool)
        self.results["machine"] = info
        self.results["settings"] = {
            "duration": a.duration, "rounds": a.rounds, "connections": a.connections,
            "threads": a.threads if self.tool == "wrk" else 1, "warmup": a.warmup,
            "quick": a.quick, "log_level": a.log_level or "INFO (default)",
            "runners": a.runners}
        log(f"load tool: {info['load_tool']}; {info['cpus']} CPUs; load {loadavg()}; "
            f"state in {self.tmp}")
        try:
            self.start_fakes()
            if a.scenarios:
                hostline = self.start_hostline("hostline")
                bare = self.start_bare()
                self.results["rss_main"] = {"start": hostline.rss()}
                self.throughput(hostline, bare)
                self.results["rss_main"]["end"] = hostline.rss()
                if a.profile:
                    self.profile(hostline)
                hostline.stop()
                bare.stop()
                self.servers.clear()
            if "slack" in a.scenarios:
                self.slack_model()
            if a.sessions:
                self.memory()
            if a.outbox_tasks:
                self.outbox()
            if a.agent_replies or a.agent_chats:
                self.results["agents"] = run_agents(self)
            if a.postgres:
                from postgres import PostgresBench

                self.results["postgres"] = PostgresBench(self, Server, free_port).run()
        finally:
            self.stop_all()
            self.results["finished"] = datetime.datetime.now().isoformat(timespec="seconds")
            if not a.keep:
                shutil.rmtree(self.tmp, ignore_errors=True)
        return self.results


def runners_note(runners: int | None) -> str:
    if not runners:
        return "one process acks and runs the queued work"
    return (f"one HTTP process and {runners} runner process(es) for the queued work; "
            "server CPU and RSS count them all")


def machine_info(tool: str) -> dict[str, Any]:
    cpu = "?"
    with contextlib.suppress(OSError):
        m = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text())
        cpu = m.group(1).strip() if m else "?"
    if tool == "wrk":
        out = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
        tool_name = (out.stdout or out.stderr).splitlines()[0].split(" [")[0]
    else:
        tool_name = "bench/loadgen.py (python asyncio)"
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True, check=False).stdout.strip()
    status = subprocess.run(["git", "status", "--porcelain", "--", "core", "plugins"], cwd=ROOT,
                            capture_output=True, text=True, check=False).stdout.splitlines()
    dirty = sorted({"/".join(line[3:].split("/")[:2]) for line in status if line[3:]})
    if commit and dirty:
        commit += f" with uncommitted changes in {', '.join(dirty)}"
    from importlib.metadata import version

    versions = {}
    for dist in ("hostline", "hypercorn", "starlette", "httpx"):
        with contextlib.suppress(Exception):
            versions[dist] = version(dist)
    return {"cpus": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "platform": platform.platform(), "load_tool": tool_name, "commit": commit or "?",
            "versions": versions, "date": datetime.date.today().isoformat()}


_PACKAGES = [  # (substring of a frame's file, label); first match wins
    ("hostline/store/", "hostline store (SQLite)"), ("hostline/runner", "hostline runner"),
    ("hostline_telegram/", "telegram plugin"), ("hostline_teams/", "teams plugin"),
    ("hostline_responses/", "responses plugin"), ("hostline/", "hostline core"),
    ("httpx/", "httpx/httpcore/anyio (outbound HTTP)"),
    ("httpcore/", "httpx/httpcore/anyio (outbound HTTP)"),
    ("anyio/", "httpx/httpcore/anyio (outbound HTTP)"),
    ("h11/", "hypercorn/h11 (inbound HTTP)"), ("hypercorn/", "hypercorn/h11 (inbound HTTP)"),
    ("starlette/", "starlette (routing, requests, responses)"), ("json/", "json"),
    ("jwt/", "PyJWT/cryptography"), ("cryptography/", "PyJWT/cryptography"),
    ("logging/", "logging"), ("concurrent/futures", "thread hand-offs (executor)"),
    ("threading.py", "thread hand-offs (executor)"), ("asyncio/", "asyncio event loop"),
    ("selectors.py", "asyncio event loop"), ("attr/", "attrs"),
]


# Frames that wrap everything (entry point, ASGI middlewares): left out of "inclusive".
_WRAPPERS = re.compile(r"hostline/__main__|hostline/cli\.py|(Error|BodyLimit|Isolation)Middleware")


def summarize_profile(raw: str, top: int = 10) -> dict[str, Any]:
    """py-spy ``raw`` (collapsed) stacks sampled with ``--gil``: CPU by package
    (the innermost Python frame of each sample), the top functions by self time
    and the hostline functions with the most inclusive time."""
    by_pkg: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        frames = [f for f in stack.split(";") if f and not f.startswith("thread (")]
        if not frames:
            continue
        count = int(n)
        total += count
        leaf = frames[-1]
        by_pkg[next((label for key, label in _PACKAGES if key in leaf), "other")] += count
        own[_frame(leaf)] += count
        seen = set()
        for f in frames:
            name = _frame(f)
            if "hostline" in f and name not in seen and not _WRAPPERS.search(f):
                seen.add(name)
                incl[name] += count

    def pct(c: collections.Counter[str], k: int) -> list[tuple[str, float]]:
        return [(name, 100 * v / total) for name, v in c.most_common(k)] if total else []

    return {"samples": total, "packages": pct(by_pkg, 20), "self": pct(own, top),
            "inclusive": pct(incl, top)}


def _frame(frame: str) -> str:
    # "function (path/to/file.py:123)" -> "function (package/file.py)".
    m = re.match(r"(.*?) \((.*?)(?::\d+)?\)$", frame.strip())
    if not m:
        return frame.strip()
    func, path = m.groups()
    parts = Path(path).parts
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] in ("site-packages", "src") or re.fullmatch(r"python3\.\d+", parts[i]):
            return f"{func} ({'/'.join(parts[i + 1:])})"
    return f"{func} ({'/'.join(parts[-2:])})"


# report ----------------------------------------------------------------------------
def best(runs: list[dict[str, Any]], app: str, scenario: str) -> dict[str, Any] | None:
    rs = [r for r in runs if r["app"] == app and r["scenario"] == scenario]
    return max(rs, key=lambda r: r["rps"]) if rs else None


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def ms(us: float) -> str:
    return f"{us / 1000:.1f}"


def verdict(ok: bool | None) -> str:
    return "—" if ok is None else ("met" if ok else "**missed**")


def render(results: dict[str, Any]) -> str:
    m = results["machine"]
    s = results["settings"]
    out: list[str] = []
    w = out.append
    w(f"# hostline benchmarks — {m['date']}")
    w("")
    w(f"Machine: {m['cpus']} CPUs ({m['cpu']}), Python {m['python']}, {m['platform']}. "
      f"Load: {m['load_tool']}, {s['connections']} connections"
      f"{', ' + str(s['threads']) + ' thread(s)' if s['threads'] else ''}, "
      f"{s['duration']:g} s per run, best of {s['rounds']} round(s) after a "
      f"{s['warmup']:g} s warm-up; hostline log level {s['log_level']}, "
      f"`hostline serve --runners {s.get('runners', 0)}` ({runners_note(s.get('runners'))}). "
      f"Commit {m['commit']}; " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()) +
      ". Loopback only; the fakes run in the bench process; the machine is shared, so "
      "absolute numbers are noisy — the ratios are measured back to back in the same run.")
    w("")
    targets: list[tuple[str, str, bool | None]] = []
    runs = results["runs"]
    if runs:
        w("## Throughput: hostline / bare Starlette floor")
        w("")
        w("| scenario | bare req/s | hostline req/s | ratio | target | bare p50 / p99 ms | "
          "hostline p50 / p99 ms | errors bare / hostline | server CPU µs per request "
          "bare / hostline (ratio) |")
        w("| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |")
        for scenario, spec in SCENARIOS.items():
            b, h = best(runs, "bare", scenario), best(runs, "hostline", scenario)
            if not b or not h:
                continue
            ratio = h["rps"] / b["rps"] if b["rps"] else 0.0
            tgt = spec["target"]
            ok = None if tgt is None else ratio >= tgt
            tgt_cell = f">= {tgt:.2f}x {verdict(ok)}" if tgt is not None else "—"
            # Median CPU per request over the rounds: less sensitive than req/s
            # to other work on a shared machine.
            cpu_b = median([r["cpu_us"] for r in runs if r["app"] == "bare"
                            and r["scenario"] == scenario])
            cpu_h = median([r["cpu_us"] for r in runs if r["app"] == "hostline"
                            and r["scenario"] == scenario])
            if tgt is not None:
                targets.append((f"{spec['title']} >= {tgt:.2f}x bare", f"{ratio:.2f}x", ok))
            errs_b = sum(r["error_count"] for r in runs if r["app"] == "bare"
                         and r["scenario"] == scenario)
            errs_h = sum(r["error_count"] for r in runs if r["app"] == "hostline"
                         and r["scenario"] == scenario)
            w(f"| {spec['title']} | {b['rps']:,.0f} | {h['rps']:,.0f} | **{ratio:.2f}x** | "
              f"{tgt_cell} | "
              f"{ms(b['latency_us']['p50'])} / {ms(b['latency_us']['p99'])} | "
              f"{ms(h['latency_us']['p50'])} / {ms(h['latency_us']['p99'])} | "
              f"{errs_b} / {errs_h} | {cpu_b:,.0f} / {cpu_h:,.0f} "
              f"({cpu_b / cpu_h if cpu_h else 0:.2f}x) |")
        w("")
        w("Every round, per scenario (req/s; errors = non-2xx + socket errors):")
        w("")
        w("| round | scenario | app | req/s | p50 ms | p99 ms | errors | server CPU | "
          "CPU µs / req | load avg |")
        w("| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
        for r in runs:
            w(f"| {r['round'] + 1} | {SCENARIOS[r['scenario']]['title']} | {r['app']} | "
              f"{r['rps']:,.0f} | {ms(r['latency_us']['p50'])} | {ms(r['latency_us']['p99'])} | "
              f"{r['error_count']} | {r['cpu_pct']:.0f}% | {r['cpu_us']:,.0f} | "
              f"{r['loadavg']} |")
        w("")
    if results["telegram"]:
        w("## Telegram: every acked update answered")
        w("")
        w("After each hostline Telegram run the bench waits (bounded) until the fake Bot API "
          "has a reply for every update the server stored. *written*: updates the load "
          "generator started to send, including those in flight when it stopped; *acked*: "
          "2xx answers it received; *never stored*: written, not in the server's store, so "
          "never acked (cut off by the end of the load); *lost*: stored but never answered. "
          "Replies/s sustained = answered / (last reply - load start).")
        w("")
        w("| round | written | acked | answered | never stored | lost | duplicate replies | "
          "replies/s sustained | replies/s during load | drained after load |")
        w("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for i, t in enumerate(results["telegram"]):
            w(f"| {i + 1} | {t['written']:,} | {t['acked']:,} | {t['answered']:,} | "
              f"{t['never_stored']} | **{t['lost']}** | {t['duplicates']} | "
              f"{t['replies_per_s']:,.0f} | {t['replies_per_s_during_load']:,.0f} | "
              f"{t['drain_s']:.1f} s |")
        w("")
        lost_all = sum(t["lost"] for t in results["telegram"])
        worst = min(t["replies_per_s"] for t in results["telegram"])
        targets.append(("Telegram lost = 0", f"lost = {lost_all}", lost_all == 0))
        targets.append((f"Telegram >= {TARGET_REPLIES_PER_S:,.0f} replies/s sustained",
                        f"{worst:,.0f}/s (worst run)", worst >= TARGET_REPLIES_PER_S))
    if results["teams"]:
        w("## Teams: replies delivered to the fake connector")
        w("")
        w("| round | written | acked | reply messages | waited |")
        w("| ---: | ---: | ---: | ---: | ---: |")
        for i, t in enumerate(results["teams"]):
            w(f"| {i + 1} | {t['written']:,} | {t['acked']:,} | {t['replied']:,} | "
              f"{t['wait_s']:.1f} s |")
        w("")
    if results.get("slack"):
        w("## Slack: answers posted to the fake Web API")
        w("")
        w("| round | acked | answered | duplicates | lost | replies/s | waited |")
        w("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for i, t in enumerate(results["slack"]):
            w(f"| {i + 1} | {t['acked']:,} | {t['answered']:,} | {t['duplicates']:,} | "
              f"{t['lost']:,} | {t['replies_per_s']:,.0f} | {t['wait_s']:.1f} s |")
        w("")
        lost = sum(t["lost"] for t in results["slack"])
        targets.append(("Slack lost = 0", f"lost = {lost}", lost == 0))
    sm = results.get("slack_model")
    if sm:
        w("## Slack against the simulated model (1 s to the first token, then 2 s of "
          "streaming)")
        w("")
        w(f"{sm['chats']:,} DMs sent at once to a fresh server. Answers stream with "
          "chat.startStream / appendStream / stopStream while chat.startStream's Tier 2 budget "
          "(20 a minute per workspace) lasts; past it an answer is one chat.postMessage. "
          f"Calls: {sm['methods']}.")
        w("")
        w("| acked | answered | lost | acks/s | last answer after the last ack | "
          "Web API calls per answer | load avg |")
        w("| ---: | ---: | ---: | ---: | ---: | ---: | --- |")
        w(f"| {sm['acked']:,} | {sm['answered']:,} | {sm['lost']:,} | {sm['ack_rps']:,.0f} | "
          f"{sm['last_answer_after_last_ack_s']:.1f} s (ideal ~3 s) | "
          f"{sm['calls_per_answer']:.1f} | {sm['loadavg']} |")
        w("")
        targets.append(("Slack + simulated model lost = 0", f"lost = {sm['lost']}",
                        sm["lost"] == 0))
    mem = results.get("memory")
    if mem:
        rows = mem["rows"]
        rss0 = rows[0]["rss"]
        w("## Resident memory per session (Telegram chats, one new chat per update)")
        w("")
        w("A fresh hostline server; VmRSS of the serving process after every update was "
          "answered and the queue was empty.")
        w("")
        w("| chats | RSS MiB | growth MiB | bytes / chat since start | bytes / chat since "
          "previous |")
        w("| ---: | ---: | ---: | ---: | ---: |")
        prev = rows[0]
        for r in rows:
            if r["sessions"] == 0:
                w(f"| 0 | {r['rss'] / 2**20:.1f} | — | — | — |")
                continue
            per = (r["rss"] - rss0) / r["sessions"]
            inc = (r["rss"] - prev["rss"]) / (r["sessions"] - prev["sessions"])
            w(f"| {r['sessions']:,} | {r['rss'] / 2**20:.1f} | {(r['rss'] - rss0) / 2**20:.1f} "
              f"| {per:,.0f} | {inc:,.0f} |")
            prev = r
        w("")
        last = rows[-1]
        per = (last["rss"] - rss0) / last["sessions"]
        targets.append((f"<= {TARGET_BYTES_PER_SESSION:,} B resident per idle session",
                        f"{per:,.0f} B", per <= TARGET_BYTES_PER_SESSION))
        targets.append((f"RSS after {last['sessions']:,} chats within "
                        f"{TARGET_TELEGRAM_BYTES_PER_CHAT:,} B/chat of the start",
                        f"{per:,.0f} B/chat", per <= TARGET_TELEGRAM_BYTES_PER_CHAT))
        unanswered = sum(r["sent"] - r["answered"] for r in rows[1:])
        w(f"{sum(r['sent'] for r in rows[1:]):,} updates sent in {mem['seconds']:.0f} s, "
          f"{unanswered:,} unanswered, {sum(r['rejected'] for r in rows[1:]):,} answered "
          "429/503 and sent again.")
        w("")
    if results["outbox"]:
        w("## Outbox deliveries per second (SQLite)")
        w("")
        w("N pushes queued before start-up (1,000 destinations), drained by `hostline serve "
          "[--workers 2]` into a sink channel that only counts; first to last delivery.")
        w("")
        w("| workers | tasks | delivered | left in store | seconds | deliveries/s | "
          "per process |")
        w("| ---: | ---: | ---: | ---: | ---: | ---: | --- |")
        for o in results["outbox"]:
            w(f"| {o['workers']} | {o['tasks']:,} | {o['delivered']:,} | {o['left']} | "
              f"{o['seconds']:.2f} | **{o['per_s']:,.0f}** | {o['per_process']} |")
            targets.append((f"outbox >= {TARGET_OUTBOX_PER_S:,.0f} deliveries/s, "
                            f"{o['workers']} worker(s)", f"{o['per_s']:,.0f}/s",
                            o["per_s"] >= TARGET_OUTBOX_PER_S))
        w("")
    if results.get("agents"):
        out.extend(render_agents(results["agents"], targets))  # type: ignore[arg-type]
    if targets:
        w("## Targets")
        w("")
        w("| target | measured | |")
        w("| --- | ---: | --- |")
        for name, value, ok in targets:
            w(f"| {name} | {value} | {verdict(ok)} |")
        w("")
    if results["profiles"]:
        w("## Where hostline's CPU goes (py-spy)")
        w("")
        w("One extra, unrecorded run per scenario with py-spy attached to the hostline "
          "server (`--gil`: only the thread holding the GIL is sampled, so this is CPU "
          "spent in Python, by the innermost Python frame; time inside C calls such as "
          "SQLite or socket sends counts for the Python function that made the call). "
          "For Telegram and Teams the profile covers the ack path and the runs "
          "processed during the load.")
        w("")
        for scenario, p in results["profiles"].items():
            w(f"**{SCENARIOS[scenario]['title']}** ({p['samples']:,} samples)")
            w("")
            w("| package | CPU share |")
            w("| --- | ---: |")
            for name, share in p["packages"]:
                if share >= 1.0:
                    w(f"| {name} | {share:.0f}% |")
            w("")
            w("Top self time: " + "; ".join(f"`{n}` {v:.1f}%" for n, v in p["self"][:8]) +
              ".")
            w("")
            inclusive = [(n, v) for n, v in p["inclusive"] if not _WRAPPERS.search(n)]
            w("Most inclusive time in hostline code (middlewares left out): " +
              "; ".join(f"`{n}` {v:.0f}%" for n, v in inclusive[:8]) + ".")
            w("")
    if results.get("postgres"):
        from postgres import render as render_postgres

        w(render_postgres(results["postgres"]))
    return "\n".join(out) + "\n"


def update_benchmarks_md(table: str, results_file: Path) -> None:
    path = ROOT / "BENCHMARKS.md"
    start, end = "<!-- latest-results:start -->", "<!-- latest-results:end -->"
    if not path.exists():
        return
    text = path.read_text()
    if start not in text or end not in text:
        return
    body = table.split("\n", 2)[2].replace("\n## ", "\n### ")  # no page title; nested
    rel = results_file.relative_to(ROOT)
    new = f"{start}\nLatest run, from [{rel}]({rel}):\n\n{body.strip()}\n{end}"
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    path.write_text(head + new + tail)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a ~1 minute smoke run")
    parser.add_argument("--duration", type=float,
                        help="seconds per measured run (default 6, --quick 3)")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up per scenario and app")
    parser.add_argument("--rounds", type=int, help="measured rounds, best one reported")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--load", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help="comma-separated subset of " + ", ".join(SCENARIOS) + " ('' none)")
    parser.add_argument("--sessions", help="memory checkpoints, e.g. 10000,50000,100000 "
                                           "('' skips the memory phase)")
    parser.add_argument("--memory-batch", type=int, default=2000,
                        help="updates sent before waiting for their replies (memory phase)")
    parser.add_argument("--outbox-tasks", type=int, help="pushes per outbox run (0 skips)")
    parser.add_argument("--outbox-workers", default="1,2")
    parser.add_argument("--agent-replies", type=int,
                        help="updates per Telegram streaming-vs-plain run (0 skips; see "
                             "bench/agents.py)")
    parser.add_argument("--agent-rounds", type=int, help="streaming-vs-plain rounds")
    parser.add_argument("--agent-chats", type=int,
                        help="chats against the simulated model, Telegram and Teams (0 skips)")
    parser.add_argument("--drain-timeout", type=float, default=120.0,
                        help="longest wait for replies after a load stops, seconds")
    parser.add_argument("--log-level", help="hostline --log-level (default: hostline's)")
    parser.add_argument("--runners", type=int, default=1,
                        help="hostline serve --runners (processes for queued work; default 1)")
    parser.add_argument("--profile", action="store_true",
                        help="one extra py-spy-profiled run per scenario (needs py-spy)")
    parser.add_argument("--py-spy", help="path of the py-spy executable")
    parser.add_argument("--out", help="results file (default bench/results/<date>.md)")
    parser.add_argument("--no-save", action="store_true", help="print only")
    parser.add_argument("--render", metavar="JSON",
                        help="print the tables of a saved results .json and exit")
    parser.add_argument("--keep", action="store_true", help="keep the temporary state and logs")
    parser.add_argument("--postgres", action="store_true",
                        help="the PostgreSQL store beside SQLite (bench/postgres.py)")
    parser.add_argument("--pg-tasks", type=int, default=20000,
                        help="pushes per PostgreSQL outbox run (0 skips)")
    parser.add_argument("--pg-updates", type=int, default=5000,
                        help="Telegram updates per plain-target run (the slow target gets a "
                             "fifth; 0 skips)")
    args = parser.parse_args(argv)
    if args.render:
        print(render(json.loads(Path(args.render).read_text())))
        return 0
    q = args.quick
    args.duration = args.duration or (3.0 if q else 6.0)
    args.warmup = args.warmup if args.warmup is not None else (1.0 if q else 2.0)
    args.rounds = args.rounds or (1 if q else 2)
    if args.sessions is None:
        args.sessions = "1000,2000,5000" if q else "10000,50000,100000"
    args.sessions = [int(x) for x in args.sessions.split(",") if x.strip()]
    if args.outbox_tasks is None:
        args.outbox_tasks = 3000 if q else 20000
    args.outbox_workers = [int(x) for x in args.outbox_workers.split(",") if x.strip()]
    if args.agent_replies is None:
        args.agent_replies = 1000 if q else 3000
    args.agent_rounds = args.agent_rounds or (1 if q else 2)
    if args.agent_chats is None:
        args.agent_chats = 500 if q else 2000
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    if not sys.platform.startswith("linux"):
        parser.error("the bench reads /proc: Linux only")
    results = Bench(args).run()
    table = render(results)
    print(table)
    if not args.no_save:
        out = Path(args.out) if args.out else BENCH / "results" / f"{results['machine']['date']}.md"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(table)
        (out.with_suffix(".json")).write_text(json.dumps(results, indent=1, default=str))
        log(f"results written to {out}")
        if not args.quick and out.resolve().parent == (BENCH / "results").resolve():
            update_benchmarks_md(table, out.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
