"""``data:`` URLs (RFC 2397): how parts carry bytes inline.

A :class:`hostline.FilePart` or :class:`hostline.ImagePart` may hold its
content as ``data:[<media type>][;base64],<data>``; channels that upload
files decode it with :func:`decode_data_url`.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote_to_bytes

import attrs

__all__ = ["DataURL", "decode_data_url"]


@attrs.frozen
class DataURL:
    """The decoded content of a ``data:`` URL."""

    #: The media type, ``text/plain`` when the URL names none (RFC 2397).
    mime_type: str
    data: bytes = attrs.field(repr=lambda b: f"<{len(b)} bytes>")


def decode_data_url(url: str) -> DataURL:
    """Decode ``data:[<media type>][;base64],<data>``.

    Base64 content is checked strictly; other content is percent-decoded.
    Raises :class:`ValueError` for anything that is not a well-formed
    ``data:`` URL, so a channel can answer it as a permanent failure.
    """
    if not url[:5].lower() == "data:":
        raise ValueError("not a data: URL")
    header, sep, payload = url[5:].partition(",")
    if not sep:
        raise ValueError("a data: URL needs a comma before its data")
    params = header.split(";")
    is_base64 = params[-1].strip().lower() == "base64"
    if is_base64:
        params = params[:-1]
    mime = params[0].strip() or "text/plain"
    if "/" not in mime:
        raise ValueError(f"invalid media type in data: URL: {mime[:40]!r}")
    if is_base64:
        try:
            data = base64.b64decode(unquote_to_bytes(payload), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("invalid base64 in data: URL") from None
    else:
        data = unquote_to_bytes(payload)
    return DataURL(mime, data)
