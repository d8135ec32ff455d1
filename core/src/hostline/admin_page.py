"""The HTML of the admin page: server-rendered, every value escaped.

Nothing from the configuration is shown but instance and plugin names, so
no secret can reach the page. The script only draws the chart, refreshes
it, and asks before destructive actions.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .host import Host
    from .operator import Person, SessionView
    from .store import StoreStats, Task

__all__ = ["SCRIPT", "STYLE", "login", "overview", "person"]


def _ts(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at)) if at else "-"


def _script_json(value: Any) -> str:
    """JSON safe inside a ``<script>`` element (no ``</script>`` can be formed)."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace(
        "&", "\\u0026")


def _layout(title: str, body: str, *, csrf: str | None = None, note: str | None = None,
            can_logout: bool = False) -> str:
    nav = ""
    if csrf is not None:
        nav = ('<nav><a href="/_hostline/">Overview</a>'
               '<form method="get" action="/_hostline/person" class="find">'
               '<input name="identity" placeholder="channel:id" aria-label="identity" '
               'required><button>Find person</button></form>')
        if can_logout:
            nav += _post("logout", "Log out", csrf, {}, path="/_hostline/logout")
        nav += "</nav>"
    flash = f'<p class="note" role="status">{escape(note)}</p>' if note else ""
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{escape(title)} · hostline</title>'
            f'<link rel="stylesheet" href="/_hostline/admin.css"></head><body>'
            f'<header><h1>hostline</h1>{nav}</header><main>{flash}{body}</main>'
            f'<script src="/_hostline/admin.js"></script></body></html>')


def _post(action: str, label: str, csrf: str, fields: dict[str, str], *,
          confirm: str | None = None, path: str | None = None) -> str:
    hidden = "".join(f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">'
                     for k, v in {"csrf": csrf, **fields}.items())
    ask = f' data-confirm="{escape(confirm)}"' if confirm else ""
    return (f'<form method="post" action="{path or "/_hostline/actions/" + action}"'
            f' class="inline"{ask}>{hidden}<button name="do" value="{escape(action)}">'
            f'{escape(label)}</button></form>')


def _where(task: Task) -> str:
    dest = task.payload.get("destination")
    if isinstance(dest, dict):
        return f"{dest.get('channel')}:{dest.get('address')}"
    return task.partition if not task.partition.startswith("~") else "-"


def _channel_of(task: Task) -> str:
    dest = task.payload.get("destination")
    if task.kind == "push" and isinstance(dest, dict):
        return str(dest.get("channel"))
    return task.kind.partition(":")[0]


def login(error: str | None) -> str:
    """The login form."""
    message = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    return _layout("Log in", f'<section class="login"><h2>Log in</h2>{message}'
                   '<form method="post" action="/_hostline/login">'
                   '<label>Admin token <input type="password" name="token" '
                   'autocomplete="current-password" required autofocus></label>'
                   '<button>Log in</button></form></section>')


