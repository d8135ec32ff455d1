"""Agent scenarios of ``nox -s bench``: targets that stream and wait like models.

Each beside its reference, in the same run:

* **Telegram, instant streaming vs plain.** N updates from N new chats to a
  server whose target streams its reply in four deltas without waiting,
  and the same to a server whose target returns that reply at once:
  replies/s of each, their ratio, and Bot API calls per reply.
* **2,000 chats against the simulated model** (``hostline.testing``: 1 s to
  the first token, then 2 s of streaming), on Telegram and on Teams, one
  message per chat: seconds from the last acked update until every chat
  has its whole answer, against the model's own 3 s.
* **Memory per conversation in flight**, sampled during the Telegram run of
  the simulated model: the resident set at its peak (2,000 conversations in
  flight), 1 s after they finished, and once the idle runner handed over to
  a fresh process (``runner_recycle_mib``), against the start.

The Telegram channel runs with ``bot_rate = 0``: the fake Bot API does not
limit the bot as a whole, and at Telegram's default 30 messages/s 2,000
chats would take a minute whatever the host does.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

SIM_OPTIONS = {"first_token": 1.0, "tokens_per_second": 10.0, "reply_tokens": 20,
               "chunk_tokens": 1}
#: The simulated model's own time per answer (first token, then the stream).
SIM_SECONDS = SIM_OPTIONS["first_token"] + SIM_OPTIONS["reply_tokens"] / \
    SIM_OPTIONS["tokens_per_second"]
TARGET_STREAM_RATIO = 0.8
TARGET_CALLS_PER_REPLY = 1.1
TARGET_ANSWERED_WITHIN_S = 6.0
TARGET_BYTES_IN_FLIGHT = 20 * 1024
TARGET_BYTES_AFTER = 1024
#: ``[host] runner_recycle_mib`` of the simulated-model server: the burst of
#: 2,000 conversations grows the runner by about 30 MiB, a warm-up by a few.
RECYCLE_MIB = 16

_TELEGRAM_METHODS = ("sendMessage", "editMessageText", "sendChatAction", "deleteMessage")


def _runner() -> Any:
    import run  # bench/run.py (imported lazily: it imports this module)

    return run


def _config(bench: Any, name: str, target: str, options: dict[str, Any] | None,
            host: str = "") -> tuple[Path, int]:
    root = bench.tmp / name
    state = root / "state"
    state.mkdir(parents=True)
    port = _runner().free_port()
    text = f'[host]\ntarget = "{target}"\nstate_dir = "{state}"\n' \
           f'public_url = "http://127.0.0.1:{port}"\n{host}'
    if options:
        text += "\n[host.target_options]\n" + "".join(f"{k} = {v!r}\n"
                                                      for k, v in options.items())
    text += f"""
[channels.telegram]
token = "{bench.tg.token}"
secret_token = "{_runner().SECRET}"
api_base = "{bench.tg.url}"
bot_rate = 0

