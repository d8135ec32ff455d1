"""Isolation keys: the tenant scope of every request and every stored record.

Two headers carry them, ``x-agent-user-isolation-key`` and
``x-agent-chat-isolation-key``. :class:`IsolationMiddleware` (pure ASGI)
puts them in a ContextVar; the host prefixes every session key and stored
record with :attr:`IsolationKeys.scope`, so a request with one key can never
reach another key's data. :func:`safe_state_path` maps a key to a directory
for file-based state and refuses anything that could escape its root.
"""

from __future__ import annotations

import contextvars
import os
import re
import unicodedata
from pathlib import Path
from typing import Any

from .errors import InvalidIsolationKey
from .http import send_error
from .types import IsolationKeys

__all__ = [
    "CHAT_HEADER",
    "USER_HEADER",
    "IsolationMiddleware",
    "current_isolation",
    "safe_state_path",
    "use_isolation",
]

USER_HEADER = "x-agent-user-isolation-key"
CHAT_HEADER = "x-agent-chat-isolation-key"
_MAX_HEADER = 512

_NO_KEYS = IsolationKeys()  # frozen, so one shared default is safe
_current: contextvars.ContextVar[IsolationKeys] = contextvars.ContextVar(
    "hostline_isolation", default=_NO_KEYS
)


def current_isolation() -> IsolationKeys:
    """The isolation keys of the request being served (empty outside one)."""
    return _current.get()


def use_isolation(keys: IsolationKeys) -> contextvars.Token[IsolationKeys]:
    """Set the current isolation keys; returns a token for ``reset``."""
    return _current.set(keys)


def reset_isolation(token: contextvars.Token[IsolationKeys]) -> None:
    """Undo :func:`use_isolation`."""
    _current.reset(token)


class IsolationMiddleware:
    """Pure ASGI middleware: isolation headers -> ContextVar for the request.

    A header longer than 512 bytes or with control characters is answered
    with 400 before the app sees the request.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        user = chat = None
        for name, value in scope.get("headers") or ():
            if name == b"x-agent-user-isolation-key":
                user = value
            elif name == b"x-agent-chat-isolation-key":
                chat = value
        if user is None and chat is None:
            await self.app(scope, receive, send)
            return
        try:
            keys = IsolationKeys(_header(user), _header(chat))
        except ValueError as exc:
            await send_error(send, 400, str(exc), "invalid_isolation_key")
            return
        token = _current.set(keys)
        try:
            await self.app(scope, receive, send)
        finally:
            _current.reset(token)


def _header(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    if len(raw) > _MAX_HEADER:
        raise ValueError("isolation key header too long")
    text = raw.decode("utf-8", "replace")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise ValueError("isolation key header contains control characters")
    return text


_WINDOWS_RESERVED = {
    "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$",
    *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10)),
    "COM¹", "COM²", "COM³", "LPT¹", "LPT²", "LPT³",
}
_DRIVE = re.compile(r"^[A-Za-z]:")
_MAX_BYTES = 200


def _check_key(key: str) -> str:
    if not isinstance(key, str):
        raise InvalidIsolationKey("isolation key must be a string")
    if not key:
        raise InvalidIsolationKey("isolation key is empty")
    if len(key.encode("utf-8", "surrogatepass")) > _MAX_BYTES:
        raise InvalidIsolationKey(f"isolation key is over {_MAX_BYTES} UTF-8 bytes")
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidIsolationKey("isolation key contains a lone surrogate") from None
    for ch in key:
        cat = unicodedata.category(ch)
        if ch in "/\\\x00" or cat in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"):
            raise InvalidIsolationKey(
                f"isolation key contains a forbidden character U+{ord(ch):04X}"
            )
    # NFKC folds lookalikes (fullwidth solidus, one-dot leader...) onto the
    # ASCII a filesystem or a later normalisation step might see.
    folded = unicodedata.normalize("NFKC", key)
    if folded != key and any(ch in "/\\:" or ord(ch) < 32 for ch in folded):
        raise InvalidIsolationKey("isolation key normalises to a path separator")
    for form in {key, folded}:
        if set(form) <= {"."} or form.strip(". ") == "":
            raise InvalidIsolationKey("isolation key is a dot name")
        if form[-1] in ". ":
            raise InvalidIsolationKey("isolation key ends with a dot or space")
        if form[0] == " ":
            raise InvalidIsolationKey("isolation key starts with a space")
        if _DRIVE.match(form) or ":" in form:
            raise InvalidIsolationKey("isolation key looks like a drive or stream name")
        stem = form.split(".")[0].rstrip(" ").upper()
        if stem in _WINDOWS_RESERVED:
            raise InvalidIsolationKey("isolation key is a reserved device name")
    if os.path.isabs(key):
        raise InvalidIsolationKey("isolation key is an absolute path")
    return key


def safe_state_path(root: Path, key: str) -> Path:
    """Return ``root / key`` if it lies strictly inside ``root``.

    Raises :class:`hostline.InvalidIsolationKey` (a ``ValueError``) for an
    empty key, dot names, separators, NUL or control characters, absolute
    paths, drive letters, UNC prefixes, Windows reserved names, trailing dots
    or spaces, keys over 200 UTF-8 bytes, and anything whose resolved path
    leaves ``root`` (symlinks included). The key is used verbatim, so
    distinct accepted keys map to distinct paths.
    """
    _check_key(key)
    base = Path(root).resolve()
    candidate = base / key
    resolved = candidate.resolve()
    if resolved.parent != base or resolved.name != key:
        raise InvalidIsolationKey("isolation key resolves outside the state root")
    return candidate
