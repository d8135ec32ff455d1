"""API keys, the loopback default and the OAuth resource server."""

from __future__ import annotations

import pytest

from hostline import (
    ApiKey,
    ApiKeys,
    ChannelConfigurationError,
    InvalidToken,
    OAuthResourceServer,
    Secret,
    bearer_token,
    check_api_keys,
    check_open_channel,
    is_loopback_bind,
    is_loopback_client,
)
from hostline.testing import LocalOAuthIssuer

AUD = "http://127.0.0.1/mcp/"


def test_api_keys_map_to_identities_and_hide_keys():
    keys = ApiKeys("mcp", [Secret("plain-key"), ApiKey(Secret("alice-key"), "alice", "Alice")])
    plain, alice = keys.identify("plain-key"), keys.identify("alice-key")
    assert plain is not None and plain.native_id.startswith("key-")
    assert "plain-key" not in plain.native_id
    assert alice is not None and (alice.key, alice.display_name) == ("mcp:alice", "Alice")
    assert keys.identify("other") is None
    assert "key" not in repr(keys).replace("keys=", "").replace("ApiKeys", "")
    with pytest.raises(ValueError, match="twice"):
        check_api_keys(None, None, [Secret("a"), Secret("a")])
    with pytest.raises(ValueError, match="empty"):
        check_api_keys(None, None, [Secret(" ")])


def test_bearer_and_loopback_helpers():
    assert bearer_token({"authorization": "Bearer abc "}) == "abc"
    assert bearer_token({"authorization": "Basic abc"}) is None
    assert bearer_token({}) is None
    assert is_loopback_bind("127.0.0.1:8000") and is_loopback_bind("[::1]:80")
    assert is_loopback_bind("unix:/tmp/s") and not is_loopback_bind("0.0.0.0:8000")
    assert is_loopback_client({"client": ("127.0.0.1", 5)})
    assert not is_loopback_client({"client": ("10.0.0.1", 5)})
    check_open_channel("x.toml", "mcp", "0.0.0.0:1", has_auth=True, allow_unauthenticated=False)
    with pytest.raises(ChannelConfigurationError, match=r"\[channels.mcp\]"):
        check_open_channel("x.toml", "mcp", "0.0.0.0:1", has_auth=False,
                           allow_unauthenticated=False)


@pytest.fixture(scope="module")
def issuer():
    with LocalOAuthIssuer() as it:
        yield it


async def test_oauth_accepts_good_tokens_and_says_why_it_refuses(issuer):
    rs = OAuthResourceServer(issuer=issuer.issuer, audience=AUD, jwks_url=issuer.jwks_url,
                             required_scopes=["agent"])
    try:
        info = await rs.verify(issuer.token(audience=AUD, subject="ann", scope="agent x"))
        assert info.subject == "ann" and info.scopes == {"agent", "x"}
        cases = {
            "another audience": issuer.token(audience="http://else/", scope="agent"),
            "expired": issuer.token(audience=AUD, scope="agent", expired=True),
            "does not verify": issuer.token(audience=AUD, scope="agent", foreign_key=True),
            "another issuer": issuer.token(audience=AUD, scope="agent", issuer="https://evil"),
            "malformed": "not.a.jwt",
        }
        for why, token in cases.items():
            with pytest.raises(InvalidToken, match=why) as err:
                await rs.verify(token)
            assert err.value.status == 401
        with pytest.raises(InvalidToken) as err:
            await rs.verify(issuer.token(audience=AUD))
        assert (err.value.status, err.value.error) == (403, "insufficient_scope")
        fetched = issuer.requests
        for _ in range(3):  # unknown key ids refetch at most once a minute
            with pytest.raises(InvalidToken, match="unknown key"):
                await rs.verify(issuer.token(audience=AUD, scope="agent", kid="nope"))
        assert issuer.requests <= fetched + 1
        meta = rs.metadata(AUD)
        assert meta["authorization_servers"] == [issuer.issuer]
        assert 'resource_metadata="http://m"' in rs.challenge("http://m")
    finally:
        await rs.aclose()
