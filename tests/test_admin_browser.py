"""The admin page in a real headless Chromium against a real ``hostline serve``.

The Telegram Bot API is its local fake; people are seeded in the store or
talk through the webhook. Each test saves a screenshot (see ``browser.py``).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from browser import screenshot
from test_erase_e2e import rows
from test_linking_e2e import SECRET, tg_update

from hostline.store import Erasure, SQLiteStore
from hostline.testing import ServerProcess
from hostline_telegram.testing import FakeBotAPI

TOKEN = "browser-Admin_token-1"
ANN, CAROL = 7771112223, 6661113334
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def run(coro: Any) -> Any:
    """Run ``coro`` on a loop of its own thread (Playwright's sync API owns this one)."""
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(asyncio.run(coro)))
    thread.start()
    thread.join()
    return out[0]


class Env:
    def __init__(self, tg: FakeBotAPI, server: ServerProcess, config: Path) -> None:
        self.tg, self.server, self.config = tg, server, config
        self.url = server.url + "/_hostline/"
        self.db = config.parent / "state" / "hostline.sqlite3"

    def cli(self, *args: str) -> str:
        out = subprocess.run([sys.executable, "-m", "hostline", *args, "--config",
                              str(self.config)], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return out.stdout

    def dead_letter(self, chat: int, text: str) -> int:
        """A push the fake refuses for good: it lands in the dead letters."""
        self.tg.fail("sendMessage", chat_id=chat, status=502)
        self.cli("push", "--channel", "telegram", "--to", str(chat), text)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            tasks = self.dead()
            if tasks:
                return tasks[-1]
            time.sleep(0.1)
        raise AssertionError("the push did not die")

    def dead(self) -> list[int]:
        async def q() -> list[int]:
            store = SQLiteStore(self.db)
            await store.open()
            try:
                return [t.id for t in await store.list_tasks(["dead"])]
            finally:
                await store.close()
        return list(run(q()))


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    root = tmp_path_factory.mktemp("admin")
    with FakeBotAPI() as tg:
        config = root / "hostline.toml"
        config.write_text(
            f'[host]\nstate_dir = "{(root / "state").as_posix()}"\nshutdown_grace = 2\n'
            "[host.outbox]\npoll_interval = 0.05\nmax_attempts = 1\n"
            f'[host.admin]\nenabled = true\ntoken = "{TOKEN}"\n'
            f'[channels.telegram]\ntoken = "{tg.token}"\nsecret_token = "{SECRET}"\n'
            f'api_base = "{tg.url}"\n')

        async def seed() -> None:
            store = SQLiteStore(root / "state" / "hostline.sqlite3")
            await store.open()
            await store.link(f"telegram:{ANN}", "ann", {"channel": "telegram",
                                                        "native_id": str(ANN),
                                                        "display_name": "Ann"})
            await store.link("teams:29:ann-teams", "ann", {"channel": "teams",
                                                           "native_id": "29:ann-teams"})
            await store.close()

        run(seed())
        server = ServerProcess(config).start()
        try:
            r = httpx.post(server.url + "/telegram/webhook", json=tg_update("ann's secret", ANN),
                           headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
            assert r.status_code == 200
            tg.wait_for(lambda: "ann's secret" in tg.texts(ANN))
            yield Env(tg, server, config)
        finally:
            server.stop()


def logged_in(browser: Any, env: Env) -> Any:
    page = browser.new_context().new_page()
    page.goto(env.url)
    assert page.url.endswith("/_hostline/login")
    page.fill("input[name=token]", TOKEN)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(env.url)
    return page


def test_load_the_page_with_a_token(browser: Any, env: Env, record_property: Any) -> None:
    page = logged_in(browser, env)
    assert page.locator("tr[data-channel=telegram] td.h").inner_text() in ("ok", "degraded")
    assert page.locator("#chart path").count() == 4   # the script drew the series
    assert TOKEN not in page.content() and env.tg.token not in page.content()
    screenshot(page, "admin-overview", record_property)


def test_retry_a_dead_letter_and_see_it_delivered(browser: Any, env: Env,
                                                  record_property: Any) -> None:
    task = env.dead_letter(CAROL, "your report is ready")
    page = logged_in(browser, env)
    row = page.locator(f"tr[data-task='{task}']")
    assert "Bad Gateway" in row.inner_text()
    screenshot(page, "admin-dead-letter", record_property)
    row.locator("button", has_text="Retry").click()
    page.wait_for_selector(".note")
    assert "queued again 1" in page.locator(".note").inner_text()
    env.tg.wait_for(lambda: "your report is ready" in env.tg.texts(CAROL))
    page.reload()
    assert page.locator(f"tr[data-task='{task}']").count() == 0
    screenshot(page, "admin-dead-letter-retried", record_property)


def test_erase_a_linked_person(browser: Any, env: Env, record_property: Any) -> None:
    page = logged_in(browser, env)
    page.fill("input[name=identity]", f"telegram:{ANN}")
    page.get_by_role("button", name="Find person").click()
    assert page.locator("#identities tbody tr").count() == 2
    assert "ann's secret" in page.locator("#sessions").inner_text()
    screenshot(page, "admin-person", record_property)
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Erase this person").click()
    page.wait_for_selector(".note")
    assert "erased" in page.locator(".note").inner_text()
    assert "No stored sessions." in page.locator("#sessions").inner_text()
    assert "ann's secret" not in page.content()
    screenshot(page, "admin-person-erased", record_property)
    erasure = Erasure.of([f"telegram:{ANN}", "teams:29:ann-teams"])
    for table, row in rows(env.db):
        assert not erasure.mentions(row) and "ann's secret" not in row, (table, row)


def test_refused_without_a_token_and_on_a_cross_site_post(browser: Any, env: Env,
                                                          record_property: Any) -> None:
    stranger = browser.new_context().new_page()
    r = stranger.goto(env.server.url + "/_hostline/api/stats")
    assert r is not None and r.status == 401
    stranger.goto(env.url)
    assert stranger.url.endswith("/_hostline/login")
    screenshot(stranger, "admin-login-required", record_property)

    task = env.dead_letter(CAROL, "still dead")
    page = logged_in(browser, env)
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    target = env.server.url + "/_hostline/actions/purge"
    evil = (f'<form id="f" method="post" action="{target}"><input name="ids" value="{task}">'
            f'<input name="csrf" value="{csrf}"></form>'
            '<script>document.getElementById("f").submit()</script>').encode()

    class Evil(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(evil)))
            self.end_headers()
            self.wfile.write(evil)

    other = ThreadingHTTPServer(("127.0.0.1", 0), Evil)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        with page.expect_response(target) as answer:
            page.goto(f"http://127.0.0.1:{other.server_address[1]}/")
        assert answer.value.status == 403
        assert "cross-site request refused" in page.content()
        screenshot(page, "admin-cross-site-refused", record_property)
    finally:
        other.shutdown()
        other.server_close()
    assert task in env.dead()   # nothing was purged
    r = httpx.post(target, data={"ids": str(task)}, headers=BEARER, follow_redirects=False)
    assert r.status_code == 303 and task not in env.dead()
