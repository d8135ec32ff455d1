"""One person on Telegram and Teams: link with a code, then reach both.

A real host (in-process, ASGI) with both channel plugins, the Telegram Bot API
and the Bot Framework replaced by their local fakes; updates built with
python-telegram-bot, activities signed with RS256 like the Bot Connector does.
"""

from __future__ import annotations

import asyncio
import datetime
import itertools
import re
from collections.abc import Callable
from typing import Any

import pytest
from telegram import Chat, Message, Update, User

from hostline_teams.testing import FakeBotFramework
from hostline_telegram.testing import FakeBotAPI

SECRET = "e2e-Secret_token"
NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
_ids = itertools.count(1)


def tg_update(text: str, uid: int = 111) -> dict[str, Any]:
    n = next(_ids)
    return Update(n, message=Message(n, NOW, Chat(uid, "private", first_name="Ann"),
                                     from_user=User(uid, "Ann", False, username="ann"),
                                     text=text)).to_dict()


def config(tg: FakeBotAPI, bf: FakeBotFramework, teams_extra: str = "",
           telegram_extra: str = "") -> str:
    return (
        "[host]\nshutdown_grace = 2\n[host.outbox]\npoll_interval = 0.05\n"
        "backoff_initial = 0.05\n\n"
        f'[channels.telegram]\ntoken = "{tg.token}"\nsecret_token = "{SECRET}"\n'
        f'api_base = "{tg.url}"\n{telegram_extra}\n'
        + bf.config_toml(stream_interval=0.0, typing_interval=0.05) + teams_extra)


async def until(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.02)


@pytest.fixture
def fakes() -> Any:
    with FakeBotAPI() as tg, FakeBotFramework() as bf:
        yield tg, bf


async def send_tg(client: Any, text: str, uid: int = 111) -> None:
    r = await client.post("/telegram/webhook", json=tg_update(text, uid),
                          headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
    assert r.status_code == 200


def teams_texts(bf: FakeBotFramework) -> list[str]:
    return [a.text or "" for a in bf.connector.activities() if a.type == "message"]


async def test_link_then_all_linked_reaches_both(hostline_app: Any, fakes: Any) -> None:
    tg, bf = fakes
    cfg = config(tg, bf, teams_extra='response_target = "all_linked"\n')
    async with hostline_app(cfg) as (host, client):
        # Telegram asks for a code...
        await send_tg(client, "/link")
        reply = await until(lambda: [t for t in tg.texts(111) if "/link " in t])
        code = re.search(r"/link (\w+)", reply[-1]).group(1)  # type: ignore[union-attr]
        # ...and the same person sends it from Teams.
        r = await bf.post(client, bf.message(f"/link {code}"))
        assert r.status_code in (200, 202)
        await until(lambda: any("Linked with your telegram account" in t
                                for t in teams_texts(bf)))
        # Both sides have talked, so both have a conversation reference; a Teams
        # message now goes to Teams (the reply) and to Telegram (a push).
        await send_tg(client, "hello from telegram")
        await until(lambda: "hello from telegram" in tg.texts(111))
        r = await bf.post(client, bf.message("deploy finished?"))
        assert r.status_code in (200, 202)
        await until(lambda: "deploy finished?" in teams_texts(bf))
        await until(lambda: "deploy finished?" in tg.texts(111))
        # A proactive push to the linked person reaches both channels too.
        import hostline

        await host.push("report ready", to=hostline.ResponseTarget.all_linked(),
                        identity=hostline.Identity("telegram", "111"))
        await until(lambda: "report ready" in tg.texts(111))
        await until(lambda: "report ready" in teams_texts(bf))


async def test_expired_or_reused_codes_fail(hostline_app: Any, fakes: Any) -> None:
    tg, bf = fakes
    async with hostline_app(config(tg, bf)) as (_, client):
        await send_tg(client, "/link")
        reply = await until(lambda: [t for t in tg.texts(111) if "/link " in t])
        code = re.search(r"/link (\w+)", reply[-1]).group(1)  # type: ignore[union-attr]
        await bf.post(client, bf.message(f"/link {code}"))
        await until(lambda: any("Linked" in t for t in teams_texts(bf)))
        await bf.post(client, bf.message(f"/link {code}", user_id="29:someone-else",
                                         aad_object_id="aad-else",
                                         conversation_id="a:personal-2"))
        await until(lambda: any("invalid or has expired" in t for t in teams_texts(bf)))


async def test_linked_claim_admits_a_telegram_user(hostline_app: Any, fakes: Any) -> None:
    """Telegram is open only to people linked to a Teams account of tenant-1."""
    from e2e_targets import CALLS as calls

    tg, bf = fakes
    calls.clear()
    allow = '[channels.telegram.allow]\nlinked_claims = { tenant_id = ["tenant-1"] }\n'
    cfg = config(tg, bf).replace("[channels.teams]", allow + "\n[channels.teams]", 1)
    cfg = cfg.replace("[host]\n", '[host]\ntarget = "e2e_targets:recording"\n', 1)
    async with hostline_app(cfg) as (_, client):
        await send_tg(client, "secret question")
        prompt = await until(lambda: [t for t in tg.texts(111) if "link" in t.lower()])
        assert "/link" in prompt[-1]
        assert calls == []  # the denied message never reached the target
        # Teams (tenant-1) asks for a code; Telegram redeems it.
        await bf.post(client, bf.message("/link"))
        text = await until(lambda: [t for t in teams_texts(bf) if "/link " in t])
        code = re.search(r"/link (\w+)", text[-1]).group(1)  # type: ignore[union-attr]
        await send_tg(client, f"/link {code}")
        await until(lambda: any("Linked with your teams account" in t for t in tg.texts(111)))
        await send_tg(client, "now allowed?")
        await until(lambda: "now allowed?" in tg.texts(111))
        assert calls and calls[-1] == "now allowed?"
