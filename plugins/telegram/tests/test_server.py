"""The key flows against a real ``hostline serve`` process and the FakeBotAPI."""

from __future__ import annotations

import os
from typing import Any

from hostline.testing import ServerProcess
from hostline_telegram import markdown_to_entities, to_html
from hostline_telegram.testing import FakeBotAPI

from .conftest import TESTS_DIR, message, tg_config
from .telegram_targets import stream_text


def env(**extra: str) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(TESTS_DIR), os.environ.get("PYTHONPATH")) if p)
    return {"PYTHONPATH": path, **extra}


def start_with_public_url(factory: Any, config: str, **kwargs: Any) -> ServerProcess:
    """Start a server whose ``public_url`` is its own address (for setWebhook)."""
    server: ServerProcess = factory(config, start=False, **kwargs)
    text = server.config_path.read_text()
    server.config_path.write_text(text.replace("[host]\n", f'[host]\npublic_url = "{server.url}"\n',
                                               1))
    return server.start()


def test_webhook_server_dedupe_history_restart_and_crash(hostline_server: Any,
                                                         fake: FakeBotAPI) -> None:
    config = tg_config(fake, host={"target": "telegram_targets:history_echo"},
                       outbox={"lease_seconds": 1.0})
    server = start_with_public_url(hostline_server, config, env=env())
    hook = fake.webhook
    assert hook is not None and hook["url"] == f"{server.url}/telegram/webhook"

    first = message("one", chat_id=80)
    assert fake.deliver(first) == 200
    fake.wait_for(lambda: fake.texts(80))
    assert fake.deliver(first) == 200  # Telegram retried: acked, not answered again
    assert fake.deliver(message("sneaky", chat_id=80), secret_token="wrong") == 401

    server.restart()
    assert fake.deliver(first) == 200  # dedupe survived the restart
    assert fake.deliver(message("two", chat_id=80)) == 200
    fake.wait_for(lambda: len(fake.texts(80)) >= 2)

    # A crash right after the ack loses nothing: the update is in the store.
    server.env["TG_TEST_SLOW"] = "2"
    server.restart()
    assert fake.deliver(message("three", chat_id=80)) == 200
    server.kill()
    assert len(fake.texts(80)) == 2
    server.env["TG_TEST_SLOW"] = "0"
    server.start()
    fake.wait_for(lambda: len(fake.texts(80)) >= 3, timeout=20)
    assert fake.texts(80) == ["one [history=0]", "two [history=2]", "three [history=4]"]
    assert fake.token.split(":")[1] not in server.output()


def test_polling_server_streams_and_keeps_its_offset(hostline_server: Any,
                                                     fake: FakeBotAPI) -> None:
    config = tg_config(fake, mode="polling", secret_token=None, polling_timeout=2,
                       stream_edit_interval=0.2, stream_first_delay=0.1,
                       host={"target": "telegram_targets:stream_target"})
    server = hostline_server(config, env=env())
    expected = markdown_to_entities(stream_text())

    fake.queue_update(message("go", chat_id=90, update_id=700))
    fake.wait_for(lambda: fake.texts(90) == [expected.text], timeout=20)
    m = fake.messages(90)[0]
    assert m.raw == to_html(expected) and len(m.edits) >= 2
    assert len(fake.calls("sendMessage", chat_id=90)) == 1

    server.restart()
    before = len(fake.calls("getUpdates"))
    fake.wait_for(lambda: len(fake.calls("getUpdates")) > before or fake.active_polls)
    fake.queue_update(message("again", chat_id=91, update_id=701))
    fake.wait_for(lambda: fake.texts(91) == [expected.text], timeout=20)
    offsets = [c.params.get("offset") for c in fake.calls("getUpdates")[before:]]
    assert offsets[0] == 701  # the persisted offset: update 700 is not fetched again
    assert fake.texts(90) == [expected.text]
