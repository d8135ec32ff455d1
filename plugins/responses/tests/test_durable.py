"""Background responses live in the durable runner: a queued one survives a restart."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import openai
from responses_testkit import KEY, TESTS, wait_for

from hostline.testing import ServerProcess


def test_queued_background_response_survives_a_restart(
        hostline_server: Callable[..., ServerProcess], tmp_path: Path) -> None:
    pythonpath = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH")) if p)
    server = hostline_server(
        '[host]\ntarget = "responses_test_target:target"\nshutdown_grace = 0.5\n'
        f'[channels.responses]\napi_keys = ["{KEY}"]\n',
        env={"PYTHONPATH": pythonpath, "RESPONSES_TEST_MARKERS": str(tmp_path)})
    client = openai.OpenAI(base_url=f"{server.url}/responses/v1", api_key=KEY, max_retries=0)
    with client:
        first = client.responses.create(model="m", input="__forever__ durable",
                                        background=True)
        wait_for(lambda: (tmp_path / "durable.started").exists(), "the first run to start")
        # Continues ``first``: same session, so the runner keeps it queued behind it.
        second = client.responses.create(model="m", input="__history__",
                                         previous_response_id=first.id, background=True)
        assert client.responses.retrieve(second.id).status == "queued"
        server.restart()
        # The interrupted run ended (and its stream was closed); the queued one ran after
        # the restart, continuing the first one's session.
        assert (tmp_path / "durable.closed").exists()
        assert client.responses.retrieve(first.id).status == "incomplete"
        done = wait_for(lambda: (r := client.responses.retrieve(second.id)).status
                        == "completed" and r, "the queued response to run")
        assert '"history": ["__forever__ durable", "tick' in done.output_text
