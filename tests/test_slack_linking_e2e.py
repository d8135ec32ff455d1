"""One person on Slack and Telegram: link with a code, then an ``all_linked``
answer reaches both. A real host with both channel plugins; the Slack Web API
and the Telegram Bot API are their local fakes; Slack events are signed with
the official slack_sdk and Telegram updates built with python-telegram-bot."""

from __future__ import annotations

import asyncio
import datetime
import itertools
import json
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from slack_sdk.signature import SignatureVerifier
from telegram import Chat, Message, Update, User

import hostline
from hostline_slack.testing import SIGNING_SECRET, FakeSlackAPI, event_envelope, message_event
from hostline_telegram.testing import FakeBotAPI

TG_SECRET = "e2e-Secret_token"
NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
_ids = itertools.count(500)


def tg_update(text: str, uid: int = 222) -> dict[str, Any]:
    n = next(_ids)
    return Update(n, message=Message(n, NOW, Chat(uid, "private", first_name="Bo"),
                                     from_user=User(uid, "Bo", False, username="bo"),
                                     text=text)).to_dict()


async def until(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.02)


async def send_slack(client: Any, text: str, channel: str = "D0LINK1") -> None:
    body = json.dumps(event_envelope(message_event(text, user="U0BO", channel=channel))).encode()
    stamp = str(int(time.time()))
    headers = {"content-type": "application/json", "x-slack-request-timestamp": stamp,
               "x-slack-signature": SignatureVerifier(SIGNING_SECRET).generate_signature(
                   timestamp=stamp, body=body)}
    r = await client.post("/slack/events", content=body, headers=headers)
    assert r.status_code == 200


async def send_tg(client: Any, text: str) -> None:
    r = await client.post("/telegram/webhook", json=tg_update(text),
                          headers={"X-Telegram-Bot-Api-Secret-Token": TG_SECRET})
    assert r.status_code == 200


@pytest.fixture
def fakes() -> Any:
    with FakeBotAPI() as tg, FakeSlackAPI() as slack:
        yield tg, slack


async def test_link_then_all_linked_reaches_slack_and_telegram(hostline_app: Any,
                                                               fakes: Any) -> None:
    tg, slack = fakes
    cfg = ("[host]\nshutdown_grace = 2\n[host.outbox]\npoll_interval = 0.05\n"
           "backoff_initial = 0.05\n\n"
           f'[channels.telegram]\ntoken = "{tg.token}"\nsecret_token = "{TG_SECRET}"\n'
           f'api_base = "{tg.url}"\n\n'
           f'[channels.slack]\nsigning_secret = "{SIGNING_SECRET}"\n'
           f'bot_token = "{slack.bot_token}"\napi_base = "{slack.api_base}"\n'
           'response_target = "all_linked"\nreply_in_thread = false\nlookup_users = false\n')
    async with hostline_app(cfg) as (host, client):
        # Telegram asks for a code; the same person redeems it in a Slack DM.
        await send_tg(client, "/link")
        reply = await until(lambda: [t for t in tg.texts(222) if "/link " in t])
        code = re.search(r"/link (\w+)", reply[-1]).group(1)  # type: ignore[union-attr]
        await send_slack(client, f"/link {code}")
        await until(lambda: any("Linked with your telegram account" in t
                                for t in slack.texts("D0LINK1")))
        await send_tg(client, "hello from telegram")
        await until(lambda: "hello from telegram" in tg.texts(222))
        # A Slack message now answers on Slack and is pushed to Telegram.
        await send_slack(client, "status of the deploy?")
        await until(lambda: "status of the deploy?" in slack.texts("D0LINK1"))
        await until(lambda: "status of the deploy?" in tg.texts(222))
        # A proactive push to the linked person reaches both.
        await host.push("report ready", to=hostline.ResponseTarget.all_linked(),
                        identity=hostline.Identity("telegram", "222"))
        await until(lambda: "report ready" in slack.texts("D0LINK1"))
        await until(lambda: "report ready" in tg.texts(222))
