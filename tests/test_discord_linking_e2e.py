"""One person on Telegram and Discord: link with a code, then reach both.

A real host (in-process, ASGI) with both channel plugins; the Bot API and
Discord are their local fakes; interactions are Ed25519-signed like Discord's.
"""

from __future__ import annotations

import datetime
import itertools
import re
from typing import Any

import pytest
from telegram import Chat, Message, Update, User

import hostline
from hostline_discord.testing import FakeDiscordAPI
from hostline_telegram.testing import FakeBotAPI

SECRET = "e2e-Secret_token"
NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
_ids = itertools.count(1)


def tg_update(text: str, uid: int = 111) -> dict[str, Any]:
    n = next(_ids)
    return Update(n, message=Message(n, NOW, Chat(uid, "private", first_name="Ann"),
                                     from_user=User(uid, "Ann", False, username="ann"),
                                     text=text)).to_dict()


@pytest.fixture
def fakes() -> Any:
    with FakeBotAPI() as tg, FakeDiscordAPI() as dc:
        yield tg, dc


def config(tg: FakeBotAPI, dc: FakeDiscordAPI, discord_extra: str = "") -> str:
    return ("[host]\nshutdown_grace = 2\n[host.outbox]\npoll_interval = 0.05\n"
            "backoff_initial = 0.05\n\n"
            f'[channels.telegram]\ntoken = "{tg.token}"\nsecret_token = "{SECRET}"\n'
            f'api_base = "{tg.url}"\n\n' + dc.config_toml() + discord_extra)


async def send_tg(client: Any, text: str) -> None:
    r = await client.post("/telegram/webhook", json=tg_update(text),
                          headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
    assert r.status_code == 200


async def test_link_discord_with_telegram(hostline_app: Any, fakes: Any) -> None:
    tg, dc = fakes
    async with hostline_app(config(tg, dc, 'response_target = "all_linked"\n')) as (host,
                                                                                    client):
        # Discord asks for a code (the answer is private to the person)...
        start = dc.command("link", user_id="4200")
        assert (await dc.adeliver(client, start)).json() == {"type": 5, "data": {"flags": 64}}
        (text,) = await dc.until(lambda: dc.texts(interaction_id=start["id"]))
        assert dc.messages(interaction_id=start["id"])[0].ephemeral
        code = re.search(r"/link (\w+)", text).group(1)  # type: ignore[union-attr]
        # ...and the same person sends it from Telegram.
        await send_tg(client, f"/link {code}")
        await tg.until(lambda: any("Linked with your discord account" in t
                                   for t in tg.texts(111)))
        # Telegram has talked since; a Discord question now reaches both.
        await send_tg(client, "hello from telegram")
        await tg.until(lambda: "hello from telegram" in tg.texts(111))
        asked = dc.command("ask", user_id="4200", text="deploy finished?")
        await dc.adeliver(client, asked)
        await dc.until(lambda: dc.texts(interaction_id=asked["id"]) == ["deploy finished?"])
        await tg.until(lambda: "deploy finished?" in tg.texts(111))
        # A push to the linked person reaches the Discord DM too.
        await host.push("report ready", to=hostline.ResponseTarget.all_linked(),
                        identity=hostline.Identity("telegram", "111"))
        await tg.until(lambda: "report ready" in tg.texts(111))
        await dc.until(lambda: dc.dm_channel_of("4200")
                       and "report ready" in dc.texts(dc.dm_channel_of("4200")))


async def test_link_code_from_telegram_redeemed_on_discord(hostline_app: Any,
                                                           fakes: Any) -> None:
    tg, dc = fakes
    async with hostline_app(config(tg, dc)) as (host, client):
        await send_tg(client, "/link")
        reply = await tg.until(lambda: [t for t in tg.texts(111) if "/link " in t])
        code = re.search(r"/link (\w+)", reply[-1]).group(1)  # type: ignore[union-attr]
        redeem = dc.command("link", user_id="4300", code=code)
        await dc.adeliver(client, redeem)
        (text,) = await dc.until(lambda: dc.texts(interaction_id=redeem["id"]))
        assert "Linked with your telegram account" in text
        user, identities = await host.store.linked("discord:4300")
        assert user is not None and len(identities) == 2
