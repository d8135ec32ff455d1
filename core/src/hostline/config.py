"""Loading and validating ``hostline.toml``.

Every error is a :class:`hostline.ConfigError` whose message names the file,
the table and the key. Values are never echoed back, so a mistyped secret
does not end up in a log.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

import attrs

from .errors import ChannelConfigurationError, ConfigError
from .schema import Secret, describe, secret, structure
from .types import ResponseTarget

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "ChannelSpec",
    "Config",
    "HostConfig",
    "Secret",
    "StoreConfig",
    "load_config",
    "structure",
]

T = TypeVar("T")


def _keys_only(table: dict[str, Any]) -> str:
    """repr of a raw table that may hold secrets: its keys, never its values."""
    return "{" + ", ".join(f"{k!r}: ..." for k in table) + "}"


@attrs.frozen
class OutboxConfig:
    """``[host.outbox]``: the durable runner's retry policy and limits."""

    max_attempts: int = 8
    backoff_initial: float = 0.5
    backoff_max: float = 300.0
    lease_seconds: float = 30.0
    #: Tasks (turns, replies, pushes) in flight per process. A task awaiting
    #: its target, an outbound call or an edit interval costs a coroutine and
    #: no thread, so this is sized for I/O-bound agents, not for cores.
    concurrency: int = 4096
    #: Tasks claimed from the queue at once (one store transaction).
    claim_batch: int = 64
    #: Outbound API calls each channel instance has in flight at once; its
    #: connection pool is sized to it (a channel's ``max_connections`` overrides).
    outbound_calls: int = 64
    poll_interval: float = 0.2
    high_water: int = 50_000

    def __attrs_post_init__(self) -> None:
        for key in ("concurrency", "claim_batch", "outbound_calls", "max_attempts"):
            if getattr(self, key) < 1:
                raise ValueError(f"key {key!r}: must be at least 1")


@attrs.frozen
class StoreConfig:
    """``[host.store]``: which store backend keeps state, and how to reach it.

    ``backend`` names a ``hostline.stores`` entry point (``sqlite``, built in,
    keeps state in ``state_dir``; ``postgres`` comes with hostline-postgres).
    ``url`` is a secret (a password in it is never printed); ``options`` is
    passed to the backend as it is, for keys only that backend knows.
    """

    backend: str = "sqlite"
    url: Secret | None = secret(default=None)  # noqa: RUF009 - an attrs field
    pool_min: int = 1
    pool_max: int = 10
    schema: str = "public"
    options: dict[str, Any] = attrs.field(factory=dict, repr=_keys_only)

    def __attrs_post_init__(self) -> None:
        if self.pool_min < 0 or self.pool_max < 1 or self.pool_min > self.pool_max:
            raise ValueError("pool_min and pool_max: need 0 <= pool_min <= pool_max and "
                             "pool_max >= 1")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", self.schema):
            raise ValueError("key 'schema': letters, digits and '_' only, not starting "
                             "with a digit")


@attrs.frozen
class LinksConfig:
    """``[host.links]``: which channels may be linked, where private content may go."""

    allow: dict[str, list[str]] = attrs.field(factory=dict)
    private_to_group: bool = False
    #: Seconds a one-time ``/link`` code stays valid.
    code_ttl: float = attrs.field(default=600.0, validator=attrs.validators.gt(0))


@attrs.frozen
class AdminConfig:
    """``[host.admin]``: the admin page at ``/_hostline/`` and operator actions."""

    enabled: bool = False
    #: Asked for by the login form or as ``Authorization: Bearer``; without
    #: one the page answers loopback clients only.
    token: Secret | None = secret(default=None)  # noqa: RUF009 - an attrs field
    #: The key of the keyed hash naming people in the audit log (default: a
    #: random key kept in ``<state_dir>/audit.key``; replicas must share one).
    audit_key: Secret | None = secret(default=None)  # noqa: RUF009
    #: Seconds a login lasts.
    session_seconds: float = 12 * 3600.0