""" + bench.bf.config_toml()
    path = root / "hostline.toml"
    path.write_text(text)
    return path, port


def _start(bench: Any, name: str, target: str, options: dict[str, Any] | None = None,
           host: str = "") -> Any:
    run = _runner()
    config, port = _config(bench, name, target, options, host)
    cmd = [run.PY, "-m", "hostline", "serve", "--config", str(config),
           "--bind", f"127.0.0.1:{port}", "--runners", str(bench.args.runners)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(run.BENCH), *filter(None, [os.environ.get("PYTHONPATH")])])}
    server = run.Server(name, cmd, port, bench.tmp / name / "server.log", env=env)
    bench.servers.append(server.start())
    return server


def _stop(bench: Any, server: Any) -> None:
    server.stop()
    bench.servers.remove(server)


class _RSSSampler:
    """Samples a server's resident set in a thread; keeps the peak."""

    def __init__(self, server: Any, every: float = 0.1) -> None:
        self.server, self.every, self.peak = server, every, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.server.rss())
            except (OSError, RuntimeError):
                pass
            self._stop.wait(self.every)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def _telegram_round(bench: Any, server: Any, n: int, chat_base: int,
                    complete: Any) -> dict[str, Any]:
    """Send ``n`` updates from ``n`` new chats; wait until each chat has a call
    carrying its whole answer (``complete(uid, text)``)."""
    run = _runner()
    tg = bench.tg
    calls0 = len(tg.calls())
    load = run.Load("python", bench.args.connections, 1, bench.load_env())
    load.next_base = chat_base * 10
    t0 = time.monotonic()
    res = load.run("telegram", server.url, count=n, unique_chats=True,
                   extra_env={"BENCH_CHAT_BASE": str(chat_base)})
    acked_at = time.monotonic()
    uids = run.written_ids(res)
    answered: dict[int, float] = {}
    deadline = time.monotonic() + bench.args.drain_timeout
    seen = calls0
    while time.monotonic() < deadline and len(answered) < len(uids):
        calls = tg.calls()
        for call in calls[seen:]:
            if call.status != 200 or call.method not in ("sendMessage", "editMessageText"):
                continue
            text = str(call.params.get("text", ""))
            head = text.split(":", 1)[0]
            if head[:1] == "u" and head[1:].isdigit():
                uid = int(head[1:])
                if uid in uids and uid not in answered and complete(uid, text):
                    answered[uid] = call.at
        seen = len(calls)
        time.sleep(0.05)
    calls = [c for c in tg.calls()[calls0:] if c.method in _TELEGRAM_METHODS]
    methods = {m: sum(1 for c in calls if c.method == m) for m in _TELEGRAM_METHODS}
    last = max(answered.values(), default=acked_at)
    return {"sent": len(uids), "acked": res["ok"], "answered": len(answered),
            "seconds": last - t0, "replies_per_s": len(answered) / (last - t0),
            "after_last_ack_s": max(0.0, last - acked_at), "ack_s": acked_at - t0,
            "calls": len(calls), "calls_per_reply": len(calls) / max(1, len(answered)),
            "methods": methods}


def _teams_round(bench: Any, server: Any, n: int, base: int) -> dict[str, Any]:
    """Send ``n`` activities from ``n`` new personal chats; wait for ``n`` final messages."""
    run = _runner()
    connector = bench.bf.connector
    with connector.lock:
        received0 = len(connector.received)
    load = run.Load("python", bench.args.connections, 1, bench.load_env())
    load.next_base = base
    t0 = time.monotonic()
    res = load.run("teams", server.url, count=n, unique_chats=True)
    acked_at = time.monotonic()

    def finals() -> tuple[int, int]:
        with connector.lock:
            items = connector.received[received0:]
        return sum(1 for r in items if r.type == "message"), len(items)

    deadline = time.monotonic() + bench.args.drain_timeout
    done, total = finals()
    while time.monotonic() < deadline and done < res["ok"]:
        time.sleep(0.05)
        done, total = finals()
    last = time.monotonic()
    return {"sent": n, "acked": res["ok"], "answered": done, "seconds": last - t0,
            "after_last_ack_s": max(0.0, last - acked_at), "ack_s": acked_at - t0,
            "calls": total, "calls_per_reply": total / max(1, done)}


