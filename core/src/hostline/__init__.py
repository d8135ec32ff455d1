"""hostline: one agent behind many chat channels.

Plugins import only names re-exported here.
"""

from __future__ import annotations

from . import markdown
from .auth import (
    AllOf,
    AllowAll,
    Allowed,
    Allowlist,
    AnyOf,
    CallableAllowlist,
    Denied,
    LinkedClaimAllowlist,
    LinkRequired,
    NativeIdAllowlist,
)
from .config import Config, Secret, StoreConfig, load_config, secret
from .delivery import LinkPolicy, ResponseContext, SkippedTarget
from .errors import (
    ChannelConfigurationError,
    ConfigError,
    DeliveryError,
    HostlineError,
    InvalidIsolationKey,
    PermanentDeliveryError,
    PluginError,
    Reject,
    RetryableDeliveryError,
    StoreSchemaError,
)
from .hookspecs import hookimpl, hookspec
from .host import Command, CommandContext, Host, StartupError, Turn
from .http import BadRequest, error_response, read_json
from .ids import random_hex
from .isolation import current_isolation, safe_state_path
from .linking import IdentityLinker, LinkChallenge, LinkResolution, OneTimeCodeLinker
from .plugins import Channel
from .runner import RetryPolicy
from .store import (
    COPY_KEYS,
    COPY_TABLES,
    Doorbell,
    JSONText,
    LeaseLock,
    Lock,
    SQLiteStore,
    Store,
    Task,
    owner_id,
)
from .targets import Target
from .types import (
    AllowlistDecision,
    AuthorizationContext,
    DeliveryReceipt,
    Destination,
    Feedback,
    FilePart,
    History,
    Identity,
    ImagePart,
    IsolationKeys,
    LinkedIdentity,
    Message,
    Part,
    ResponseTarget,
    RunRequest,
    RunResult,
    RunUpdate,
    Session,
    TextPart,
    Usage,
)

__version__ = "0.1.0"

__all__ = [
    "COPY_KEYS",
    "COPY_TABLES",
    "AllOf",
    "AllowAll",
    "Allowed",
    "Allowlist",
    "AllowlistDecision",
    "AnyOf",
    "AuthorizationContext",
    "BadRequest",
    "CallableAllowlist",
    "Channel",
    "ChannelConfigurationError",
    "Command",
    "CommandContext",
    "Config",
    "ConfigError",
    "DeliveryError",
    "DeliveryReceipt",
    "Denied",
    "Destination",
    "Doorbell",
    "Feedback",
    "FilePart",
    "History",
    "Host",
    "HostlineError",
    "Identity",
    "IdentityLinker",
    "ImagePart",
    "InvalidIsolationKey",
    "IsolationKeys",
    "JSONText",
    "LeaseLock",
    "LinkChallenge",
    "LinkPolicy",
    "LinkRequired",
    "LinkResolution",
    "LinkedClaimAllowlist",
    "LinkedIdentity",
    "Lock",
    "Message",
    "NativeIdAllowlist",
    "OneTimeCodeLinker",
    "Part",
    "PermanentDeliveryError",
    "PluginError",
    "Reject",
    "ResponseContext",
    "ResponseTarget",
    "RetryPolicy",
    "RetryableDeliveryError",
    "RunRequest",
    "RunResult",
    "RunUpdate",
    "SQLiteStore",
    "Secret",
    "Session",
    "SkippedTarget",
    "StartupError",
    "Store",
    "StoreConfig",
    "StoreSchemaError",
    "Target",
    "Task",
    "TextPart",
    "Turn",
    "Usage",
    "current_isolation",
    "error_response",
    "hookimpl",
    "hookspec",
    "load_config",
    "markdown",
    "owner_id",
    "random_hex",
    "read_json",
    "safe_state_path",
    "secret",
]
