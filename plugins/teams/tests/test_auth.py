"""Inbound authentication: every way a token can be wrong -> 401, nothing runs."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import time

import pytest
from cryptography.hazmat.primitives import serialization

from hostline_teams.config import EMULATOR_ISSUERS
from hostline_teams.testing import RSAKey


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _forge(header: dict, claims: dict, secret: bytes = b"") -> str:
    head = _b64(json.dumps(header).encode())
    body = _b64(json.dumps(claims).encode())
    sig = _b64(hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()) \
        if secret else ""
    return f"Bearer {head}.{body}.{sig}"


def _claims(bf, activity, **over):
    now = int(time.time())
    return {"iss": "https://api.botframework.com", "aud": bf.app_id,
            "serviceurl": activity["serviceUrl"], "nbf": now, "exp": now + 3600, **over}


def _rejections(bf, activity):
    """name -> keyword arguments for bf.post() that must be refused."""
    now = time.time()
    public_pem = bf.openid.key.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    unendorsed = bf.openid.add_key(endorsements=["webchat"])
    return {
        "no token": ({"authorization": ""}, "no Authorization header"),
        "not a bearer token": ({"authorization": "Basic dXNlcjpwYXNz"}, "not a Bearer"),
        "empty bearer": ({"authorization": "Bearer "}, "not a Bearer"),
        "garbage token": ({"authorization": "Bearer not.a.jwt"}, "malformed"),
        "bad signature": ({"key": RSAKey(kid=bf.openid.key.kid)}, "signature is invalid"),
        "expired beyond the skew": ({"not_before": now - 7200, "expires": now - 400},
                                    "expired"),
        "not yet valid beyond the skew": ({"not_before": now + 400}, "not valid yet"),
        "wrong audience": ({"audience": "someone-elses-app-id"}, "audience"),
        "wrong issuer": ({"issuer": "https://evil.example.com"}, "issuer"),
        "emulator issuer not enabled": ({"issuer": EMULATOR_ISSUERS[0]}, "issuer"),
        "serviceurl mismatch": ({"service_url": "https://evil.example.com/"}, "serviceurl"),
        "no serviceurl claim": ({"omit": ["serviceurl"]}, "serviceurl"),
        "no exp": ({"omit": ["exp"]}, "'exp'"),
        "no nbf": ({"omit": ["nbf"]}, "'nbf'"),
        "missing endorsement": ({"key": unendorsed}, "endorse"),
        "no kid": ({"headers": {"kid": None}}, "no key id"),
        "alg none": ({"authorization": _forge({"alg": "none", "kid": bf.openid.key.kid},
                                              _claims(bf, activity))}, "RS256"),
        "HS256 with the public key as secret": ({"authorization": _forge(
            {"alg": "HS256", "kid": bf.openid.key.kid}, _claims(bf, activity), public_pem)},
            "RS256"),
        "RS512": ({"algorithm": "RS512"}, "RS256"),
    }


async def test_every_rejection_is_401_and_nothing_runs(bf, teams_toml, hostline_app, caplog):
    calls: list[str] = []

    async def target(request):
        calls.append(request.text)
        return "ok"

    async with hostline_app(teams_toml(), target=target) as (host, client):
        activity = bf.message("forged")
        for name, (kwargs, reason) in _rejections(bf, activity).items():
            caplog.clear()
            with caplog.at_level(logging.INFO, logger="hostline.teams"):
                response = await bf.post(client, activity, **kwargs)
            assert response.status_code == 401, (name, response.status_code, response.text)
            refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
            assert len(refused) == 1 and reason in refused[0], (name, refused)
            assert response.json()["error"]["code"] == "unauthorized", name
            assert await host.store.count_pending() == 0, name
        # An activity whose channel the key does not endorse.
        other = bf.message("forged", channel_id="webchat")
        assert (await bf.post(client, other)).status_code == 401

        # The same host still accepts a genuine activity; only that one ran.
        assert (await bf.post(client, bf.message("genuine"))).status_code == 202
        await bf.connector.wait_for(1, type="message")
        assert calls == ["genuine"]
        assert [r.text for r in bf.connector.activities(type="message")] == ["ok"]
        assert bf.connector.unauthorized == 0


async def test_within_the_clock_skew_is_accepted(bf, teams_toml, hostline_app):
    async with hostline_app(teams_toml()) as (_host, client):
        now = time.time()
        late = await bf.post(client, bf.message("late"), not_before=now - 3600,
                             expires=now - 120)
        early = await bf.post(client, bf.message("early"), not_before=now + 120)
        assert (late.status_code, early.status_code) == (202, 202)
        await bf.connector.wait_for(2, type="message")


async def test_unknown_kid_refreshes_once_then_rejects(bf, teams_toml, hostline_app):
    async with hostline_app(teams_toml()) as (_host, client):
        assert (await bf.post(client, bf.message("first"))).status_code == 202
        assert bf.openid.keys_requests == 1
        stranger = RSAKey()  # never published
        for _ in range(3):
            response = await bf.post(client, bf.message("x"), key=stranger)
            assert response.status_code == 401
        # One refresh for the unknown kid, then rate-limited: no more fetches.
        assert bf.openid.keys_requests == 2
        await bf.connector.wait_for(1, type="message")
        assert len(bf.connector.activities(type="message")) == 1


async def test_rotated_key_is_picked_up_on_refresh(bf, teams_toml, hostline_app):
    async with hostline_app(teams_toml()) as (_host, client):
        assert (await bf.post(client, bf.message("before"))).status_code == 202
        new_key = bf.openid.add_key()
        bf.openid.remove_key(bf.openid.key.kid)
        response = await bf.post(client, bf.message("after"), key=new_key)
        assert response.status_code == 202
        await bf.connector.wait_for(2, type="message")
        assert bf.openid.keys_requests == 2


async def test_keys_are_cached(bf, teams_toml, hostline_app):
    async with hostline_app(teams_toml()) as (_host, client):
        for i in range(5):
            assert (await bf.post(client, bf.message(f"m{i}"))).status_code == 202
        await bf.connector.wait_for(5, type="message")
        assert (bf.openid.metadata_requests, bf.openid.keys_requests) == (1, 1)


async def test_unreachable_keys_answer_503_so_the_connector_retries(bf, teams_toml,
                                                                  hostline_app):
    bf.openid.available = False
    async with hostline_app(teams_toml()) as (_host, client):
        response = await bf.post(client, bf.message("hi"))
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        bf.openid.available = True
        assert (await bf.post(client, bf.message("hi"))).status_code == 202
        await bf.connector.wait_for(1, type="message")


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'"text"', b""])
async def test_bad_bodies_are_400(bf, teams_toml, hostline_app, body):
    async with hostline_app(teams_toml()) as (_host, client):
        response = await client.post("/teams/api/messages", content=body,
                                     headers={"content-type": "application/json",
                                              "authorization": "Bearer x"})
        assert response.status_code == 400
        assert "error" in response.json()


async def test_emulator_tokens_only_when_enabled(bf, teams_toml, hostline_app):
    from hostline_teams.testing import FakeOpenIdService

    issuer = EMULATOR_ISSUERS[1]
    with FakeOpenIdService(issuer=issuer, endorsements=()) as emulator:
        activity = bf.message("from the emulator", channel_id="emulator")
        kwargs = {"key": emulator.key, "issuer": issuer, "omit": ["serviceurl"],
                  "claims": {"azp": bf.app_id, "ver": "2.0"}}
        toml = teams_toml(allow_emulator=True,
                          emulator_openid_metadata_url=emulator.metadata_url)
        async with hostline_app(toml) as (_host, client):
            assert (await bf.post(client, activity, **kwargs)).status_code == 202
            await bf.connector.wait_for(1, type="message")
            # Emulator tokens must name this bot in appid/azp.
            other = {**kwargs, "claims": {"azp": "another-app"}}
            assert (await bf.post(client, bf.message("x"), **other)).status_code == 401
        async with hostline_app(teams_toml()) as (_host, client):
            assert (await bf.post(client, activity, **kwargs)).status_code == 401


async def test_concurrent_first_requests_share_one_key_fetch(bf, teams_toml, hostline_app):
    async with hostline_app(teams_toml(typing=False)) as (_host, client):
        posts = [bf.post(client, bf.message(f"m{i}", conversation_id=f"a:c{i}"))
                 for i in range(10)]
        assert {r.status_code for r in await asyncio.gather(*posts)} == {202}
        assert (bf.openid.metadata_requests, bf.openid.keys_requests) == (1, 1)
        await bf.connector.wait_for(10, type="message")


async def test_a_verified_token_is_reused_until_it_expires(bf, teams_toml, hostline_app,
                                                           caplog):
    caplog.set_level(logging.INFO)
    async with hostline_app(teams_toml()) as (_host, client):
        now = time.time()
        first = bf.message("one")
        # Valid for about 1.5 s more (the 5-minute clock skew included).
        token = bf.sign(first, not_before=now - 3600, expires=now - 298.5)
        assert (await bf.post(client, first, authorization=token)).status_code == 202
        again = await bf.post(client, bf.message("two"), authorization=token)
        assert again.status_code == 202
        # What depends on the activity is checked on every use of the token.
        moved = {**bf.message("three"), "serviceUrl": "https://evil.example.com/"}
        refused = await bf.post(client, moved, authorization=token)
        assert refused.status_code == 401 and "serviceurl claim" in caplog.text
        await asyncio.sleep(2.0)
        late = await bf.post(client, bf.message("four"), authorization=token)
        assert late.status_code == 401 and "token has expired" in caplog.text
        await bf.connector.wait_for(2, type="message")
        assert sorted(r.text for r in bf.connector.activities(type="message")) == ["one", "two"]
