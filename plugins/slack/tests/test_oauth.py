"""OAuth install into a new workspace against a real ``hostline serve``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from hostline.testing import ServerProcess
from hostline_slack.testing import SIGNING_SECRET, FakeSlackAPI, event_envelope, message_event

from .conftest import send_event, server_env, start_server


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlackAPI]:
    with FakeSlackAPI() as f:
        yield f


@pytest.fixture(scope="module")
def server(slack: FakeSlackAPI, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[ServerProcess]:
    config = (
        "[host]\nshutdown_grace = 2\ntarget = \"slack_targets:history_echo\"\n"
        "[host.outbox]\npoll_interval = 0.05\nbackoff_initial = 0.1\n\n"
        f'[channels.slack]\nsigning_secret = "{SIGNING_SECRET}"\n'
        f'client_id = "{slack.client_id}"\nclient_secret = "{slack.client_secret}"\n'
        f'api_base = "{slack.api_base}"\nauthorize_url = "{slack.authorize_url}"\n'
        "stream = false\n")
    proc = start_server(tmp_path_factory.mktemp("oauth"), config, env=server_env())
    yield proc
    proc.stop()


def install(server: ServerProcess) -> tuple[httpx.Client, str]:
    """Run the browser side of the flow up to the callback; returns the client and URL."""
    browser = httpx.Client(follow_redirects=False, timeout=10)
    r = browser.get(server.url + "/slack/install")
    assert r.status_code == 302
    r = browser.get(r.headers["location"])  # the fake approves at once
    assert r.status_code == 302
    return browser, r.headers["location"]


def test_install_stores_a_token_used_for_the_next_event(server: ServerProcess,
                                                        slack: FakeSlackAPI) -> None:
    browser, callback = install(server)
    r = browser.get(callback)
    assert r.status_code == 200 and "installed" in r.text.lower()
    team = parse_qs(urlsplit(callback).query)
    new = [t for t in slack.workspaces if t != slack.team_id][-1]
    token = slack.workspaces[new].bot_token
    assert token not in r.text and team
    assert browser.get(callback).status_code == 400  # a callback is good once
    event = message_event("hello new", channel="D0OA001", team=new)
    send_event(server.url, event_envelope(event, team=new,
                                          bot_user=slack.workspaces[new].bot_user_id))
    slack.wait_for(lambda: slack.texts("D0OA001"))
    post = slack.calls("chat.postMessage")[-1]
    assert post.team == new and slack.texts("D0OA001") == ["echo: hello new (history 0)"]
    # Uninstalled: the token is forgotten and the workspace is not answered.
    send_event(server.url, event_envelope({"type": "app_uninstalled"}, team=new))
    time.sleep(0.5)
    send_event(server.url, event_envelope(message_event("still there?", channel="D0OA001",
                                                        team=new), team=new))
    time.sleep(0.8)
    assert slack.texts("D0OA001") == ["echo: hello new (history 0)"]
    assert "token" not in server.output().lower().replace("tokens_revoked", "") or \
        token not in server.output()


def test_state_must_be_signed_fresh_and_from_this_browser(server: ServerProcess,
                                                          slack: FakeSlackAPI) -> None:
    browser, callback = install(server)
    parts = urlsplit(callback)
    q = parse_qs(parts.query)
    base = f"{parts.scheme}://{parts.netloc}{parts.path}"
    state = q["state"][0]
    tampered = state[:-3] + ("AAA" if not state.endswith("AAA") else "BBB")
    assert browser.get(base, params={"code": q["code"][0], "state": tampered}
                       ).status_code == 400
    other = httpx.Client(timeout=10)  # no cookie: not the browser that started it
    assert other.get(callback).status_code == 400
    assert browser.get(base, params={"error": "access_denied"}).status_code == 400
    assert browser.get(base).status_code == 400
    assert browser.get(callback).status_code == 200  # the untouched one still works
