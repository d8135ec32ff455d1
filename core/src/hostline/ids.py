"""Random identifiers without a system call each.

``os.urandom`` costs a system call per id; on a busy host that is measurable
(several per request). Ids here are sliced from a buffer refilled 4 KiB at a
time from the same source, so they stay unguessable. Call from the event loop
thread (the buffer is not shared across threads).
"""

from __future__ import annotations

import os

__all__ = ["random_hex"]

_buffer = bytearray()


def random_hex(nbytes: int = 16) -> str:
    """``nbytes`` random bytes from ``os.urandom``, as hex."""
    global _buffer
    if len(_buffer) < nbytes:
        _buffer = bytearray(os.urandom(max(4096, nbytes)))
    out = bytes(_buffer[-nbytes:])
    del _buffer[-nbytes:]
    return out.hex()
