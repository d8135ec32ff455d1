"""The fakes validate requests the way the real services do."""

from __future__ import annotations

import httpx
import pytest

TOKEN_FORM = {"grant_type": "client_credentials", "scope": "https://api.botframework.com/.default"}


def _token_url(bf, tenant="botframework.com"):
    return bf.tokens.token_url.replace("{tenant_id}", tenant)


@pytest.mark.parametrize(("change", "status", "error"), [
    ({}, 200, None),
    ({"client_secret": "nope"}, 401, "invalid_client"),
    ({"client_id": "someone-else"}, 400, "unauthorized_client"),
    ({"scope": "https://graph.microsoft.com/.default"}, 400, "invalid_scope"),
    ({"grant_type": "password"}, 400, "unsupported_grant_type"),
])
def test_token_endpoint_validates_the_grant(bf, change, status, error):
    form = {**TOKEN_FORM, "client_id": bf.app_id, "client_secret": bf.app_password, **change}
    response = httpx.post(_token_url(bf), data=form)
    assert response.status_code == status
    body = response.json()
    if error:
        assert body["error"] == error
    else:
        assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
        claims = bf.tokens.verify(body["access_token"])
        assert claims["appid"] == bf.app_id and claims["aud"] == "https://api.botframework.com"


def test_token_endpoint_checks_tenant_and_encoding(bf):
    form = {**TOKEN_FORM, "client_id": bf.app_id, "client_secret": bf.app_password}
    assert httpx.post(_token_url(bf, "other-tenant"), data=form).status_code == 400
    assert httpx.post(_token_url(bf), json=form).status_code == 400


def _token(bf):
    form = {**TOKEN_FORM, "client_id": bf.app_id, "client_secret": bf.app_password}
    return httpx.post(_token_url(bf), data=form).json()["access_token"]


def test_connector_checks_bearer_tokens(bf):
    url = f"{bf.connector.url}/v3/conversations/a%3Ax/activities"
    message = {"type": "message", "text": "hi"}
    assert httpx.post(url, json=message).status_code == 401
    assert httpx.post(url, json=message, headers={"Authorization": "Bearer junk"}
                      ).status_code == 401
    # A token signed by someone else's key.
    inbound = bf.sign({"serviceUrl": bf.service_url})
    assert httpx.post(url, json=message, headers={"Authorization": inbound}).status_code == 401
    token = _token(bf)
    ok = httpx.post(url, json=message, headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200 and ok.json()["id"]
    [received] = bf.connector.activities()
    assert received.conversation_id == "a:x" and received.text == "hi"
    bf.tokens.revoke_all()
    assert httpx.post(url, json=message, headers={"Authorization": f"Bearer {token}"}
                      ).status_code == 401
    assert bf.connector.unauthorized == 4


def test_connector_enforces_the_streaming_rules(bf):
    url = f"{bf.connector.url}/v3/conversations/a%3Ax/activities"
    headers = {"Authorization": f"Bearer {_token(bf)}"}

    def send(kind, text, **info):
        activity = {"type": kind, "text": text,
                    "entities": [{"type": "streaminfo", **info}]}
        return httpx.post(url, json=activity, headers=headers)

    assert send("typing", "x", streamType="streaming", streamSequence=2).status_code == 400
    first = send("typing", "x", streamType="informative", streamSequence=1)
    assert first.status_code == 201
    sid = first.json()["id"]
    assert send("typing", "x y", streamType="streaming", streamSequence=2,
                streamId=sid).status_code == 202
    assert send("message", "x y", streamType="final", streamSequence=3,
                streamId=sid).status_code == 400
    assert send("typing", "x y", streamType="streaming", streamSequence=3,
                streamId="unknown").status_code == 400
    assert send("message", "x y", streamType="final", streamId=sid).status_code == 202
    late = send("typing", "x y z", streamType="streaming", streamSequence=4, streamId=sid)
    assert late.status_code == 403
    assert late.json()["error"]["code"] == "ContentStreamNotAllowed"


def test_connector_failure_injection(bf):
    url = f"{bf.connector.url}/v3/conversations/c/activities/1"
    headers = {"Authorization": f"Bearer {_token(bf)}"}
    bf.connector.fail_next(429, retry_after="7")
    response = httpx.post(url, json={"type": "message", "text": "x"}, headers=headers)
    assert response.status_code == 429 and response.headers["retry-after"] == "7"
    response = httpx.post(url, json={"type": "message", "text": "x"}, headers=headers)
    assert response.status_code == 200
    [received] = bf.connector.activities()
    assert received.reply_to_id == "1"


def test_openid_documents(bf):
    metadata = httpx.get(bf.openid.metadata_url).json()
    assert metadata["issuer"] == "https://api.botframework.com"
    assert metadata["id_token_signing_alg_values_supported"] == ["RS256"]
    keys = httpx.get(metadata["jwks_uri"]).json()["keys"]
    assert [k["kid"] for k in keys] == [bf.openid.key.kid]
    assert keys[0]["endorsements"] == ["msteams"] and keys[0]["kty"] == "RSA"


async def test_standalone_fakes_as_in_the_readme(hostline_app):
    from hostline_teams.testing import FakeBotFramework

    async def agent(request):
        return f"you said {request.text}"

    with FakeBotFramework(app_id="my-bot", app_password="s3cret") as bf:
        async with hostline_app(bf.config_toml(stream_interval=0), target=agent) as (_, client):
            response = await bf.post(client, bf.message("hello"))
            assert response.status_code == 202
            [reply] = await bf.connector.wait_for(1, type="message")
            assert reply.text == "you said hello"
            assert reply.token_claims["appid"] == "my-bot"