def overview(host: Host, stats: StoreStats, points: list[dict[str, Any]],
             dead: Sequence[Task], errors: Sequence[tuple[float, str, str, str]], *,
             csrf: str, note: str | None, can_logout: bool) -> str:
    """Channels and health, the queue chart, dead letters, recent errors."""
    pending = stats.tasks.get("pending", 0) + stats.tasks.get("leased", 0)
    hw = host.config.host.outbox.high_water
    oldest = "-" if stats.oldest_pending_at is None else \
        f"{time.time() - stats.oldest_pending_at:.0f} s"
    summary = (f'<section><h2>Queue</h2><dl class="facts">'
               f'<dt>Queued</dt><dd id="queue">{pending}</dd>'
               f'<dt>High water</dt><dd>{hw}{" (overloaded)" if pending >= hw else ""}</dd>'
               f'<dt>Dead letters</dt><dd id="dead-count">{stats.tasks.get("dead", 0)}</dd>'
               f'<dt>Oldest queued</dt><dd>{oldest}</dd>'
               f'<dt>Sessions</dt><dd>{stats.sessions}</dd><dt>Links</dt><dd>{stats.links}</dd>'
               f'</dl><h3>Last hour</h3><figure><svg id="chart" viewBox="0 0 600 160" '
               f'role="img" aria-label="tasks done, retried and dead per minute, and queue '
               f'depth, over the last hour"></svg><figcaption><span class="k done">done</span>'
               f'<span class="k retry">retried</span><span class="k dead">dead</span>'
               f'<span class="k queue">queue</span></figcaption></figure>'
               f'<script type="application/json" id="series">{_script_json(points)}'
               f'</script></section>')
    recent = [s for s in host.runner.status if s.at > time.time() - 600]
    rows = []
    for name in host.channels:
        dead_here = sum(1 for t in dead if _channel_of(t) == name)
        queued = sum(n for k, n in stats.kinds.items()
                     if k.startswith(f"{name}:") and not k.endswith(":dead"))
        retries = sum(1 for s in recent if s.outcome == "retry" and s.kind.startswith(name))
        health = "failing" if dead_here else "degraded" if retries else "ok"
        if not host.ready:
            health = "starting"
        rows.append(f'<tr data-channel="{escape(name)}"><td>{escape(name)}</td>'
                    f'<td>{escape(host.config.channels[name].common.plugin)}</td>'
                    f'<td>{queued}</td>'
                    f'<td>{dead_here}</td><td class="h {health}">{health}</td></tr>')
    channels = ('<section><h2>Channels</h2><table><thead><tr><th>Instance</th><th>Plugin</th>'
                '<th>Queued</th><th>Dead</th><th>Health</th></tr></thead>'
                f'<tbody>{"".join(rows)}</tbody></table></section>')
    ids = ",".join(str(t.id) for t in dead)
    dead_rows = "".join(
        f'<tr data-task="{t.id}"><td>{t.id}</td><td>{escape(t.kind)}</td>'
        f'<td>{escape(_where(t))}</td><td>{t.attempts}</td>'
        f'<td class="err">{escape(t.last_error or "")}</td><td>{_ts(t.created_at)}</td>'
        f'<td>{_post("retry", "Retry", csrf, {"ids": str(t.id)})}'
        f'{_post("purge", "Purge", csrf, {"ids": str(t.id)}, confirm="Delete this task?")}'
        f'</td></tr>' for t in dead)
    bulk = (_post("retry", "Retry all", csrf, {"ids": ids})
            + _post("purge", "Purge all", csrf, {"ids": ids},
                    confirm=f"Delete {len(dead)} dead letters?")) if dead else ""
    letters = ('<section><h2>Dead letters</h2>'
               + (f'<table id="dead"><thead><tr><th>Id</th><th>Kind</th><th>Where</th>'
                  f'<th>Attempts</th><th>Last error</th><th>Queued</th><th></th></tr></thead>'
                  f'<tbody>{dead_rows}</tbody></table>{bulk}' if dead
                  else '<p id="dead">No dead letters.</p>') + '</section>')
    err_rows = "".join(f"<tr><td>{_ts(at)}</td><td>{escape(level)}</td><td>{escape(name)}</td>"
                       f'<td class="err">{escape(msg)}</td></tr>'
                       for at, level, name, msg in reversed(errors))
    problems = ('<section><h2>Recent errors</h2>'
                + (f'<table id="errors"><tbody>{err_rows}</tbody></table>' if err_rows
                   else '<p id="errors">None since this process started.</p>') + '</section>')
    return _layout("Overview", summary + channels + letters + problems, csrf=csrf, note=note,
                   can_logout=can_logout)


def person(found: Person, views: Sequence[SessionView], *, csrf: str,
           note: str | None, can_logout: bool = False) -> str:
    """A person's identities (with revoke), sessions and history, and erase."""
    ident_rows = "".join(
        f'<tr data-identity="{escape(i.key)}"><td>{escape(i.channel)}</td>'
        f'<td>{escape(i.native_id)}</td><td>{escape(i.display_name or "")}</td>'
        f'<td>{_post("revoke", "Revoke link", csrf, {"identity": i.key}) if found.user_id else ""}'
        f'</td></tr>' for i in found.identities)
    linked = "linked" if found.user_id else "not linked to other accounts"
    sessions = []
    for v in views:
        lines = "".join(f'<li class="{escape(m.role)}"><b>{escape(m.role)}</b> '
                        f'{escape(m.text)}</li>' for m in v.history)
        sessions.append(f'<article class="session"><h3>{escape(v.info.key)}</h3>'
                        f'<p>{v.info.messages} messages, updated {_ts(v.info.updated_at)}</p>'
                        f'<ol class="history">{lines}</ol></article>')
    body = (f'<section><h2>Person {escape(found.key)}</h2><p>{linked}</p>'
            f'<table id="identities"><thead><tr><th>Channel</th><th>Id</th><th>Name</th>'
            f'<th></th></tr></thead><tbody>{ident_rows}</tbody></table>'
            + _post("erase", "Erase this person", csrf, {"identity": found.key},
                    confirm="Erase everything stored about this person on every linked "
                            "channel? This cannot be undone.")
            + '</section><section id="sessions"><h2>Sessions</h2>'
            + ("".join(sessions) or "<p>No stored sessions.</p>") + "</section>")
    return _layout(f"Person {found.key}", body, csrf=csrf, note=note, can_logout=can_logout)


