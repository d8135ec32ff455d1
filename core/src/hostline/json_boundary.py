"""The one JSON policy at hostline's boundaries: request bodies, responses,
event streams and stored records all go through it.

Decoding (:func:`decode_json`) accepts what RFC 8259 accepts and a little
less where Python accepts more:

* The text must be UTF-8 (a leading BOM is ignored); anything else is
  :class:`InvalidJSON` (``invalid_utf8``).
* Nesting deeper than :data:`MAX_JSON_DEPTH` (64) is refused
  (``too_deep``) by a scan *before* the parser runs, so no recursion happens
  on hostile input.
* ``NaN``, ``Infinity`` and numbers out of range (a float that overflows to
  infinity, an integer outside 64 bits) are refused (``invalid_number``):
  JSON has no such values and other parsers would disagree on them.
* **A lone UTF-16 surrogate** (``"\\ud800"``; valid JSON, but not a Unicode
  character) **is replaced with U+FFFD**, in keys and values. Replacing (not
  refusing) keeps webhook updates processable: Telegram and the Bot
  Framework retry a refused update forever, and a person's message should
  still get an answer. Replaced input is what is stored and echoed.
* Duplicate keys: the last one wins (as in JavaScript and Go).

Encoding (:func:`encode_json`, :func:`encode_json_bytes`,
:class:`JSONResponse`) never raises on data that decoding let through, nor on
records written before this policy (old stored records may hold lone
surrogates): lone surrogates become U+FFFD and non-finite floats become
``null``. Parsing and compact UTF-8 text come from orjson (a tenth of the standard
encoder's time on a Responses record); whatever orjson refuses (lone
surrogates, NaN, integers beyond 64 bits, very deep nesting) takes the
standard library's path and its rules above.

Store backends decode stored records with :func:`decode_stored_json` (a
deeper limit, since records wrap input) and treat :class:`InvalidJSON` as a
corrupt row: quarantined with a WARNING, read as missing.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import orjson
from starlette.responses import JSONResponse as _StarletteJSONResponse

__all__ = [
    "MAX_JSON_DEPTH",
    "MAX_STORED_JSON_DEPTH",
    "InvalidJSON",
    "JSONResponse",
    "decode_json",
    "decode_stored_json",
    "encode_json",
    "encode_json_bytes",
    "scrub_json",
]

#: Deepest nesting accepted in a request body (objects and arrays).
MAX_JSON_DEPTH = 64
#: Deepest nesting accepted in a stored record (records wrap request input).
MAX_STORED_JSON_DEPTH = 192
#: Integers outside this range are refused: other JSON parsers lose them.
_INT_LIMIT = 2**63

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
# Keep only brackets, all as "[" and "]": one innermost level is one "[]".
_BRACKETS_ONLY = {**{c: None for c in range(128) if chr(c) not in "[]{}"},
                  ord("{"): "[", ord("}"): "]"}
# An escape that may produce a surrogate (pairs are joined by the parser;
# what is left after parsing is lone).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class InvalidJSON(ValueError):
    """A JSON text the policy refuses. ``code`` says why: ``invalid_json``,
    ``invalid_utf8``, ``too_deep`` or ``invalid_number``."""

    def __init__(self, message: str, code: str = "invalid_json") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def _refuse_constant(name: str) -> Any:
    raise InvalidJSON(f"{name} is not a JSON number", "invalid_number")


def _parse_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise InvalidJSON(f"number {text[:40]} is out of range", "invalid_number")
    return value


def _parse_int(text: str) -> int:
    if len(text) > 20:  # cheaper than converting a 4,000-digit number first
        raise InvalidJSON(f"integer {text[:40]}... is out of range", "invalid_number")
    value = int(text)
    if not -_INT_LIMIT <= value < _INT_LIMIT:
        raise InvalidJSON(f"integer {text} is out of range", "invalid_number")
    return value


#: 19 digits in a row: maybe an integer beyond 64 bits, which orjson would
#: turn into a float; such texts take the standard path and its limits.
_LONG_DIGITS = re.compile(r"[0-9]{19}")

# One decoder for every parse: json.loads with options builds a new decoder
# and scanner per call. The decoder keeps no state between documents.
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_parse_float,
                            parse_int=_parse_int)


def _depth(text: str, limit: int) -> int:
    """Nesting depth of ``text`` (0 for a scalar) without recursion, or
    ``limit + 1`` once it is deeper than ``limit``; ``-1`` when a few
    brackets do not pair up (the parser then says why)."""
    brackets = _STRING.sub("", text).translate(_BRACKETS_ONLY)
    if "[" * (limit + 1) in brackets:  # the usual attack, answered at once
        return limit + 1
    # Each pass removes the innermost level (str.replace is fast even on a
    # megabyte of brackets); most documents are a few levels deep.
    for level in range(limit + 1):
        if not brackets:
            return level
        shorter = brackets.replace("[]", "")
        if len(shorter) == len(brackets):
            # Unpaired: the parser refuses it, and with at most ``limit``
            # brackets left it cannot recurse deeply on the way.
            return -1 if len(brackets) <= limit else limit + 1
        brackets = shorter
    return limit + 1


def decode_json(data: bytes | bytearray | memoryview | str, *,
                max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse one JSON text under the policy above, or raise :class:`InvalidJSON`."""
    if isinstance(data, str):
        text = data
    else:
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidJSON("not valid UTF-8", "invalid_utf8") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    depth = _depth(text, max_depth)
    if depth > max_depth:
        raise InvalidJSON(f"nested deeper than {max_depth} levels", "too_deep")
    if _LONG_DIGITS.search(text) is None:
        # orjson refuses NaN, Infinity, overflowing floats and lone
        # surrogates, as this policy does; what it refuses the standard path
        # parses again, to answer why (or to replace the surrogates).
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return _decode_standard(text, raw_text=isinstance(data, str))


