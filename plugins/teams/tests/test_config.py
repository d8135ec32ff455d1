"""The config schema, and secrets kept out of reprs, errors and logs."""

from __future__ import annotations

import logging

import pytest

import hostline
from hostline_teams import TeamsConfig


def _host(tmp_path, body: str) -> hostline.Host:
    path = tmp_path / "hostline.toml"
    path.write_text(f'[host]\nstate_dir = "{tmp_path / "state"}"\n[channels.teams]\n{body}')
    return hostline.Host.from_config(path)


@pytest.mark.parametrize(("body", "message"), [
    ('app_password = "p"\n', "key 'app_id': required key is missing"),
    ('app_id = "a"\n', "key 'app_password': required key is missing"),
    ('app_id = "a"\napp_password = ""\n', "app_password"),
    ('app_id = "a"\napp_password = "p"\ngroup_mode = "loud"\n', "key 'group_mode'"),
    ('app_id = "a"\napp_password = "p"\nsession_scope = "per_team"\n', "key 'session_scope'"),
    ('app_id = "a"\napp_password = "p"\ntoken_url = "https://x/{tenant}/token"\n',
     "{tenant_id}"),
    ('app_id = "a"\napp_password = "p"\nallowed_issuers = []\n', "allowed_issuers"),
    ('app_id = "a"\napp_password = "p"\ntyping_interval = 0\n', "typing_interval"),
    ('app_id = "a"\napp_password = "p"\napp_secret = "x"\n', "unknown key"),
])
def test_bad_config_is_a_clear_startup_error(tmp_path, body, message):
    with pytest.raises(hostline.ConfigError) as info:
        _host(tmp_path, body)
    assert "[channels.teams]" in str(info.value)
    assert message in str(info.value)


def test_secret_never_in_repr_or_errors(tmp_path):
    host = _host(tmp_path, 'app_id = "a"\napp_password = "hunter2-secret"\n')
    channel = host.channels["teams"]
    assert isinstance(channel.config, TeamsConfig)
    assert "hunter2" not in repr(channel.config) and "hunter2" not in repr(channel)
    assert channel.config.app_password.reveal() == "hunter2-secret"
    assert channel.config.resolved_token_url() == \
        "https://login.microsoftonline.com/botframework.com/oauth2/v2.0/token"
    with pytest.raises(hostline.ConfigError) as info:
        _host(tmp_path, 'app_id = "a"\napp_password = "hunter2-secret"\nstream = "yes"\n')
    assert "hunter2" not in str(info.value)


async def test_password_and_tokens_never_logged(bf, teams_toml, hostline_app, caplog):
    caplog.set_level(logging.DEBUG)
    async with hostline_app(teams_toml()) as (host, client):
        await bf.post(client, bf.message("hi"))
        await bf.connector.wait_for(1, type="message")
        bf.tokens.revoke_all()
        bf.connector.fail_next(429, retry_after="0")
        await bf.post(client, bf.message("again"))
        await bf.connector.wait_for(2, type="message")
        channel = host.channels["teams"]
        reprs = " ".join(repr(x) for x in (channel.tokens, channel.connector, channel.config))
    assert bf.tokens.requests == 2  # a refresh happened, and was not logged either
    text = caplog.text + reprs
    assert bf.app_password not in text
    assert "eyJ" not in text  # every JWT (access or inbound token) starts with this


async def test_wrong_password_fails_visibly_without_leaking_it(bf, teams_toml, hostline_app,
                                                               wait_dead):
    toml = teams_toml(app_password="wrong-password-123", typing=False)
    async with hostline_app(toml) as (host, client):
        await bf.post(client, bf.message("hi"))
        [task] = await wait_dead(host)
        assert "invalid_client" in task.last_error
        assert "wrong-password" not in task.last_error
        assert bf.connector.requests == 0