def run_agents(bench: Any) -> dict[str, Any]:
    """All agent scenarios; results for :func:`render_agents`."""
    from agent_targets import reply_for

    from hostline import Message, RunRequest
    from hostline.testing import SimulatedModel

    run = _runner()
    a = bench.args
    out: dict[str, Any] = {"stream": [], "sim": {}, "memory": None, "loadavg": []}
    n = a.agent_replies

    # 1. Telegram: instant streaming target beside the plain one.
    def whole(uid: int, text: str) -> bool:
        return text == reply_for(f"u{uid}")

    for rnd in range(a.agent_rounds if n else 0):
        pair = [("plain", "agent_targets:plain"), ("stream", "agent_targets:instant_stream")]
        if rnd % 2:
            pair.reverse()
        row: dict[str, Any] = {"loadavg": run.loadavg()}
        for label, target in pair:
            server = _start(bench, f"agents-{label}-{rnd}", target)
            _telegram_round(bench, server, 200, 3_000_000 + rnd * 100_000, whole)  # warm-up
            row[label] = _telegram_round(bench, server, n, 3_010_000 + rnd * 100_000, whole)
            _stop(bench, server)
            r = row[label]
            run.log(f"agents: telegram {label:6} {r['replies_per_s']:7.0f} replies/s, "
                    f"{r['calls_per_reply']:.2f} calls/reply, {r['answered']}/{r['sent']} "
                    f"answered, load {row['loadavg']}")
        out["stream"].append(row)

    # 2. The simulated model, 2,000 chats, Telegram and Teams; memory from the Telegram run.
    model = SimulatedModel(**SIM_OPTIONS)  # type: ignore[arg-type]

    def sim_whole(uid: int, text: str) -> bool:
        request = RunRequest(input=(Message.user(f"u{uid}"),))
        return text == "".join(model._chunks(request))

    chats = a.agent_chats
    if not chats:
        return out
    server = _start(bench, "agents-sim", "hostline.testing:simulated_model", SIM_OPTIONS,
                    f"runner_recycle_mib = {RECYCLE_MIB}\n")
    _telegram_round(bench, server, 200, 5_000_000, sim_whole)  # warm-up
    time.sleep(1.0)
    rss0 = server.rss()
    pids0 = server.tree()
    sampler = _RSSSampler(server)
    la = run.loadavg()
    tg = _telegram_round(bench, server, chats, 5_100_000, sim_whole)
    peak = sampler.stop()
    time.sleep(1.0)
    rss_kept = server.rss()
    # The idle runner, grown past runner_recycle_mib, hands over to a fresh one.
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline and ((tree := server.tree()) == pids0 or len(tree) < 2):
        time.sleep(0.1)
    time.sleep(2.0)  # the new runner's start-up
    rss_after = server.rss()
    tg["loadavg"] = la
    out["sim"]["telegram"] = tg
    out["memory"] = {"chats": chats, "start": rss0, "peak": peak, "kept": rss_kept,
                     "after": rss_after, "recycled": server.tree() != pids0}
    run.log(f"agents: telegram sim {chats} chats: all answered {tg['after_last_ack_s']:.1f} s "
            f"after the last ack ({tg['answered']}/{tg['sent']}), "
            f"{tg['calls_per_reply']:.2f} calls/reply; RSS start {rss0 / 2**20:.1f} MiB, "
            f"peak {peak / 2**20:.1f}, 1 s after {rss_kept / 2**20:.1f}, after the handover "
            f"{rss_after / 2**20:.1f}; load {la}")
    la = run.loadavg()
    _teams_round(bench, server, 200, 7_000_000)  # warm-up
    tm = _teams_round(bench, server, chats, 7_100_000)
    tm["loadavg"] = la
    out["sim"]["teams"] = tm
    run.log(f"agents: teams sim {chats} chats: all answered {tm['after_last_ack_s']:.1f} s "
            f"after the last ack ({tm['answered']}/{tm['sent']}), "
            f"{tm['calls_per_reply']:.2f} calls/reply; load {la}")
    _stop(bench, server)
    return out