STYLE = """
body{font:15px/1.4 system-ui,sans-serif;margin:0;color:#1d232b;background:#f6f7f9}
header{display:flex;gap:1.5rem;align-items:center;padding:.5rem 1.5rem;background:#1d232b;
color:#fff}header h1{font-size:1.1rem;margin:0}nav{display:flex;gap:1rem;align-items:center}
nav a{color:#fff}main{padding:1rem 1.5rem;max-width:1100px}section{background:#fff;
border:1px solid #dde1e6;border-radius:6px;padding:.75rem 1rem;margin:0 0 1rem}
h2{font-size:1.05rem;margin:.2rem 0 .6rem}table{border-collapse:collapse;width:100%}
td,th{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #eef0f3;vertical-align:top}
.facts{display:grid;grid-template-columns:repeat(6,auto);gap:.2rem 1rem}.facts dd{margin:0;
font-weight:600}.inline{display:inline}.note{background:#e8f4ea;padding:.5rem;border-radius:4px}
.error{color:#a40000}.err{font-family:ui-monospace,monospace;font-size:.85em;color:#7a1f1f}
.h.ok{color:#17692b}.h.degraded{color:#946200}.h.failing{color:#a40000}
svg{width:100%;height:160px;background:#fbfcfd}.k{margin-right:1rem}.k:before{content:"";
display:inline-block;width:.8em;height:.8em;margin-right:.3em;background:var(--c)}
.k:after{content:" (" attr(data-max) ")";color:#667}.k:not([data-max]):after{content:""}
.done{--c:#2f7d4a}.retry{--c:#c48a00}.dead{--c:#b3261e}.queue{--c:#3b6fd4}
.history{padding-left:1.2rem}.history .assistant{color:#334}.login{max-width:360px}
button{cursor:pointer}
"""

SCRIPT = r"""
(function () {
  "use strict";
  var COLORS = {done: "#2f7d4a", retry: "#c48a00", dead: "#b3261e", queue: "#3b6fd4"};
  function draw(points) {
    var svg = document.getElementById("chart");
    if (!svg || !points.length) return;
    var w = 600, h = 160, pad = 4, ns = "http://www.w3.org/2000/svg";
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    ["done", "retry", "dead", "queue"].forEach(function (name) {
      var max = 1;
      points.forEach(function (p) { max = Math.max(max, p[name] || 0); });
      var d = points.map(function (p, i) {
        var x = pad + i * (w - 2 * pad) / Math.max(1, points.length - 1);
        var y = h - pad - ((p[name] || 0) / max) * (h - 2 * pad);
        return (i ? "L" : "M") + x.toFixed(1) + " " + y.toFixed(1);
      }).join(" ");
      var key = document.querySelector(".k." + name);
      if (key) key.setAttribute("data-max", name === "queue" ? "max " + max
                                : "max " + max + "/min");
      var path = document.createElementNS(ns, "path");
      path.setAttribute("d", d);
      path.setAttribute("fill", "none");
      path.setAttribute("stroke", COLORS[name]);
      path.setAttribute("stroke-width", name === "queue" ? "2" : "1.5");
      path.setAttribute("data-series", name);
      svg.appendChild(path);
    });
  }
  var series = document.getElementById("series");
  if (series) draw(JSON.parse(series.textContent));
  if (document.getElementById("chart")) {
    setInterval(function () {
      fetch("/_hostline/api/stats", {credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (s) {
          if (!s) return;
          document.getElementById("queue").textContent = s.queue;
          draw(s.last_hour);
        }).catch(function () {});
    }, 15000);
  }
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
    });
  });
})();
"""
