"""The MCP channel with the official ``mcp`` client over Streamable HTTP, against a real server."""

from __future__ import annotations

import httpx
import pytest
from mcp.shared.exceptions import MCPError
from mcp_testkit import ALICE, AUDIENCE, BOB, KEY

from hostline_mcp.testing import mcp_client

MODES = ["auto", "legacy"]  # the 2026-07-28 per-request era and the initialize handshake


def _text(result) -> str:
    return "".join(c.text for c in result.content if c.type == "text")


@pytest.mark.parametrize("mode", MODES)
async def test_list_call_and_continue_the_session(server, mode):
    async with mcp_client(f"{server.url}/mcp/", key=KEY, mode=mode) as client:
        tools = (await client.list_tools()).tools
        assert [t.name for t in tools] == ["ask"]
        assert tools[0].input_schema["required"] == ["input"]
        first = await client.call_tool("ask", {"input": "hello"})
        assert not first.is_error
        assert _text(first) == "[0 earlier] hello"
        sid = first.structured_content["session_id"]
        second = await client.call_tool("ask", {"input": "again", "session_id": sid})
        assert _text(second) == "[1 earlier] again"
        assert second.structured_content == {"session_id": sid}
        assert _text(await client.call_tool("ask", {"input": "new"})) == "[0 earlier] new"


@pytest.mark.parametrize("mode", MODES)
async def test_streaming_target_sends_progress_with_the_partial_text(server, mode):
    seen: list[tuple[float, str | None]] = []

    async def progress(value: float, total: float | None, message: str | None) -> None:
        seen.append((value, message))

    async with mcp_client(f"{server.url}/mcp/", key=KEY, mode=mode) as client:
        result = await client.call_tool("ask", {"input": "stream me please"},
                                        progress_callback=progress)
    final = _text(result)
    assert len(seen) >= 3
    assert [v for v, _ in seen] == sorted(v for v, _ in seen)
    assert all(final.startswith(m) for _, m in seen)
    assert seen[-1][1] == final


async def test_sessions_belong_to_the_caller(server):
    async with mcp_client(f"{server.url}/mcp/", key=KEY) as plain, \
            mcp_client(f"{server.url}/mcp/", key=ALICE) as alice:
        sid = (await plain.call_tool("ask", {"input": "a"})).structured_content["session_id"]
        other = await alice.call_tool("ask", {"input": "b", "session_id": sid})
        assert _text(other) == "[0 earlier] b"


_INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
         "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                    "clientInfo": {"name": "t", "version": "1"}}}
_ACCEPT = {"accept": "application/json, text/event-stream"}


def test_401_without_a_valid_key(server):
    url = f"{server.url}/mcp/"
    for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": "Basic x"}):
        response = httpx.post(url, json=_INIT, headers={**_ACCEPT, **headers})
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        body = response.json()
        assert body["jsonrpc"] == "2.0" and body["error"]["code"] == -32001
        assert "wrong" not in response.text


async def test_official_client_without_a_key_is_refused(server):
    # The SDK surfaces the 401's JSON-RPC error object (in a task group's exception group).
    with pytest.raises(Exception) as err:
        async with mcp_client(f"{server.url}/mcp/", mode="legacy") as client:
            await client.list_tools()
    assert "-32001" in repr(err.value) and "Bearer" in repr(err.value)


async def test_no_credentials_means_loopback_only(server):
    async with mcp_client(f"{server.url}/open/") as client:  # this test runs on loopback
        assert _text(await client.call_tool("ask", {"input": "hi"})) == "[0 earlier] hi"


async def test_allowlists_apply(server):
    async with mcp_client(f"{server.url}/guarded/", key=ALICE) as alice:
        assert not (await alice.call_tool("ask", {"input": "hi"})).is_error
    async with mcp_client(f"{server.url}/guarded/", key=BOB) as bob:
        denied = await bob.call_tool("ask", {"input": "hi"})
    assert denied.is_error and "not allowed" in _text(denied)


async def test_bad_arguments_and_target_failures_are_tool_errors(server):
    async with mcp_client(f"{server.url}/mcp/", key=KEY) as client:
        for args in ({}, {"input": ""}, {"input": 3}, {"input": "x", "session_id": "../x"},
                     {"input": "x", "extra": 1}):
            result = await client.call_tool("ask", args)
            assert result.is_error, args
        failed = await client.call_tool("ask", {"input": "fail"})
        assert failed.is_error and "Traceback" not in _text(failed)
        with pytest.raises(MCPError):
            await client.call_tool("nope", {"input": "x"})
        assert not (await client.call_tool("ask", {"input": "fine"})).is_error


