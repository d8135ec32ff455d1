"""A bot configured only with HTTPS_PROXY reaches the Bot API through a local proxy."""

from __future__ import annotations

from typing import Any

from hostline.testing import ForwardProxy
from hostline_telegram.testing import FakeBotAPI

from .conftest import message, tg_config

_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


def proxy_env(proxy: ForwardProxy, **extra: str) -> dict[str, str]:
    env = {name: "" for var in _PROXY_VARS for name in (var, var.lower())}
    # (A lower-case variable, even empty, overrides the upper-case one.)
    env.update({"HTTPS_PROXY": proxy.url, "https_proxy": proxy.url,
                "SSL_CERT_FILE": str(proxy.ca_file), **extra})
    return env


def test_https_proxy_from_the_environment(hostline_server: Any, fake: FakeBotAPI) -> None:
    # api.telegram.test does not resolve: only the proxy's CONNECT tunnel reaches the fake.
    with ForwardProxy(tunnels={"api.telegram.test": fake.url}) as proxy:
        config = tg_config(fake, mode="polling", secret_token=None, polling_timeout=1,
                           api_base="https://api.telegram.test", host={"target": "echo"})
        server = hostline_server(config, env=proxy_env(proxy))
        fake.queue_update(message("through the proxy", chat_id=77))
        fake.wait_for(lambda: fake.texts(77), timeout=20)
        assert fake.texts(77) == ["through the proxy"]
        assert ("CONNECT", "api.telegram.test:443") in proxy.requests
        server.stop()


def test_trust_env_off_ignores_the_environment(hostline_server: Any, fake: FakeBotAPI) -> None:
    with ForwardProxy() as proxy:
        config = tg_config(fake, mode="polling", secret_token=None, polling_timeout=1,
                           trust_env=False, host={"target": "echo"})
        env = {name: "" for var in _PROXY_VARS for name in (var, var.lower())}
        env["HTTP_PROXY"] = env["http_proxy"] = proxy.url
        server = hostline_server(config, env=env)
        fake.queue_update(message("direct", chat_id=78))
        fake.wait_for(lambda: fake.texts(78), timeout=20)
        assert proxy.requests == []
        server.stop()
