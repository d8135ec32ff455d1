"""The admin page at ``/_hostline/`` (``[host.admin] enabled = true``).

Who may use it: with ``[host.admin] token`` set, a person who typed the
token into the login form (a signed session cookie, ``HttpOnly``,
``SameSite=Strict``) or a script sending ``Authorization: Bearer TOKEN``;
without a token, loopback clients only. Every state-changing request is a
POST that must carry the page's CSRF token and must not come from another
site (``Sec-Fetch-Site`` / ``Origin``); Bearer requests carry no ambient
credential and need no CSRF token. Actions go through
:class:`hostline.operator.Operator`, so they are audited like the CLI's.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import ipaddress
import logging
import secrets
import time
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from . import admin_page as page
from .operator import Operator, audit_key, parse_identity
from .samples import last_hour

if TYPE_CHECKING:
    from .host import Host

__all__ = ["ErrorLog", "routes"]

PREFIX = "/_hostline"
COOKIE = "hostline_admin"


class ErrorLog(logging.Handler):
    """The last WARNING-or-worse log records of this process, for the page."""

    def __init__(self, size: int = 100) -> None:
        super().__init__(logging.WARNING)
        self.records: collections.deque[tuple[float, str, str, str]] = collections.deque(
            maxlen=size)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.records.append((record.created, record.levelname, record.name,
                                 record.getMessage()[:500]))
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)


def _loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Auth:
    """Sessions, Bearer tokens and CSRF tokens of one host."""

    def __init__(self, host: Host) -> None:
        cfg = host.config.host.admin
        self.token = cfg.token.reveal() if cfg.token else None
        self.ttl = cfg.session_seconds
        # Keys shared by every worker (and kept across restarts): derived
        # from the token, or from the audit key kept in the state dir.
        base = self.token.encode() if self.token else audit_key(host.config)
        self._key = hmac.new(base, b"hostline-admin-session", hashlib.sha256).digest()

    def _sign(self, value: str) -> str:
        return hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()[:40]

    def new_session(self) -> str:
        value = f"{int(time.time() + self.ttl)}.{secrets.token_hex(8)}"
        return f"{value}.{self._sign(value)}"

    def session(self, request: Request) -> str | None:
        """The valid session id of the request's cookie, if any."""
        raw = request.cookies.get(COOKIE, "")
        expiry, _, rest = raw.partition(".")
        nonce, _, sig = rest.partition(".")
        if not (expiry.isdigit() and nonce and sig):
            return None
        if not hmac.compare_digest(sig, self._sign(f"{expiry}.{nonce}")):
            return None
        return nonce if int(expiry) > time.time() else None

    def bearer(self, request: Request) -> bool:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        return bool(self.token) and scheme.lower() == "bearer" and hmac.compare_digest(
            value.strip().encode(), self.token.encode())  # type: ignore[union-attr]

    def who(self, request: Request) -> tuple[str, str] | None:
        """``(how, session)`` of an allowed request, else ``None``."""
        if self.token is None:
            return ("loopback", "loopback") if _loopback(request) else None
        if self.bearer(request):
            return ("bearer", "")
        session = self.session(request)
        return ("session", session) if session else None

    def csrf(self, session: str) -> str:
        return self._sign(f"csrf:{session}")

    def cross_site(self, request: Request) -> bool:
        """A request another site (another port counts) made the browser send."""
        site = request.headers.get("sec-fetch-site")
        if site is not None:
            return site not in ("same-origin", "none")
        origin = request.headers.get("origin")
        if origin is None:
            return False  # not a browser (curl, a script)
        return origin == "null" or origin.partition("://")[2] != request.headers.get("host")