def _decode_standard(text: str, *, raw_text: bool) -> Any:
    """The standard library's parse under the policy (``raw_text``: the
    input was a ``str``, which may hold lone surrogates unescaped)."""
    try:
        value = _DECODER.decode(text)
    except InvalidJSON:
        raise
    except (ValueError, RecursionError):
        raise InvalidJSON("not valid JSON", "invalid_json") from None
    if _SURROGATE_ESCAPE.search(text) or (raw_text and not text.isascii()
                                          and _SURROGATE.search(text)):
        value = scrub_json(value)
    return value


def decode_stored_json(data: bytes | str) -> Any:
    """Parse a stored record: :func:`decode_json` with a deeper limit (records
    wrap request input). A backend treats :class:`InvalidJSON` as a corrupt row."""
    return decode_json(data, max_depth=MAX_STORED_JSON_DEPTH)


def _clean_str(s: str) -> str:
    return _SURROGATE.sub("\ufffd", s)


def scrub_json(value: Any) -> Any:
    """``value`` with lone surrogates replaced by U+FFFD (in keys too) and
    non-finite floats replaced by ``None``; unchanged parts are shared.
    Iterative: safe at any depth."""
    def clean(v: Any) -> Any:
        if isinstance(v, str):
            return _clean_str(v)
        if isinstance(v, float) and not math.isfinite(v):
            return None
        return v

    if not isinstance(value, (dict, list, tuple)):
        return clean(value)
    root: list[Any] = [value]
    # Containers are rebuilt bottom-up: (container, parent, key in parent).
    stack: list[tuple[Any, list[Any] | dict[Any, Any], Any]] = [(value, root, 0)]
    while stack:
        node, parent, slot = stack.pop()
        if isinstance(node, dict):
            new_d: dict[Any, Any] = {}
            for k, v in node.items():
                key = _clean_str(k) if isinstance(k, str) else k
                if isinstance(v, (dict, list, tuple)):
                    new_d[key] = None
                    stack.append((v, new_d, key))
                else:
                    new_d[key] = clean(v)
            parent[slot] = new_d
        else:
            new_l: list[Any] = []
            for i, v in enumerate(node):
                if isinstance(v, (dict, list, tuple)):
                    new_l.append(None)
                    stack.append((v, new_l, i))
                else:
                    new_l.append(clean(v))
            parent[slot] = new_l
    return root[0]


# Compact encoders, built once: ``json.dumps`` with any non-default option
# builds a new encoder per call, and the boundary encodes several times a request.
_COMPACT = {ascii_only: json.JSONEncoder(ensure_ascii=ascii_only, separators=(",", ":"),
                                         allow_nan=False).encode
            for ascii_only in (False, True)}


#: orjson as the standard encoder would be: non-string keys as strings, and
#: the types the standard encoder refuses (datetime, dataclasses) still refused.
_ORJSON_OPTIONS = (orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
                   | orjson.OPT_PASSTHROUGH_DATACLASS)


def _fast_bytes(value: Any) -> bytes | None:
    """Compact UTF-8 JSON from orjson (NaN and Infinity already ``null``), or
    None for what it refuses (the standard path decides those)."""
    try:
        return orjson.dumps(value, option=_ORJSON_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError is one
        return None


def _dumps(value: Any, ensure_ascii: bool, indent: int | None) -> str:
    if indent is None:
        encode = _COMPACT[ensure_ascii]
        try:
            return encode(value)
        except ValueError:  # NaN or Infinity from a target
            return encode(scrub_json(value))
    try:
        return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, allow_nan=False)
    except ValueError:
        return json.dumps(scrub_json(value), ensure_ascii=ensure_ascii, indent=indent,
                          allow_nan=False)


def encode_json(value: Any, *, ensure_ascii: bool = False, indent: int | None = None) -> str:
    """JSON text of ``value`` that always encodes to UTF-8 (compact unless
    ``indent``). Lone surrogates become U+FFFD, NaN and Infinity ``null``;
    with ``ensure_ascii`` the text is ASCII and holds no lone surrogate escape."""
    if not ensure_ascii and indent is None:
        fast = _fast_bytes(value)
        if fast is not None:
            return fast.decode("utf-8")
    text = _dumps(value, ensure_ascii, indent)
    if ensure_ascii:
        suspect = _SURROGATE_ESCAPE.search(text) is not None  # pairs match too: rare
    else:
        suspect = not text.isascii() and _SURROGATE.search(text) is not None
    if suspect:
        text = _dumps(scrub_json(value), ensure_ascii, indent)
    return text


def encode_json_bytes(value: Any) -> bytes:
    """:func:`encode_json` as UTF-8 bytes (what goes on the wire)."""
    fast = _fast_bytes(value)
    if fast is not None:
        return fast
    text = _dumps(value, False, None)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return _dumps(scrub_json(value), False, None).encode("utf-8")


class JSONResponse(_StarletteJSONResponse):
    """Starlette's ``JSONResponse`` rendered with :func:`encode_json_bytes`:
    it never raises on a lone surrogate or a non-finite float."""

    def render(self, content: Any) -> bytes:
        """The body bytes."""
        return encode_json_bytes(content)
