"""JSON text for jsonb columns."""

from __future__ import annotations

import re
from typing import Any

from hostline import JSONText, encode_json

__all__ = ["to_jsonb"]

_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def to_jsonb(value: Any) -> str:
    """JSON text for a jsonb column, U+0000 replaced (jsonb cannot hold it)."""
    text = value if type(value) is JSONText else encode_json(value)
    if "\\u0000" in text:
        text = _NUL.sub(lambda m: m.group(1) + "\\ufffd", text)
    return str(text)
