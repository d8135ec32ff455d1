"""OAuth v2 install into many workspaces: ``/install`` and ``/oauth/callback``.

``GET /<instance>/install`` sends the browser to Slack's authorize page with
a ``state`` that hostline signed (HMAC with the client secret), that
expires after ``state_ttl`` and whose nonce is also set in a cookie on that
browser. ``GET /<instance>/oauth/callback`` accepts the ``code`` only with
a valid, unexpired, unused state matching the cookie, exchanges it with
``oauth.v2.access`` and stores the workspace's bot token.
"""

from __future__ import annotations

import html
import logging
import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

import hostline

from .api import SlackError
from .installations import Installation
from .signing import SignatureError, make_state, read_state

if TYPE_CHECKING:
    from .channel import SlackChannel

log = logging.getLogger("hostline.slack")

__all__ = ["callback", "install"]

STATE_NS = "slack-oauth-state"
COOKIE = "hostline-slack-state"


def _page(status: int, title: str, text: str) -> HTMLResponse:
    body = (f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title>"
            f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>")
    return HTMLResponse(body, status_code=status, headers={"cache-control": "no-store"})


def redirect_uri(ch: SlackChannel, request: Request) -> str:
    """Where Slack sends the browser back: under ``[host] public_url`` when set."""
    public = ch.host.config.host.public_url
    base = public.rstrip("/") if public else str(request.base_url).rstrip("/")
    return f"{base}/{ch.name}/oauth/callback"


async def install(ch: SlackChannel, request: Request) -> Response:
    """Redirect to Slack's authorize page with a fresh signed state."""
    cfg = ch.config
    assert cfg.client_id is not None and cfg.client_secret is not None
    nonce = secrets.token_urlsafe(16)
    state = make_state(cfg.client_secret.reveal(), {"n": nonce, "i": ch.name}, cfg.state_ttl)
    query = urlencode({"client_id": cfg.client_id, "scope": ",".join(cfg.scopes),
                       "state": state, "redirect_uri": redirect_uri(ch, request)})
    resp = RedirectResponse(f"{cfg.authorize_url}?{query}", status_code=302,
                            headers={"cache-control": "no-store"})
    resp.set_cookie(COOKIE, nonce, max_age=int(cfg.state_ttl), path=f"/{ch.name}/oauth",
                    httponly=True, samesite="lax", secure=request.url.scheme == "https")
    return resp


async def callback(ch: SlackChannel, request: Request) -> Response:
    """Check the state, exchange the code, store the install."""
    cfg = ch.config
    assert cfg.client_id is not None and cfg.client_secret is not None
    q = request.query_params
    if q.get("error"):
        return _page(400, "Installation cancelled", f"Slack said: {q.get('error', '')[:100]}")
    code, state = q.get("code", ""), q.get("state", "")
    if not code or not state or len(code) > 512:
        return _page(400, "Installation failed", "The request has no code or state.")
    try:
        data = read_state(cfg.client_secret.reveal(), state)
    except SignatureError as exc:
        return _page(400, "Installation failed", f"Invalid state: {exc}. Start again.")
    nonce = data.get("n")
    if not isinstance(nonce, str) or data.get("i") != ch.name:
        return _page(400, "Installation failed", "Invalid state. Start again.")
    if request.cookies.get(COOKIE) != nonce:
        return _page(400, "Installation failed",
                     "This browser did not start the installation. Start again.")
    if not await ch.host.store.kv_add(STATE_NS, f"{ch.name}:{nonce}", 1, ttl=cfg.state_ttl):
        return _page(400, "Installation failed", "This state was already used. Start again.")
    try:
        answer = await ch.api.call("oauth.v2.access", {
            "code": code, "redirect_uri": redirect_uri(ch, request)}, token=None,
            auth=(cfg.client_id, cfg.client_secret.reveal()))
    except SlackError as exc:
        log.info("slack channel %r: oauth.v2.access failed: %s", ch.name, exc.error)
        return _page(400, "Installation failed", f"Slack refused the code: {exc.error}")
    raw_team = answer.get("team")
    team: dict[str, Any] = raw_team if isinstance(raw_team, dict) else {}
    token = answer.get("access_token")
    team_id = team.get("id")
    if not isinstance(token, str) or not isinstance(team_id, str) or \
            answer.get("token_type", "bot") != "bot":
        return _page(400, "Installation failed", "Slack's answer has no bot token.")

    def s(value: object) -> str | None:
        return value if isinstance(value, str) else None

    enterprise = answer.get("enterprise")
    installer = answer.get("authed_user")
    await ch.installations.save(Installation(
        team_id, hostline.Secret(token), s(answer.get("bot_user_id")), s(team.get("name")),
        s(answer.get("app_id")),
        tuple(x for x in str(answer.get("scope") or "").split(",") if x),
        s(enterprise.get("id")) if isinstance(enterprise, dict) else None,
        s(installer.get("id")) if isinstance(installer, dict) else None))
    log.info("slack channel %r: installed in workspace %s", ch.name, team_id)
    resp = _page(200, "Installed", f"The app is installed in {team.get('name') or team_id}. "
                                    "You can close this page.")
    resp.delete_cookie(COOKIE, path=f"/{ch.name}/oauth")
    return resp
