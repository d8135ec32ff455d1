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
    AuthorizationResult,
    CallableAllowlist,
    Denied,
    LinkedClaimAllowlist,
    LinkRequired,
    NativeIdAllowlist,
)
from .commands import Command, CommandContext
from .config import Config, Secret, load_config, secret
from .credentials import (
    ApiKey,
    ApiKeys,
    bearer_token,
    check_api_keys,
    check_open_channel,
    is_loopback_bind,
    is_loopback_client,
    key_fingerprint,
)
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
from .host import Host, StartupError, Turn
from .http import BadRequest, error_response, read_json
from .isolation import current_isolation, safe_state_path
from .json_boundary import (
    MAX_JSON_DEPTH,
    InvalidJSON,
    JSONResponse,
    decode_json,
    decode_stored_json,
    encode_json,
    encode_json_bytes,
    scrub_json,
)
from .linking import IdentityLinker, LinkChallenge, LinkResolution, OneTimeCodeLinker
from .oauth import InvalidToken, OAuthResourceServer, TokenInfo
from .outbound import PooledTransport
from .plugins import Channel
from .runner import RetryPolicy
from .store import JSONText, SQLiteStore, Store, Task
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
    "MAX_JSON_DEPTH",
    "AllOf",
    "AllowAll",
    "Allowed",
    "Allowlist",
    "AllowlistDecision",
    "AnyOf",
    "ApiKey",
    "ApiKeys",
    "AuthorizationContext",
    "AuthorizationResult",
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
    "InvalidJSON",
    "InvalidToken",
    "IsolationKeys",
    "JSONResponse",
    "JSONText",
    "LinkChallenge",
    "LinkPolicy",
    "LinkRequired",
    "LinkResolution",
    "LinkedClaimAllowlist",
    "LinkedIdentity",
    "Message",
    "NativeIdAllowlist",
    "OAuthResourceServer",
    "OneTimeCodeLinker",
    "Part",
    "PermanentDeliveryError",
    "PluginError",
    "PooledTransport",
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
    "TokenInfo",
    "Turn",
    "Usage",
    "bearer_token",
    "check_api_keys",
    "check_open_channel",
    "current_isolation",
    "decode_json",
    "decode_stored_json",
    "encode_json",
    "encode_json_bytes",
    "error_response",
    "hookimpl",
    "hookspec",
    "is_loopback_bind",
    "is_loopback_client",
    "key_fingerprint",
    "load_config",
    "markdown",
    "read_json",
    "safe_state_path",
    "scrub_json",
    "secret",
]
