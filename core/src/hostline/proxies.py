"""Proxies from the environment, chosen per request the way httpx does with
``trust_env``.

``HTTP_PROXY``, ``HTTPS_PROXY`` and ``ALL_PROXY`` (any case; read through
:func:`urllib.request.getproxies`, which also ignores ``HTTP_PROXY`` under
CGI) name the proxy for ``http://`` URLs, ``https://`` URLs, and either.
The scheme-specific one wins over ``ALL_PROXY``. ``NO_PROXY`` lists hosts
reached directly: ``*`` (everything), an IP address or ``localhost`` (that
host), ``example.com`` (it and its subdomains), ``.example.com`` (its
subdomains only) or ``scheme://host`` (that scheme and host). A proxy
written without a scheme is an ``http://`` proxy.
"""

from __future__ import annotations

import ipaddress
import urllib.request
from collections.abc import Mapping

import attrs

__all__ = ["EnvironmentProxies"]


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _bypass_matches(entry: str, scheme: str, host: str) -> bool:
    if "://" in entry:
        want_scheme, _, want_host = entry.partition("://")
        return want_scheme.lower() in (scheme, "all") and _bypass_matches(
            want_host, scheme, host)
    entry = entry.lower().strip("[]")
    if entry.startswith("*."):
        return host.endswith(entry[1:])
    if entry.startswith("."):
        return host.endswith(entry)
    if entry.startswith("*"):
        entry = entry[1:]
    if _is_ip(entry) or entry == "localhost":
        return host == entry
    return host == entry or host.endswith("." + entry)


@attrs.frozen
class EnvironmentProxies:
    """The proxy settings of an environment (see the module docstring)."""

    http: str | None = None
    https: str | None = None
    all: str | None = None
    no_proxy: tuple[str, ...] = ()

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> EnvironmentProxies:
        """Read the settings from ``environ`` (default: the process environment)."""
        if environ is None:
            found = urllib.request.getproxies()
        else:
            found = {}
            for key, value in environ.items():
                name = key.lower()
                if value and name.endswith("_proxy"):
                    found[name[:-6]] = value
            for key, value in environ.items():  # lower case wins, as in urllib
                if value and key.endswith("_proxy") and key == key.lower():
                    found[key[:-6]] = value

        def url(value: str | None) -> str | None:
            if not value:
                return None
            return value if "://" in value else f"http://{value}"

        no = tuple(h.strip() for h in found.get("no", "").split(",") if h.strip())
        return cls(url(found.get("http")), url(found.get("https")), url(found.get("all")), no)

    @property
    def active(self) -> bool:
        """Whether any request could go through a proxy."""
        return bool(self.http or self.https or self.all) and "*" not in self.no_proxy

    def proxy_for(self, scheme: str, host: str) -> str | None:
        """The proxy URL for a request to ``scheme://host``, or ``None`` to go direct."""
        scheme = scheme.lower()
        host = host.lower().strip("[]")
        chosen = (self.http if scheme == "http" else self.https if scheme == "https"
                  else None) or self.all
        if chosen is None or "*" in self.no_proxy:
            return None
        if any(_bypass_matches(entry, scheme, host) for entry in self.no_proxy):
            return None
        return chosen

    def __repr__(self) -> str:
        # Proxy URLs may carry credentials: show only whether each is set.
        def shown(v: str | None) -> str:
            return "set" if v else "unset"

        return (f"EnvironmentProxies(http={shown(self.http)}, https={shown(self.https)}, "
                f"all={shown(self.all)}, no_proxy={len(self.no_proxy)} hosts)")
