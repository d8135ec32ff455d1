"""Slack's request signatures (``v0``) and hostline's signed OAuth ``state``.

Slack signs every request it sends: ``X-Slack-Signature`` is ``v0=`` and the
hex HMAC-SHA256, keyed with the app's signing secret, of
``v0:{X-Slack-Request-Timestamp}:{raw body}``. A request whose timestamp is
outside the replay window is refused even when the signature is right, so a
captured request cannot be replayed later.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

__all__ = ["SignatureError", "make_state", "read_state", "sign", "verify"]


class SignatureError(ValueError):
    """A request's signature or timestamp is missing, wrong or too old."""


def sign(secret: str, body: bytes, timestamp: int | str) -> str:
    """The ``X-Slack-Signature`` value Slack sends for ``body`` at ``timestamp``."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def verify(secret: str, headers: Mapping[str, str], body: bytes, *, window: float = 300.0,
           now: float | None = None) -> None:
    """Raise :class:`SignatureError` unless ``body`` is signed by Slack and recent."""
    stamp = headers.get("x-slack-request-timestamp", "")
    got = headers.get("x-slack-signature", "")
    if not stamp or not got:
        raise SignatureError("missing X-Slack-Signature or X-Slack-Request-Timestamp")
    if not stamp.isascii() or not stamp.isdigit() or len(stamp) > 12:
        raise SignatureError("malformed X-Slack-Request-Timestamp")
    current = time.time() if now is None else now
    if abs(current - int(stamp)) > window:
        raise SignatureError("request timestamp outside the replay window")
    expected = sign(secret, body, stamp)
    if not hmac.compare_digest(got.encode("utf-8", "replace"), expected.encode()):
        raise SignatureError("signature mismatch")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_state(secret: str, data: Mapping[str, Any], ttl: float, *,
               now: float | None = None) -> str:
    """A tamper-proof, expiring OAuth ``state``: ``payload.mac``, both base64url."""
    payload = {**data, "exp": int((time.time() if now is None else now) + ttl)}
    raw = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    mac = hmac.new(secret.encode(), b"state:" + raw.encode(), hashlib.sha256).digest()
    return f"{raw}.{_b64(mac)}"


def read_state(secret: str, state: str, *, now: float | None = None) -> dict[str, Any]:
    """The data of a ``state`` made by :func:`make_state`; :class:`SignatureError` otherwise."""
    raw, dot, mac = state.partition(".")
    if not dot or len(state) > 2048 or not raw.isascii() or not mac.isascii():
        raise SignatureError("malformed state")
    expected = _b64(hmac.new(secret.encode(), b"state:" + raw.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(mac.encode(), expected.encode()):
        raise SignatureError("state signature mismatch")
    try:
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except ValueError:
        raise SignatureError("malformed state") from None
    if not isinstance(data, dict) or not isinstance(data.get("exp"), int):
        raise SignatureError("malformed state")
    if data["exp"] < (time.time() if now is None else now):
        raise SignatureError("state expired")
    return data
