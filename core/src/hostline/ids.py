"""Random identifiers without a system call each.

``os.urandom`` costs a system call per id; on a busy host that is measurable
(several per request). Ids here are sliced from a buffer refilled 4 KiB at a
time from the same source, so they stay unguessable. Call from the event loop
thread (the buffer is not shared across threads).
"""

from __future__ import annotations

import os
import time

__all__ = ["ordered_hex", "random_hex"]

_buffer = bytearray()


def random_hex(nbytes: int = 16) -> str:
    """``nbytes`` random bytes from ``os.urandom``, as hex."""
    global _buffer
    if len(_buffer) < nbytes:
        _buffer = bytearray(os.urandom(max(4096, nbytes)))
    out = bytes(_buffer[-nbytes:])
    del _buffer[-nbytes:]
    return out.hex()


def ordered_hex(nbytes: int = 16) -> str:
    """``nbytes`` as hex: the time in milliseconds (6 bytes), then random.

    Ids made later sort later, so the store's indexes of keys holding them
    grow at their right edge: a write touches the same few pages as the one
    before it instead of a random page each (measured on SQLite: about half
    the cost of a turn's write, more as the tables grow). The random part
    (``nbytes - 6`` bytes, at least 8) keeps them unguessable.
    """
    if nbytes < 14:
        raise ValueError("an ordered id needs at least 14 bytes (8 of them random)")
    return (int(time.time() * 1000) & 0xFFFF_FFFF_FFFF).to_bytes(6, "big").hex() \
        + random_hex(nbytes - 6)
