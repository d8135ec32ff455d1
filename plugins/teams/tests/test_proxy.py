"""A bot configured only with HTTPS_PROXY reaches the Bot Framework through a local proxy."""

from __future__ import annotations

from hostline.testing import ForwardProxy

_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


def test_https_proxy_from_the_environment(bf, hostline_server):
    # None of these names resolve: only the proxy's CONNECT tunnels reach the fakes.
    tunnels = {"login.botframework.test": bf.openid.url, "login.microsoft.test": bf.tokens.url,
               "smba.teams.test": bf.connector.url}
    with ForwardProxy(tunnels=tunnels) as proxy:
        env = {name: "" for var in _PROXY_VARS for name in (var, var.lower())}
        env.update({"HTTPS_PROXY": proxy.url, "https_proxy": proxy.url,
                    "SSL_CERT_FILE": str(proxy.ca_file)})
        toml = "[host]\n[host.outbox]\npoll_interval = 0.05\n" + bf.config_toml(
            typing=False, stream_interval=0.0,
            openid_metadata_url="https://login.botframework.test/v1/.well-known/openidconfiguration",
            token_url="https://login.microsoft.test/{tenant_id}/oauth2/v2.0/token")
        server = hostline_server(toml, env=env)
        activity = bf.message("hello through the proxy", service_url="https://smba.teams.test/")
        assert bf.post_sync(server.url, activity).status_code == 202
        [reply] = bf.connector.wait_for_sync(1, type="message", timeout=20)
        assert reply.text == "hello through the proxy"
        hosts = {target for method, target in proxy.requests if method == "CONNECT"}
        assert hosts == {f"{h}:443" for h in tunnels}
        server.stop()
