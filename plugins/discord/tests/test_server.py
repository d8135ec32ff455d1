"""The key flows against a real ``hostline serve`` process and the FakeDiscordAPI."""

from __future__ import annotations

from typing import Any

import pytest

from hostline.testing import ServerProcess
from hostline_discord import render_chunks
from hostline_discord.testing import FakeDiscordAPI

from .conftest import dc_config, env
from .discord_targets import long_text, stream_text


@pytest.fixture(scope="module")
def shared(tmp_path_factory: Any) -> Any:
    """One fake and one server for the answering tests (they do not share state)."""
    with FakeDiscordAPI() as fake:
        config = dc_config(fake, host={"target": "discord_targets:by_input"})
        directory = tmp_path_factory.mktemp("discord-server")
        path = directory / "hostline.toml"
        path.write_text(config.replace("[host]\n", f'[host]\nstate_dir = '
                                       f'"{(directory / "state").as_posix()}"\n', 1))
        server = ServerProcess(path, env=env()).start()
        try:
            yield fake, server
        finally:
            server.stop()


def patches(fake: FakeDiscordAPI, interaction: dict[str, Any]) -> list[Any]:
    return [c for c in fake.calls("PATCH") if interaction["token"] in c.path]


def test_streamed_answer_edits_in_order(shared: Any) -> None:
    fake, server = shared
    interaction = fake.command("ask", text="stream", guild_id="7001", channel_id="7002")
    r = fake.deliver(server.url, interaction)
    assert r.status_code == 200 and r.json()["type"] == 5
    final = stream_text()
    fake.wait_for(lambda: fake.texts(interaction_id=interaction["id"]) == [final], timeout=20)
    fake.wait_for(lambda: fake.messages(interaction_id=interaction["id"])[0].components)
    original = fake.messages(interaction_id=interaction["id"])[0]
    assert len(original.edits) >= 3
    # Every edit extends the previous one: the answer grows in order.
    for before, after in zip(original.edits, original.edits[1:]):
        assert after.startswith(before)
    gaps = [b - a for a, b in zip(original.edit_times, original.edit_times[1:])]
    assert min(gaps) >= 0.15  # stream_edit_interval = 0.2, less scheduling slack
    assert fake.rate_violations == []


def test_long_answer_is_original_plus_followups(shared: Any) -> None:
    fake, server = shared
    interaction = fake.command("ask", text="long")
    fake.deliver(server.url, interaction)
    expected = render_chunks(long_text())
    assert len(expected) >= 3
    fake.wait_for(lambda: len(fake.texts(interaction_id=interaction["id"])) == len(expected),
                  timeout=20)
    messages = fake.messages(interaction_id=interaction["id"])
    assert [m.content for m in messages] == expected
    assert [m.kind for m in messages] == ["original"] + ["followup"] * (len(expected) - 1)
    assert all(len(m.content) <= 2000 for m in messages)
    assert all(m.content.count("```") % 2 == 0 for m in messages)  # code blocks stay whole
    assert messages[-1].components and not messages[0].components
    # 5,000 characters of the answer are all there.
    assert "".join(long_text().split()) in "".join("".join(m.content for m in messages).split())


def test_429_is_waited_out(shared: Any) -> None:
    fake, server = shared
    fake.fail("PATCH /webhooks/{webhook_id}/{webhook_token}/messages/@original", 429,
              retry_after=1.0)
    interaction = fake.command("ask", text="patience")
    fake.deliver(server.url, interaction)
    fake.wait_for(lambda: fake.texts(interaction_id=interaction["id"]) == ["patience"],
                  timeout=20)
    calls = patches(fake, interaction)
    assert calls[0].status == 429 and calls[1].status == 200
    assert calls[1].at - calls[0].at >= 0.95
    assert fake.rate_violations == []


def test_restarts_register_once_push_to_user_and_survive_sigkill(
        hostline_server: Any, fake: FakeDiscordAPI) -> None:
    config = dc_config(fake, host={"target": "discord_targets:history_echo"},
                       outbox={"lease_seconds": 1.0})
    server = hostline_server(config, env=env())
    assert len(fake.calls("PUT /applications")) == 1
    first = fake.command("ask", text="one", user_id="4100")
    fake.deliver(server.url, first)
    fake.wait_for(lambda: fake.texts(interaction_id=first["id"]) == ["one [history=0]"])
    assert fake.deliver(server.url, first).json()["type"] == 5  # a retried delivery: deduped

    # Restart; then a SIGKILL between the ack and the answer: answered after the restart.
    server.env["DC_TEST_SLOW"] = "2"
    server.restart()
    assert len(fake.calls("PUT /applications")) == 1  # unchanged: not written again
    assert len(fake.calls("GET /applications")) == 2
    second = fake.command("ask", text="two", user_id="4100")
    assert fake.deliver(server.url, second).json()["type"] == 5
    server.kill()
    assert fake.texts(interaction_id=second["id"]) == []
    server.env["DC_TEST_SLOW"] = "0"
    server.start()
    fake.wait_for(lambda: fake.texts(interaction_id=second["id"]) == ["two [history=2]"],
                  timeout=20)
    assert len(fake.calls("PUT /applications")) == 1

    # A push to the user by id opens a DM channel after the restarts.
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "hostline", "push", "--config",
                          str(server.config_path), "--channel", "discord", "--to",
                          "user:4100", "report ready"], capture_output=True, text=True,
                         env=server.env, cwd=server.config_path.parent, timeout=30)
    assert out.returncode == 0, out.stderr
    fake.wait_for(lambda: fake.dm_channel_of("4100") and
                  fake.texts(fake.dm_channel_of("4100")) == ["report ready"], timeout=20)
    assert fake.token not in server.output()
