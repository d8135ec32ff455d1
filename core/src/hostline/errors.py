"""Exceptions raised by hostline and its plugins."""

from __future__ import annotations

__all__ = [
    "ChannelConfigurationError",
    "ConfigError",
    "DeliveryError",
    "HostlineError",
    "InvalidIsolationKey",
    "PermanentDeliveryError",
    "PluginError",
    "Reject",
    "RetryableDeliveryError",
    "StoreSchemaError",
]


class HostlineError(Exception):
    """Base class of hostline's own errors."""


class ConfigError(HostlineError):
    """The configuration is invalid. The message names file, table and key."""


class ChannelConfigurationError(ConfigError):
    """A channel's (or an allowlist's) configuration is invalid."""


class StoreSchemaError(HostlineError):
    """The store's schema is newer than this hostline knows (or cannot be
    migrated): start-up refuses it rather than write rows it cannot read."""


class PluginError(HostlineError):
    """A plugin could not be loaded; the message names plugin, entry point and cause."""


class InvalidIsolationKey(ValueError):
    """An isolation key cannot be used as a path component."""


class Reject(HostlineError):
    """Raised by a run hook to refuse a run; ``reply`` is sent to the person instead."""

    def __init__(self, reply: str = "", *, reason: str = "rejected") -> None:
        super().__init__(reason)
        self.reply = reply
        self.reason = reason


class DeliveryError(HostlineError):
    """A send failed. ``retry_after`` (seconds) is honoured when set."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RetryableDeliveryError(DeliveryError):
    """A transient failure (429, 5xx, timeout, pool exhausted): try again later."""

    retryable = True


class PermanentDeliveryError(DeliveryError):
    """The destination cannot be reached (blocked, not found): do not retry."""

    retryable = False
