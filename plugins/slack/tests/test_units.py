"""Signing, state, rate limits, mrkdwn rendering and the fake, without a server."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier

from hostline_slack import RateLimiter, render, to_mrkdwn
from hostline_slack.signing import SignatureError, make_state, read_state, sign, verify
from hostline_slack.testing import FakeSlackAPI, signed_headers

SECRET = "s3cret"


def test_signature_matches_slack_sdk_and_rejects_replays() -> None:
    body = b'{"type":"event_callback"}'
    now = int(time.time())
    assert sign(SECRET, body, now) == SignatureVerifier(SECRET).generate_signature(
        timestamp=str(now), body=body)
    headers = signed_headers(body, SECRET, timestamp=now)
    assert SignatureVerifier(SECRET).is_valid_request(body, headers)
    verify(SECRET, headers, body)
    for bad in ({**headers, "x-slack-signature": "v0=" + "0" * 64},
                {**headers, "x-slack-request-timestamp": str(now - 301)},
                {**headers, "x-slack-request-timestamp": "12e3"},
                {"x-slack-request-timestamp": str(now)}, {}):
        with pytest.raises(SignatureError):
            verify(SECRET, bad, body)
    with pytest.raises(SignatureError):
        verify(SECRET, headers, body + b" ")


def test_state_is_signed_and_expires() -> None:
    state = make_state(SECRET, {"n": "abc"}, 60)
    assert read_state(SECRET, state)["n"] == "abc"
    raw, _, mac = state.partition(".")
    for bad in (f"{raw}x.{mac}", f"{raw}.{mac[:-2]}AA", "nodot", "", state + "."):
        with pytest.raises(SignatureError):
            read_state(SECRET, bad)
    with pytest.raises(SignatureError):
        read_state("other", state)
    with pytest.raises(SignatureError, match="expired"):
        read_state(SECRET, make_state(SECRET, {"n": "x"}, 60, now=time.time() - 120))


def test_rate_limiter_tiers_and_retry_after() -> None:
    limits = RateLimiter()
    # chat.postMessage: a burst of three per channel, then one a second.
    waits = [limits.reserve("T1", "chat.postMessage", "C1") for _ in range(4)]
    assert waits[:3] == [0, 0, 0] and 0.9 < waits[3] <= 1.0
    assert limits.reserve("T1", "chat.postMessage", "C2") == 0  # another channel
    assert limits.reserve("T2", "chat.postMessage", "C1") == 0  # another workspace
    # Tier 2 (startStream): 20 in a burst.
    assert all(limits.reserve("T1", "chat.startStream") == 0 for _ in range(20))
    assert limits.reserve("T1", "chat.startStream") > 2
    limits.block("T1", "users.info", 5)
    assert 4 < limits.reserve("T1", "users.info") <= 5
    assert limits.reserve("T2", "users.info") == 0


def test_mrkdwn_rendering() -> None:
    text = to_mrkdwn("# Title\n\n**b** _i_ ~~s~~ `c` [l](https://x.y/a|b) <b>&</b>\n\n"
                     "1. one\n2. two\n   - nested\n\n> quoted\n\n- [x] done\n\n"
                     "[bad](javascript:alert(1)) ![img](https://x.y/i.png)")
    assert text.startswith("*Title*")
    assert "*b* _i_ ~s~ `c` <https://x.y/a%7Cb|l> &lt;b&gt;&amp;&lt;/b&gt;" in text
    assert "1. one\n2. two\n   \u2022 nested" in text
    assert "> quoted" in text and "\u2611 done" in text
    assert "<javascript" not in text and "|javascript" not in text
    assert "<https://x.y/i.png|img>" in text
    assert to_mrkdwn("<!channel> hi") == "&lt;!channel&gt; hi"


def test_split_never_cuts_a_code_block() -> None:
    code = "\n".join(f"print({i})" for i in range(800))
    chunks = render(f"intro\n\n```\n{code}\n```\n\nend", limit=1000)
    assert all(len(c) <= 1000 for c in chunks)
    assert all(c.count("```") % 2 == 0 for c in chunks)
    body = "\n".join(line for c in chunks for line in c.split("\n") if line.startswith("print"))
    assert body == code


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from([*list("ab *_~`[]()<>&|#>-\n1.!"), "```", "é", "word " * 30]),
                max_size=200).map("".join), st.integers(min_value=500, max_value=3000))
def test_render_is_total_and_bounded(text: str, limit: int) -> None:
    for chunk in render(text, limit=limit):
        assert 0 < len(chunk) <= limit
        assert chunk.count("```") % 2 == 0
        assert "<!" not in chunk


@pytest.mark.filterwarnings("ignore:The top-level `text` argument:UserWarning")
def test_fake_validates_like_slack_with_slack_sdk() -> None:
    with FakeSlackAPI() as fake:
        client = WebClient(token=fake.bot_token, base_url=fake.api_base + "/")
        me = client.auth_test()
        assert me["user_id"] == fake.bot_user_id
        posted = client.chat_postMessage(channel="C0X", text="hi")
        assert fake.texts("C0X") == ["hi"]
        client.chat_update(channel="C0X", ts=posted["ts"], text="edited")
        assert fake.texts("C0X") == ["edited"]
        for call in (lambda: client.chat_postMessage(channel="C0X"),  # no_text
                     lambda: client.chat_postMessage(channel="XYZ", text="x"),
                     lambda: client.chat_postMessage(channel="C0X", text="x" * 40001),
                     lambda: client.chat_postMessage(channel="C0X", blocks=[{"type": "nope"}]),
                     lambda: WebClient(token="xoxb-wrong", base_url=fake.api_base + "/"
                                            ).auth_test()):
            with pytest.raises(SlackApiError):
                call()
        errors = [c.response["error"] for c in fake.calls(ok=False)]
        assert errors == ["no_text", "channel_not_found", "msg_too_long", "invalid_blocks",
                          "invalid_auth"]
        fake.rate_limit("chat.postMessage", retry_after=2)
        with pytest.raises(SlackApiError) as info:
            client.chat_postMessage(channel="C0X", text="x")
        assert info.value.response.status_code == 429
        assert info.value.response.headers["retry-after"] == "2"
        with pytest.raises(SlackApiError):
            client.chat_postMessage(channel="C0X", text="too soon")
        assert fake.violations and fake.violations[0].method == "chat.postMessage"


def test_files_that_are_not_a_list_are_no_files() -> None:
    from hostline_slack.events import files_of

    for files in (True, 5, "x", {"id": "F1"}, None):
        assert files_of("T1", {"files": files}) == []
    assert len(files_of("T1", {"files": [{"id": "F1", "mimetype": "image/png"}, 7]})) == 1
