"""Interaction signatures: Ed25519 over timestamp + raw body (PyNaCl).

Discord signs every interaction it POSTs with the application's key and
sends ``X-Signature-Ed25519`` (hex signature) and ``X-Signature-Timestamp``
(Unix seconds). A valid signature on an old timestamp is a replay: it is
refused like a bad one.
"""

from __future__ import annotations

import time

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

__all__ = ["InteractionVerifier"]


class InteractionVerifier:
    """Checks interaction requests against the application's public key."""

    def __init__(self, public_key_hex: str, *, max_skew: float = 300.0) -> None:
        self._key = VerifyKey(bytes.fromhex(public_key_hex))
        self.max_skew = max_skew

    def verify(self, signature: str, timestamp: str, body: bytes, *,
               now: float | None = None) -> str | None:
        """``None`` if the request is genuine and fresh, else why it is not."""
        if not signature or not timestamp:
            return "missing signature headers"
        if len(signature) != 128 or len(timestamp) > 20 or not timestamp.isdigit():
            return "malformed signature headers"
        try:
            raw = bytes.fromhex(signature)
        except ValueError:
            return "malformed signature"
        try:
            self._key.verify(timestamp.encode() + body, raw)
        except BadSignatureError:
            return "invalid request signature"
        current = time.time() if now is None else now
        if abs(current - int(timestamp)) > self.max_skew:
            return "stale request timestamp"
        return None
