"""Proxies from the environment in PooledTransport, through a real local proxy."""

from __future__ import annotations

import http.server
import ssl
import threading

import httpx
import pytest

from hostline.outbound import PooledTransport
from hostline.proxies import EnvironmentProxies
from hostline.testing_proxy import ForwardProxy


@pytest.fixture(scope="module")
def origin():
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            body = f"{self.headers.get('Host')} {self.path}".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


def test_environment_rules_follow_httpx():
    env = EnvironmentProxies.from_environ({
        "HTTPS_PROXY": "proxy.corp:3128", "ALL_PROXY": "http://all.corp:1",
        "no_proxy": "localhost, 10.0.0.1, internal.corp, .svc, http://plain.example"})
    assert env.https == "http://proxy.corp:3128"
    assert env.proxy_for("https", "api.telegram.org") == "http://proxy.corp:3128"
    assert env.proxy_for("http", "api.telegram.org") == "http://all.corp:1"
    for scheme, host in [("https", "localhost"), ("https", "10.0.0.1"),
                         ("https", "internal.corp"), ("https", "a.internal.corp"),
                         ("https", "x.svc"), ("http", "plain.example")]:
        assert env.proxy_for(scheme, host) is None, host
    assert env.proxy_for("https", "plain.example") == "http://proxy.corp:3128"
    assert env.proxy_for("https", "svc") == "http://proxy.corp:3128"
    assert env.proxy_for("https", "notinternal.corp") == "http://proxy.corp:3128"
    assert EnvironmentProxies.from_environ({"HTTPS_PROXY": "p:1", "NO_PROXY": "*"}).active is False
    assert EnvironmentProxies.from_environ({"https_proxy": "a:1", "HTTPS_PROXY": "b:1"}).https \
        == "http://a:1"


def test_repr_hides_credentials():
    env = EnvironmentProxies.from_environ({"HTTPS_PROXY": "http://user:s3cret@p:1"})
    assert "s3cret" not in repr(env) and "user" not in repr(env)


async def test_plain_http_goes_through_http_proxy(origin, clean_env):
    with ForwardProxy() as proxy:
        clean_env.setenv("HTTP_PROXY", proxy.url)
        async with httpx.AsyncClient(transport=PooledTransport()) as client:
            r = await client.get(f"{origin}/plain?x=1")
        assert r.status_code == 200 and r.text.endswith("/plain?x=1")
        assert proxy.requests == [("GET", f"{origin}/plain?x=1")]


async def test_no_proxy_and_trust_env_off_go_direct(origin, clean_env):
    with ForwardProxy() as proxy:
        clean_env.setenv("HTTP_PROXY", proxy.url)
        async with httpx.AsyncClient(transport=PooledTransport(trust_env=False)) as client:
            assert (await client.get(f"{origin}/direct")).status_code == 200
        clean_env.setenv("NO_PROXY", "127.0.0.1")
        async with httpx.AsyncClient(transport=PooledTransport()) as client:
            assert (await client.get(f"{origin}/bypassed")).status_code == 200
        assert proxy.requests == []


async def test_https_goes_through_a_connect_tunnel(origin, clean_env):
    with ForwardProxy(tunnels={"api.example.test": origin}) as proxy:
        clean_env.setenv("HTTPS_PROXY", proxy.url)
        assert proxy.ca_file is not None
        verify = ssl.create_default_context(cafile=str(proxy.ca_file))
        transport = PooledTransport(verify=verify)
        async with httpx.AsyncClient(transport=transport) as client:
            r1 = await client.get("https://api.example.test/tls")
            r2 = await client.get("https://api.example.test/again")
            with pytest.raises(httpx.ConnectError):  # http:// is not for HTTPS_PROXY
                await client.get("http://api.example.test/plain")
        assert r1.text == "api.example.test /tls" and r2.status_code == 200
        assert ("CONNECT", "api.example.test:443") in proxy.requests
