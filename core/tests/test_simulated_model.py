"""The simulated model target in ``hostline.testing``: configured by import
path, streaming or whole, failing at the configured rate."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostline import ConfigError, Message
from hostline.testing import SimulatedFailure, SimulatedModel, make_host, run_host

CONFIG = """
[host]
target = "hostline.testing:simulated_model"
[host.target_options]
first_token = 0.01
tokens_per_second = 1000.0
reply_tokens = 6
chunk_tokens = 2
"""


async def test_configured_by_import_path_and_streams(tmp_path: Path) -> None:
    host = make_host(tmp_path, CONFIG)
    model = host.target.obj
    assert isinstance(model, SimulatedModel) and host.target.can_stream
    async with run_host(host):
        turn = await host.begin_turn(channel="test", scope="s", input=[Message.user("hi")])
        deltas = [u.delta async for u in host.target.stream(turn.request) if u.delta]
        # The input word, then six words in pairs: four deltas.
        assert deltas == ["hi: lorem ", "ipsum dolor ", "sit amet ", "consectetur"]
        reply = await turn.run()
        assert reply is not None and reply.text == "hi: lorem ipsum dolor sit amet consectetur"
    assert model.started == 2


async def test_whole_replies_and_defaults(tmp_path: Path) -> None:
    host = make_host(tmp_path, CONFIG + "stream = false\necho = false\n")
    assert not host.target.can_stream
    async with run_host(host):
        turn = await host.begin_turn(channel="test", scope="s", input=[Message.user("hi")])
        reply = await turn.run()
        assert reply is not None and reply.text == "lorem ipsum dolor sit amet consectetur"
    # With no options at all the factory is still called, with its defaults.
    bare = make_host(tmp_path / "bare", '[host]\ntarget = "hostline.testing:simulated_model"\n')
    assert isinstance(bare.target.obj, SimulatedModel) and bare.target.obj.first_token == 1.0


async def test_failure_rate() -> None:
    model = SimulatedModel(first_token=0, tokens_per_second=1e6, reply_tokens=1,
                           failure_rate=0.5, seed=7)
    from hostline import RunRequest, Session

    request = RunRequest(input=(Message.user("x"),), session=Session("k", {}))
    outcomes = []
    for _ in range(40):
        try:
            await model.run(request)
            outcomes.append(True)
        except SimulatedFailure:
            outcomes.append(False)
    assert 5 < outcomes.count(False) < 35 and model.failed == outcomes.count(False)
    never = SimulatedModel(first_token=0, tokens_per_second=1e6, failure_rate=0.0)
    always = SimulatedModel(first_token=0, tokens_per_second=1e6, failure_rate=1.0)
    await never.run(request)
    with pytest.raises(SimulatedFailure):
        await always.run(request)


def test_bad_options_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"target_options.*first_token"):
        make_host(tmp_path, CONFIG.replace("first_token = 0.01", "first_token = -1.0"))
    with pytest.raises(ConfigError, match=r"target_options.*unexpected keyword"):
        make_host(tmp_path / "b", CONFIG + "speed = 3\n")
