"""Agent Framework workflow checkpoints in PostgreSQL: a conversation begun
on one replica is resumed by another after the first is SIGKILLed, and no
replica keeps a checkpoint on its own disk."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import openai

from hostline_postgres.testing import PostgresDatabase

APP = Path(__file__).resolve().parents[1] / "plugins" / "agent-framework" / "tests"
KEY = "hl-client-key-1"


def test_a_workflow_resumes_on_another_replica(hostline_server: Any,
                                               postgres_db: PostgresDatabase) -> None:
    config = ('[host]\ntarget = "agent-framework"\nshutdown_grace = 2\n'
              '[host.target_options]\nfactory = "hostline_af_testapp:build_workflow"\n'
              + postgres_db.store_toml(pool_max=4)
              + f'[channels.responses]\napi_keys = ["{KEY}"]\n')
    env = {"PYTHONPATH": os.pathsep.join(p for p in (str(APP), os.environ.get("PYTHONPATH"))
                                         if p)}
    first, second = hostline_server(config, env=env), hostline_server(config, env=env)

    def client(server: Any) -> openai.OpenAI:
        return openai.OpenAI(base_url=server.url + "/responses/v1", api_key=KEY,
                             max_retries=0)

    conversation = client(first).conversations.create()
    asked = client(first).responses.create(model="wf", input="hello",
                                           conversation=conversation.id)
    assert asked.output_text == "What is your name?"

    first.kill()  # SIGKILL: only what is in the database survives
    stream = client(second).responses.create(model="wf", input="Ada", stream=True,
                                             conversation=conversation.id)
    text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
    assert text == "Nice to meet you, Ada! You first said 'hello'."

    first.start()
    again = client(first).responses.create(model="wf", input="still here?",
                                           conversation=conversation.id)
    assert again.output_text == "Ada, this is message 2: still here?"
    for server in (first, second):
        assert not list(server.config_path.parent.rglob("checkpoints"))