@pytest.mark.parametrize("mode", MODES)
async def test_stateless_instance(server, mode):
    async with mcp_client(f"{server.url}/stateless/", key=KEY, mode=mode) as client:
        first = await client.call_tool("ask", {"input": "one"})
        sid = first.structured_content["session_id"]
        second = await client.call_tool("ask", {"input": "two", "session_id": sid})
        assert _text(second) == "[1 earlier] two"
    response = httpx.post(f"{server.url}/stateless/", json=_INIT,
                          headers={**_ACCEPT, "authorization": f"Bearer {KEY}"})
    assert response.status_code == 200 and "mcp-session-id" not in response.headers


# OAuth -------------------------------------------------------------------------------
async def test_a_locally_signed_jwt_is_accepted(server, issuer):
    token = issuer.token(audience=AUDIENCE, subject="ann", scope="agent")
    async with mcp_client(f"{server.url}/oauth/", key=token) as client:
        assert [t.name for t in (await client.list_tools()).tools] == ["consult"]
        result = await client.call_tool("consult", {"input": "hi"})
        assert _text(result) == "[0 earlier] hi"


@pytest.mark.parametrize("spoil", ["wrong_audience", "expired", "wrong_key", "no_scope",
                                   "api_key_of_another_instance"])
def test_bad_tokens_are_rejected(server, issuer, spoil):
    token = {
        "wrong_audience": lambda: issuer.token(audience="http://elsewhere/", scope="agent"),
        "expired": lambda: issuer.token(audience=AUDIENCE, scope="agent", expired=True),
        "wrong_key": lambda: issuer.token(audience=AUDIENCE, scope="agent", foreign_key=True),
        "no_scope": lambda: issuer.token(audience=AUDIENCE),
        "api_key_of_another_instance": lambda: KEY,
    }[spoil]()
    response = httpx.post(f"{server.url}/oauth/", json=_INIT,
                          headers={**_ACCEPT, "authorization": f"Bearer {token}"})
    assert response.status_code == (403 if spoil == "no_scope" else 401)
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert f'resource_metadata="{server.url}/oauth/.well-known/oauth-protected-resource"' \
        in challenge
    assert ('error="insufficient_scope"' if spoil == "no_scope"
            else 'error="invalid_token"') in challenge
    assert response.json()["error"]["code"] == -32001


def test_protected_resource_metadata(server, issuer):
    response = httpx.post(f"{server.url}/oauth/", json=_INIT, headers=_ACCEPT)
    assert response.status_code == 401
    assert "error=" not in response.headers["www-authenticate"]  # no token: no error code
    meta = httpx.get(f"{server.url}/oauth/.well-known/oauth-protected-resource").json()
    assert meta["resource"] == AUDIENCE
    assert meta["authorization_servers"] == [issuer.issuer]
    assert meta["scopes_supported"] == ["agent"]


def test_no_credentials_on_a_public_bind_refuses_to_start(tmp_path):
    from hostline.testing import make_host

    with pytest.raises(Exception, match=r"\[channels.mcp\].*loopback"):
        make_host(tmp_path, '[host]\nbind = "0.0.0.0:8000"\n[channels.mcp]\n')
    make_host(tmp_path / "ok", '[host]\nbind = "0.0.0.0:8000"\n[channels.mcp]\n'
                                'oauth_issuer = "https://i"\noauth_audience = "https://a/"\n'
                                'jwks_url = "https://i/jwks"\n')


async def test_isolation_keys_separate_sessions(server):
    a = {"x-agent-user-isolation-key": "tenant-a"}
    b = {"x-agent-user-isolation-key": "tenant-b"}
    async with mcp_client(f"{server.url}/mcp/", key=KEY, headers=a) as in_a, \
            mcp_client(f"{server.url}/mcp/", key=KEY, headers=b) as in_b:
        sid = (await in_a.call_tool("ask", {"input": "x"})).structured_content["session_id"]
        assert _text(await in_b.call_tool("ask", {"input": "y", "session_id": sid})) \
            == "[0 earlier] y"
        assert _text(await in_a.call_tool("ask", {"input": "z", "session_id": sid})) \
            == "[1 earlier] z"