@attrs.frozen
class TelemetryConfig:
    """``[host.telemetry]``: OpenTelemetry (needs ``hostline[otel]``).

    Off unless ``exporter`` is set here or the standard ``OTEL_*`` variables
    name an exporter or an OTLP endpoint.
    """

    exporter: Literal["otlp", "console", "none"] | None = None
    #: OTLP/HTTP base URL (default ``OTEL_EXPORTER_OTLP_ENDPOINT`` or
    #: ``http://localhost:4318``); ``/v1/traces``, ``/v1/metrics`` and
    #: ``/v1/logs`` are appended.
    endpoint: str | None = None
    service_name: str | None = None
    #: Put message text in span attributes (``gen_ai.input.messages``...).
    capture_content: bool = False
    #: Seconds between metric exports.
    metric_interval: float = 10.0
    #: Send log records too (with trace ids), besides the trace id in each log line.
    logs: bool = True


@attrs.frozen
class HostConfig:
    """``[host]``."""

    target: str = "echo"
    state_dir: str = ".hostline"
    bind: str = "127.0.0.1:8000"
    public_url: str | None = None
    plugins: list[str] = attrs.field(factory=list)
    history_limit: int = 50
    max_body_bytes: int = 1024 * 1024
    shutdown_grace: float = 10.0
    workers: int = 1
    #: Processes that only run queued work (turns, replies, pushes); with any,
    #: the HTTP workers only verify, persist and ack.
    runners: int = 0
    #: CPU priority of runner processes relative to the HTTP workers (``nice``).
    runner_nice: int = 10
    #: Replace a runner process once it is idle and its resident set has
    #: grown this many MiB past what it was when it became ready (0: never).
    #: CPython keeps the memory a burst of conversations used; a fresh
    #: process gives it back. Linux only (it reads ``/proc``).
    runner_recycle_mib: float = 0.0
    allow_in_process_runner: bool = False
    target_options: dict[str, Any] = attrs.field(factory=dict, repr=_keys_only)
    outbox: OutboxConfig = attrs.field(factory=OutboxConfig)
    links: LinksConfig = attrs.field(factory=LinksConfig)
    admin: AdminConfig = attrs.field(factory=AdminConfig)
    telemetry: TelemetryConfig = attrs.field(factory=TelemetryConfig)
    store: StoreConfig = attrs.field(factory=StoreConfig)


@attrs.frozen
class AllowConfig:
    """``[channels.<instance>.allow]``: who may talk to this channel."""

    native_ids: list[str] = attrs.field(factory=list)
    linked_claims: dict[str, list[str]] = attrs.field(factory=dict)
    policy: Literal["deny", "allow"] = "deny"


@attrs.frozen
class ChannelCommon:
    """Keys every channel table accepts besides the plugin's own."""

    plugin: str
    response_target: str = "originating"
    denied_reply: str = "Sorry, you are not allowed to use this bot."
    allow: AllowConfig | None = None


COMMON_KEYS = {f.name for f in attrs.fields(ChannelCommon)}


@attrs.frozen
class ChannelSpec:
    """One ``[channels.<instance>]`` table before the plugin validates it."""

    instance: str
    common: ChannelCommon
    options: dict[str, Any] = attrs.field(repr=_keys_only)


