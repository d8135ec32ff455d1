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
from .config import Config, Secret, load_config, secret
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
)
from .hookspecs import hookimpl, hookspec
from .host import Command, CommandContext, Host, StartupError, Turn
from .http import BadRequest, error_response, read_json
from .ids import random_hex
from .isolation import current_isolation, safe_state_path
from .linking import IdentityLinker, LinkChallenge, LinkResolution, OneTimeCodeLinker
from .plugins import Channel
from .runner import RetryPolicy
from .store import SQLiteStore, Store, Task
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
    "LinkChallenge",
    "LinkPolicy",
    "LinkRequired",
    "LinkResolution",
    "LinkedClaimAllowlist",
    "LinkedIdentity",
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
    "random_hex",
    "read_json",
    "safe_state_path",
    "secret",
]
