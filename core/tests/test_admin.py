"""The admin page over HTTP: who gets in, CSRF, actions, and bad input."""

from __future__ import annotations

import re

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

TOKEN = "adm1n-Token_xyz"
CONFIG = f'[host.admin]\nenabled = true\ntoken = "{TOKEN}"\n'
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', html).group(1)  # type: ignore


async def test_token_login_session_and_bearer(hostline_app):
    async with hostline_app(CONFIG) as (_host, client):
        r = await client.get("/_hostline/", headers={"accept": "text/html"})
        assert r.status_code == 303 and r.headers["location"] == "/_hostline/login"
        r = await client.get("/_hostline/api/stats")
        assert r.status_code == 401 and TOKEN not in r.text
        assert (await client.get("/_hostline/", headers={"Authorization": "Bearer nope"})
                ).status_code == 401
        r = await client.post("/_hostline/login", content="token=wrong",
                              headers={"content-type": "application/x-www-form-urlencoded"})
        assert r.status_code == 401 and "not right" in r.text
        r = await client.post("/_hostline/login", content=f"token={TOKEN}",
                              headers={"content-type": "application/x-www-form-urlencoded"})
        assert r.status_code == 303 and "httponly" in r.headers["set-cookie"].lower()
        assert "samesite=strict" in r.headers["set-cookie"].lower()
        page = await client.get("/_hostline/")
        assert page.status_code == 200 and "Dead letters" in page.text
        assert TOKEN not in page.text
        assert (await client.get("/_hostline/api/stats", headers=BEARER)).json()["queue"] == 0
        # A POST with the session but no CSRF token, or from another site, is refused.
        form = {"content-type": "application/x-www-form-urlencoded"}
        r = await client.post("/_hostline/actions/purge", content="ids=1", headers=form)
        assert r.status_code == 403 and "CSRF" in r.text
        token = csrf(page.text)
        r = await client.post("/_hostline/actions/purge", content=f"ids=1&csrf={token}",
                              headers={**form, "sec-fetch-site": "cross-site"})
        assert r.status_code == 403 and "cross-site" in r.text
        r = await client.post("/_hostline/actions/purge", content=f"ids=1&csrf={token}",
                              headers={**form, "origin": "http://evil.example"})
        assert r.status_code == 403
        r = await client.post("/_hostline/actions/purge", content=f"ids=1&csrf={token}",
                              headers=form)
        assert r.status_code == 303 and "purged%200" in r.headers["location"]
        r = await client.post("/_hostline/logout", content=f"csrf={token}", headers=form)
        assert r.status_code == 303
        client.cookies.clear()
        assert (await client.get("/_hostline/api/stats")).status_code == 401


async def test_without_a_token_only_loopback(hostline_app):
    async with hostline_app("[host.admin]\nenabled = true\n") as (host, client):
        assert (await client.get("/_hostline/")).status_code == 200   # ASGI client: loopback
        far = httpx.AsyncClient(transport=httpx.ASGITransport(
            app=host.build_app(lifespan=False), client=("203.0.113.9", 5000)),
            base_url="http://hostline.test")
        async with far:
            r = await far.get("/_hostline/")
            assert r.status_code == 403 and "loopback" in r.text


async def test_off_unless_enabled(hostline_app):
    async with hostline_app("") as (_host, client):
        assert (await client.get("/_hostline/")).status_code == 404


async def test_actions_on_dead_letters_and_people(hostline_app):
    async with hostline_app(CONFIG) as (host, client):
        task = await host.store.enqueue("nobody-handles-this", {"x": 1}, key="t1")
        for t in await host.store.claim("w", 5, 30, kinds=["nobody-handles-this"]):
            await host.store.reschedule(t.id, "w", "RuntimeError: boom", None)
        page = (await client.get("/_hostline/", headers=BEARER)).text
        assert f'data-task="{task}"' in page and "boom" in page
        r = await client.post("/_hostline/actions/retry", data={"ids": str(task)},
                              headers=BEARER)
        assert r.status_code == 303 and "queued%20again%201" in r.headers["location"]
        await host.store.link("telegram:31337", "u9", {"channel": "telegram",
                                                      "native_id": "31337"})
        r = await client.get("/_hostline/person", params={"identity": "telegram:31337"},
                             headers=BEARER)
        assert r.status_code == 200 and "Revoke link" in r.text
        r = await client.post("/_hostline/actions/erase", data={"identity": "telegram:31337"},
                              headers=BEARER)
        assert r.status_code == 303 and "erased" in r.headers["location"]
        assert await host.store.user_of("telegram:31337") is None
        actions = [e.action for e in await host.store.audit_list()]
        assert actions[:3] == ["erase", "sessions-show", "outbox-replay"]
        assert all(e.actor.startswith("admin:bearer@") for e in await host.store.audit_list())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(["/_hostline/actions/retry", "/_hostline/actions/purge",
                             "/_hostline/actions/erase", "/_hostline/actions/revoke",
                             "/_hostline/actions/nope", "/_hostline/login"]),
       body=st.binary(max_size=300))
async def test_hostile_form_bodies_never_500(hostline_app, path, body):
    async with hostline_app(CONFIG) as (_host, client):
        r = await client.post(path, content=body, headers=BEARER)
        assert r.status_code < 500
        r = await client.get("/_hostline/person", params={"identity": body.decode(
            "utf-8", "replace")}, headers=BEARER)
        assert r.status_code in (200, 303)