@attrs.frozen
class Config:
    """A loaded configuration file (or the defaults when there is none)."""

    path: Path | None
    host: HostConfig
    channels: dict[str, ChannelSpec]
    plugin_options: dict[str, dict[str, Any]] = attrs.field(repr=_keys_only)

    @property
    def source(self) -> str:
        """The file name used in error messages."""
        return str(self.path) if self.path else "<defaults>"

    @property
    def state_dir(self) -> Path:
        """``host.state_dir`` resolved against the config file's directory."""
        p = Path(self.host.state_dir)
        if not p.is_absolute() and self.path is not None:
            p = self.path.parent / p
        return p

    def channel_config(self, instance: str, schema: type[T] | None) -> T | dict[str, Any]:
        """Validate a channel's own keys against the plugin's attrs ``schema``."""
        spec = self.channels[instance]
        if schema is None:
            return dict(spec.options)
        return structure(schema, spec.options, f"{self.source}: [channels.{instance}]",
                         error=ChannelConfigurationError)


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _interpolate(value: Any, where: str, key: str, env: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        def sub(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            raise ConfigError(f"{where} key '{key}': environment variable {name} is not set")

        return _VAR.sub(sub, value)
    if isinstance(value, list):
        return [_interpolate(v, where, key, env) for v in value]
    if isinstance(value, dict):
        return {k: _interpolate(v, f"{where}", f"{key}.{k}" if key else k, env)
                for k, v in value.items()}
    return value


def load_config(path: str | os.PathLike[str] | None = None, *,
                env: Mapping[str, str] | None = None, required: bool = False) -> Config:
    """Load ``path`` (default ``./hostline.toml``).

    With no file and ``required`` false, returns the defaults: the echo
    target and no channels (the CLI then enables every installed channel
    that needs no secret).
    """
    env = os.environ if env is None else env
    explicit = path is not None
    p = Path(path) if path is not None else Path("hostline.toml")
    if not p.exists():
        if explicit or required:
            raise ConfigError(f"{p}: config file not found")
        return Config(None, HostConfig(), {}, {})
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: invalid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read: {exc.__class__.__name__}") from None
    return parse_config(raw, p, env)


def parse_config(raw: Mapping[str, Any], path: Path | None,
                 env: Mapping[str, str] | None = None) -> Config:
    """Validate an already-parsed TOML document."""
    env = os.environ if env is None else env
    src = str(path) if path else "<config>"
    for key in raw:
        if key not in ("host", "channels", "plugins"):
            close = difflib.get_close_matches(key, ["host", "channels", "plugins"], n=1)
            hint = f" (did you mean '[{close[0]}]'?)" if close else ""
            raise ConfigError(
                f"{src}: [{key}]: unknown table{hint}; known: host, channels, plugins")

    def table(value: Any, name: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise ConfigError(f"{src}: [{name}]: expected a table, got {describe(value)}")
        return value

    host_raw = _interpolate(table(raw.get("host", {}), "host"), f"{src}: [host]", "", env)
    host = structure(HostConfig, host_raw, f"{src}: [host]")
    channels: dict[str, ChannelSpec] = {}
    for instance, body in table(raw.get("channels", {}), "channels").items():
        where = f"{src}: [channels.{instance}]"
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,62}", instance):
            raise ConfigError(f"{where}: instance names are lowercase letters, digits, '-' "
                              "and '_' (they become URL path segments)")
        body = _interpolate(table(body, f"channels.{instance}"), where, "", env)
        common_raw = {k: v for k, v in body.items() if k in COMMON_KEYS}
        common_raw.setdefault("plugin", instance)
        common = structure(ChannelCommon, common_raw, where, error=ChannelConfigurationError)
        try:
            ResponseTarget.parse(common.response_target)
        except ValueError as exc:
            raise ChannelConfigurationError(f"{where} key 'response_target': {exc}") from None
        if common.allow is not None:
            _check_allow(common.allow, f"{src}: [channels.{instance}.allow]")
        options = {k: v for k, v in body.items() if k not in COMMON_KEYS}
        channels[instance] = ChannelSpec(instance, common, options)
    plugins = {
        name: _interpolate(table(body, f"plugins.{name}"), f"{src}: [plugins.{name}]", "", env)
        for name, body in table(raw.get("plugins", {}), "plugins").items()
    }
    return Config(path, host, channels, plugins)


def _check_allow(allow: AllowConfig, where: str) -> None:
    if allow.policy == "deny" and not allow.native_ids and not allow.linked_claims:
        raise ChannelConfigurationError(
            f"{where} key 'native_ids': an allow table needs native_ids or linked_claims "
            "(or policy = \"allow\")"
        )
    for claim, values in allow.linked_claims.items():
        if not values:
            raise ChannelConfigurationError(f"{where} key 'linked_claims.{claim}': empty list")