def routes(host: Host, errors: ErrorLog) -> list[BaseRoute]:
    """The admin routes, mounted at ``/_hostline``."""
    auth = _Auth(host)

    def refuse(request: Request, status: int, message: str) -> Response:
        if "text/html" in request.headers.get("accept", "") and status == 401 \
                and request.method == "GET" and not request.url.path.startswith(
                    f"{PREFIX}/api/"):
            return RedirectResponse(f"{PREFIX}/login", status_code=303)
        return JSONResponse({"error": {"message": message, "type": "permission_error",
                                       "param": None, "code": "admin_refused"}},
                            status_code=status, headers={"Cache-Control": "no-store"})

    def guard(request: Request) -> tuple[str, str] | Response:
        if request.method == "POST" and auth.cross_site(request):
            return refuse(request, 403, "cross-site request refused")
        who = auth.who(request)
        if who is None:
            if auth.token is None:
                return refuse(request, 403, "the admin page answers loopback clients only "
                                            "when [host.admin] has no token")
            return refuse(request, 401, "log in or send Authorization: Bearer <token>")
        return who

    async def form(request: Request, who: tuple[str, str]) -> dict[str, str] | Response:
        """The POST's fields, once it passed the CSRF check."""
        fields = {k: v[0] for k, v in parse_qs((await request.body()).decode(
            "utf-8", "replace")).items()}
        if who[0] != "bearer" and not hmac.compare_digest(
                fields.get("csrf", ""), auth.csrf(who[1])):
            return refuse(request, 403, "missing or wrong CSRF token")
        return fields

    def operator(request: Request, who: tuple[str, str]) -> Operator:
        client = request.client.host if request.client else "?"
        label = who[0] if who[0] != "session" else f"session:{who[1][:6]}"
        return Operator(host.store, audit_key(host.config), f"admin:{label}@{client}")

    def html(body: str, status: int = 200, cookie: str | None = None) -> HTMLResponse:
        r = HTMLResponse(body, status_code=status, headers={
            "Cache-Control": "no-store", "X-Frame-Options": "DENY",
            "Content-Security-Policy": "default-src 'self'; script-src 'self'; "
                                       "style-src 'self'; frame-ancestors 'none'",
            "Referrer-Policy": "same-origin"})
        if cookie is not None:
            r.set_cookie(COOKIE, cookie, max_age=int(auth.ttl) if cookie else 0,
                         path=PREFIX, httponly=True, samesite="strict")
        return r

    def back(where: str, note: str) -> Response:
        sep = "&" if "?" in where else "?"
        return RedirectResponse(f"{PREFIX}/{where}{sep}note={quote(note)}", status_code=303)

    async def login(request: Request) -> Response:
        if request.method == "GET":
            return html(page.login(error=None))
        if auth.cross_site(request):
            return refuse(request, 403, "cross-site request refused")
        fields = {k: v[0] for k, v in parse_qs((await request.body()).decode(
            "utf-8", "replace")).items()}
        if auth.token is None:
            return back("", "no token is configured: nothing to log in to")
        if not hmac.compare_digest(fields.get("token", "").encode(), auth.token.encode()):
            return html(page.login(error="That token is not right."), status=401)
        r = RedirectResponse(f"{PREFIX}/", status_code=303)
        r.set_cookie(COOKIE, auth.new_session(), max_age=int(auth.ttl), path=PREFIX,
                     httponly=True, samesite="strict",
                     secure=request.url.scheme == "https")
        return r

    async def logout(request: Request) -> Response:
        who = guard(request)
        if isinstance(who, Response):
            return who
        fields = await form(request, who)
        if isinstance(fields, Response):
            return fields
        r = RedirectResponse(f"{PREFIX}/login", status_code=303)
        r.delete_cookie(COOKIE, path=PREFIX)
        return r

    async def overview(request: Request) -> Response:
        who = guard(request)
        if isinstance(who, Response):
            return who
        stats = await host.store.stats()
        dead = await host.store.list_tasks(["dead"], limit=200)
        return html(page.overview(
            host, stats, await last_hour(host.store), dead, list(errors.records),
            csrf=auth.csrf(who[1]), note=request.query_params.get("note"),
            can_logout=who[0] == "session"))

    async def stats_json(request: Request) -> Response:
        who = guard(request)
        if isinstance(who, Response):
            return who
        stats = await host.store.stats()
        return JSONResponse({"queue": stats.tasks.get("pending", 0) + stats.tasks.get(
            "leased", 0), "tasks": stats.tasks, "last_hour": await last_hour(host.store)},
            headers={"Cache-Control": "no-store"})

    async def person(request: Request) -> Response:
        who = guard(request)
        if isinstance(who, Response):
            return who
        raw = request.query_params.get("identity", "")
        try:
            key = parse_identity(raw)
        except ValueError as exc:
            return back("", str(exc))
        op = operator(request, who)
        found = await op.person(key)
        views = await op.sessions(found)
        await op.audit("sessions-show", op.subject(found), sessions=len(views))
        return html(page.person(found, views, csrf=auth.csrf(who[1]),
                                note=request.query_params.get("note"),
                                can_logout=who[0] == "session"))

    async def action(request: Request) -> Response:
        who = guard(request)
        if isinstance(who, Response):
            return who
        fields = await form(request, who)
        if isinstance(fields, Response):
            return fields
        op = operator(request, who)
        name = request.path_params["action"]
        try:
            if name in ("retry", "purge"):
                ids = [int(i) for i in fields.get("ids", "").split(",") if i.strip()]
                tasks = await op.matching_tasks(ids=ids or None, states=("dead",))
                fn = op.replay if name == "retry" else op.purge
                n = await fn([t.id for t in tasks])
                return back("", f"{'queued again' if name == 'retry' else 'purged'} "
                                f"{n} dead letter(s)")
            key = parse_identity(fields.get("identity", ""))
            if name == "revoke":
                done = await op.revoke_link(key)
                return back(f"person?identity={quote(key)}",
                            "link revoked" if done else "that identity was not linked")
            if name == "erase":
                counts = await op.erase(await op.person(key))
                return back(f"person?identity={quote(key)}",
                            f"erased {sum(counts.values())} stored row(s)")
        except ValueError as exc:
            return back("", str(exc))
        return refuse(request, 404, f"no admin action {name!r}")

    async def script(request: Request) -> Response:
        return Response(page.SCRIPT, media_type="text/javascript",
                        headers={"Cache-Control": "no-cache"})

    async def style(request: Request) -> Response:
        return Response(page.STYLE, media_type="text/css", headers={"Cache-Control": "no-cache"})

    async def slash(request: Request) -> Response:
        return RedirectResponse(f"{PREFIX}/", status_code=308)

    return [Route(PREFIX, slash, methods=["GET"]), Mount(PREFIX, routes=[
        Route("/", overview, methods=["GET"]),
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/api/stats", stats_json, methods=["GET"]),
        Route("/person", person, methods=["GET"]),
        Route("/actions/{action}", action, methods=["POST"]),
        Route("/admin.js", script, methods=["GET"]),
        Route("/admin.css", style, methods=["GET"]),
    ])]
