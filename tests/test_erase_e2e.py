"""Erase a linked person with the real ``hostline`` command, then look at every table.

A host with the Telegram and Teams plugins (their local fakes as the services)
links one person across both; the host stops, pushes to that person and to
someone else are queued, ``hostline sessions erase`` runs, and the host starts
again on the same state dir.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from test_linking_e2e import config, send_tg, teams_texts, until

from hostline import Destination, Message
from hostline.operator import audit_key, subject_hash
from hostline.store import Erasure
from hostline.testing import make_host, run_host
from hostline_teams.testing import FakeBotFramework
from hostline_telegram.testing import FakeBotAPI

ANN = 9990001112      # the person erased
BOB = 8880002223      # someone else


def hostline(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hostline", *args, "--config", str(cfg)],
                          capture_output=True, text=True, timeout=60, cwd=cfg.parent)


def rows(db_path: Path) -> list[tuple[str, str]]:
    db = sqlite3.connect(db_path)
    try:
        tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return [(t, repr(r)) for t in tables for r in db.execute(f"SELECT * FROM {t}")]
    finally:
        db.close()


async def test_erase_removes_a_linked_person_everywhere(tmp_path: Path) -> None:
    with FakeBotAPI() as tg, FakeBotFramework() as bf:
        host = make_host(tmp_path, config(tg, bf))
        cfg = tmp_path / "hostline.toml"
        async with run_host(host) as (host, client):
            await send_tg(client, "/link", uid=ANN)
            reply = await until(lambda: [t for t in tg.texts(ANN) if "/link " in t])
            code = re.search(r"/link (\w+)", reply[-1]).group(1)  # type: ignore[union-attr]
            await bf.post(client, bf.message(f"/link {code}"))
            await until(lambda: any("Linked" in t for t in teams_texts(bf)))
            await send_tg(client, "my secret plan", uid=ANN)
            await send_tg(client, "bob was here", uid=BOB)
            await bf.post(client, bf.message("hello from teams"))
            await until(lambda: "my secret plan" in tg.texts(ANN)
                        and "bob was here" in tg.texts(BOB)
                        and "hello from teams" in teams_texts(bf))
            teams_key = next(k for k, *_ in await host.store.links_list()
                             if k.startswith("teams:"))
        # Queued while no process delivers: one push to each person.
        assert hostline(cfg, "push", "--channel", "telegram", "--to", str(ANN),
                        "for ann").returncode == 0
        assert hostline(cfg, "push", "--channel", "telegram", "--to", str(BOB),
                        "for bob").returncode == 0
        shown = hostline(cfg, "sessions", "show", "--identity", f"telegram:{ANN}", "--json")
        assert shown.returncode == 0, shown.stderr
        view = json.loads(shown.stdout)
        assert {i["channel"] for i in view["identities"]} == {"telegram", "teams"}
        texts = [p["text"] for s in view["sessions"] for m in s["history"]
                 for p in m["content"] if p.get("type") == "text"]
        assert "my secret plan" in texts and "hello from teams" in texts

        before = time.time()
        done = hostline(cfg, "sessions", "erase", "--identity", f"telegram:{ANN}", "--yes")
        assert done.returncode == 0, done.stderr
        assert "erased" in done.stdout
        again = hostline(cfg, "sessions", "erase", "--identity", f"telegram:{ANN}", "--yes")
        assert again.returncode == 0 and "nothing stored" in again.stdout   # idempotent

        db = tmp_path / "state" / "hostline.sqlite3"
        erasure = Erasure.of([f"telegram:{ANN}", teams_key])
        native_teams = teams_key.partition(":")[2]
        found = rows(db)
        for table, row in found:
            assert not erasure.mentions(row), (table, row)
            assert native_teams not in row and "my secret plan" not in row, (table, row)
        assert any(str(BOB) in row for _, row in found)   # Bob's data stays

        # The audit log: who, what, when; the person only as a keyed hash.
        audit = [(t, r) for t, r in found if t == "audit"]
        assert len(audit) >= 3   # show, erase, erase again
        store_host = make_host(tmp_path, config(tg, bf))
        key = audit_key(store_host.config)
        expected = subject_hash(key, [f"telegram:{ANN}", teams_key])
        await store_host.store.open()
        try:
            entries = [e for e in await store_host.store.audit_list() if e.action == "erase"]
        finally:
            await store_host.store.close()
        first = entries[-1]
        assert first.subject == expected
        assert first.actor.startswith("cli:")
        assert before <= first.at <= time.time()
        assert first.detail["removed"]["tasks"] >= 1 and first.detail["removed"]["links"] == 2
        assert sum(entries[0].detail["removed"].values()) == 0

        # Started again: Bob's push goes out, Ann's never does.
        async with run_host(make_host(tmp_path, config(tg, bf))) as (host, _):
            await until(lambda: "for bob" in tg.texts(BOB))
            await host.push(Message.assistant("late"), to=Destination("telegram", str(BOB)))
            await until(lambda: "late" in tg.texts(BOB))
            await asyncio.sleep(0.2)
        assert "for ann" not in tg.texts(ANN)


def test_links_and_outbox_commands(tmp_path: Path, capsys: Any) -> None:
    """The same commands through ``hostline.cli.main`` in this process (quicker)."""
    from hostline.cli import main

    host = make_host(tmp_path, "[channels.responses]\n")
    cfg = tmp_path / "hostline.toml"

    def hostline(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
        code = main([*args, "--config", str(cfg)])
        out = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out.out, out.err)

    async def seed() -> list[int]:
        await host.store.open()
        try:
            await host.store.link("telegram:1001", "u", {"channel": "telegram",
                                                         "native_id": "1001"})
            await host.store.link("teams:29:x", "u", {"channel": "teams", "native_id": "29:x"})
            ids = [await host.store.enqueue("push", {"n": i}, key=f"k{i}") for i in range(3)]
            for t in await host.store.claim("w", 3, 30):
                await host.store.reschedule(t.id, "w", "boom", None)
            return [i for i in ids if i is not None]
        finally:
            await host.store.close()

    ids = asyncio.run(seed())
    listed = hostline(cfg, "links", "list", "--json")
    assert [r["identity"] for r in json.loads(listed.stdout)] == ["teams:29:x", "telegram:1001"]
    assert hostline(cfg, "links", "revoke", "--identity", "teams:29:x").returncode == 0
    assert hostline(cfg, "links", "revoke", "--identity", "teams:29:x").returncode == 1
    assert "teams:29:x" not in hostline(cfg, "links").stdout
    bad = hostline(cfg, "links", "revoke", "--identity", "nocolon")
    assert bad.returncode == 2 and "CHANNEL:ID" in bad.stderr

    out = hostline(cfg, "outbox", "replay", str(ids[0]))
    assert out.returncode == 0 and "queued again 1 task" in out.stdout
    assert "no dead task matches" in hostline(cfg, "outbox", "purge", "--older-than", "1h",
                                              "--yes").stdout
    refused = hostline(cfg, "outbox", "purge")
    assert refused.returncode == 2 and "--yes" in refused.stderr
    out = hostline(cfg, "outbox", "purge", "--yes")
    assert "purged 2 task" in out.stdout
    stats = json.loads(hostline(cfg, "stats", "--json").stdout)
    assert stats["queue"] == 1 and stats["dead_letters"] == 0 and stats["links"] == 1
    assert hostline(cfg, "outbox", "purge", "--state", "pending", "--yes").returncode == 0
    assert json.loads(hostline(cfg, "stats", "--json").stdout)["queue"] == 0
    db = sqlite3.connect(tmp_path / "state" / "hostline.sqlite3")
    actions = [a for (a,) in db.execute("SELECT action FROM audit ORDER BY id")]
    db.close()
    assert actions == ["revoke-link", "revoke-link", "outbox-replay", "outbox-purge",
                       "outbox-purge"]