def render_agents(res: dict[str, Any], targets: list[tuple[str, str, bool]]) -> list[str]:
    """Markdown sections for the agent scenarios; appends to ``targets``."""
    w: list[str] = []
    rows = res.get("stream") or []
    if rows:
        w += ["## Telegram: an instant streaming target beside the plain one", "",
              "N new chats, one update each, to a server whose target streams its reply in "
              "four deltas without waiting, and to one whose target returns the same reply; "
              "replies/s from the first update to the last whole answer.", "",
              "| round | plain replies/s | streaming replies/s | ratio | calls/reply plain | "
              "calls/reply streaming | load |",
              "| ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
        best = 0.0
        worst_calls = 0.0
        for i, r in enumerate(rows):
            p, s = r["plain"], r["stream"]
            ratio = s["replies_per_s"] / p["replies_per_s"] if p["replies_per_s"] else 0.0
            best = max(best, ratio)
            worst_calls = max(worst_calls, s["calls_per_reply"])
            w.append(f"| {i + 1} | {p['replies_per_s']:,.0f} | {s['replies_per_s']:,.0f} | "
                     f"**{ratio:.2f}x** | {p['calls_per_reply']:.2f} | "
                     f"{s['calls_per_reply']:.2f} | {r['loadavg']} |")
        w.append("")
        targets.append((f"Telegram instant streaming >= {TARGET_STREAM_RATIO}x plain",
                        f"{best:.2f}x (best round)", best >= TARGET_STREAM_RATIO))
        targets.append((f"Telegram streamed reply <= {TARGET_CALLS_PER_REPLY} Bot API calls",
                        f"{worst_calls:.2f} (worst round)",
                        worst_calls <= TARGET_CALLS_PER_REPLY))
    sim = res.get("sim") or {}
    if sim:
        opts = ", ".join(f"{k} = {v}" for k, v in SIM_OPTIONS.items())
        n_sim = max(r["sent"] for r in sim.values())
        w += [f"## The simulated model: {n_sim:,} chats, one message each", "",
              f"`hostline.testing:simulated_model` ({opts}): the model alone takes "
              f"{SIM_SECONDS:.0f} s per answer. Seconds from the last acked update until "
              "every chat had its whole answer, by one runner process.", "",
              "| channel | chats | acked | answered | acks took | answered after last ack | "
              "model floor | calls/reply | load |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
        for name, r in sim.items():
            w.append(f"| {name} | {r['sent']:,} | {r['acked']:,} | {r['answered']:,} | "
                     f"{r['ack_s']:.1f} s | **{r['after_last_ack_s']:.1f} s** | "
                     f"{SIM_SECONDS:.0f} s | {r['calls_per_reply']:.2f} | {r['loadavg']} |")
            ok = r["answered"] >= r["acked"] and r["after_last_ack_s"] <= \
                TARGET_ANSWERED_WITHIN_S
            targets.append((f"{name}: {r['sent']:,} chats answered within "
                            f"{TARGET_ANSWERED_WITHIN_S:.0f} s of the last ack",
                            f"{r['after_last_ack_s']:.1f} s ({r['answered']:,}/{r['acked']:,})",
                            ok))
        w.append("")
    mem = res.get("memory")
    if mem and "kept" in mem:
        n = mem["chats"]
        in_flight = (mem["peak"] - mem["start"]) / n
        kept = (mem["kept"] - mem["start"]) / n
        after = (mem["after"] - mem["start"]) / n
        w += ["## Memory per conversation in flight", "",
              f"Resident set of the server and its runner (VmRSS) before {n:,} chats, at its "
              "peak while they were in flight (the Telegram run above), 1 s after the last "
              "answer, and once the idle runner handed over to a fresh process "
              f"(`runner_recycle_mib = {RECYCLE_MIB}`). CPython keeps the memory a burst "
              "used: freed objects leave their arenas pinned by a few survivors, so the "
              "process that ran the burst stays near its high-water mark.", "",
              "| start MiB | peak MiB | 1 s after MiB | after the handover MiB | "
              "B per conversation in flight | B per chat, same process | "
              "B per chat after |",
              "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
              f"| {mem['start'] / 2**20:.1f} | {mem['peak'] / 2**20:.1f} | "
              f"{mem['kept'] / 2**20:.1f} | {mem['after'] / 2**20:.1f} | "
              f"**{in_flight:,.0f}** | {kept:,.0f} | **{after:,.0f}** |", ""]
        if not mem.get("recycled"):
            w += ["The runner did not hand over within 30 s.", ""]
        targets.append((f"<= {TARGET_BYTES_IN_FLIGHT // 1024} KB RSS per conversation in flight",
                        f"{in_flight:,.0f} B", in_flight <= TARGET_BYTES_IN_FLIGHT))
        targets.append((f"RSS after within {TARGET_BYTES_AFTER:,} B per chat of the start",
                        f"{after:,.0f} B", after <= TARGET_BYTES_AFTER))
    return w
