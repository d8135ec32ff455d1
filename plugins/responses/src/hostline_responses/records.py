"""Stored responses, background event logs and conversations in the host's store.

Every key goes through :meth:`hostline.Host.scoped` with the request's
isolation keys, so a caller with other isolation headers never reaches them.
Records are plain JSON in the host's key-value table (namespace
``responses:<instance>``); responses and event logs expire after ``ttl``,
conversations live until deleted.
"""

from __future__ import annotations

import itertools
import logging
import time
from typing import Any

from hostline import Host, IsolationKeys, JSONText, TurnRecord, encode_json

__all__ = ["Records"]

log = logging.getLogger("hostline.responses")

_counter = itertools.count()


def _order_key() -> str:
    # Sortable across processes (clock) and within one (counter).
    return f"{time.time_ns():020d}{next(_counter) % 1_000_000:06d}"


class Records:
    """Typed access to the channel's records."""

    def __init__(self, host: Host, instance: str, ttl: float, max_bytes: int) -> None:
        self.host = host
        self.ns = f"responses:{instance}"
        self.ttl = ttl
        self.max_bytes = max_bytes

    def _key(self, key: str, iso: IsolationKeys) -> str:
        return self.host.scoped(key, iso)

    async def _get(self, key: str, iso: IsolationKeys) -> dict[str, Any] | None:
        value = await self.host.store.kv_get(self.ns, self._key(key, iso))
        return value if isinstance(value, dict) else None

    # responses ----------------------------------------------------------------
    async def get(self, response_id: str, iso: IsolationKeys) -> dict[str, Any] | None:
        """A response record: ``{"response": {...}, "input": [...], ...}``."""
        rec = await self._get(f"resp:{response_id}", iso)
        if rec is None:
            return None
        response, items = rec.get("response"), rec.get("input", [])
        if not (isinstance(response, dict) and isinstance(response.get("id"), str)
                and isinstance(items, list)
                and all(isinstance(i, dict) and isinstance(i.get("id"), str) for i in items)):
            # Not a record this channel wrote: quarantined, read as missing.
            log.warning("responses %s: dropping unreadable record of response %r",
                        self.ns, response_id[:80])
            await self.host.store.kv_delete(self.ns, self._key(f"resp:{response_id}", iso))
            return None
        return rec

    def encode(self, record: dict[str, Any]) -> JSONText | None:
        """``record`` as stored JSON, or ``None`` over ``max_stored_bytes``."""
        return self.fit(encode_json(record))

    def fit(self, raw: str) -> JSONText | None:
        """JSON text as a stored record, or ``None`` over ``max_stored_bytes``
        (counted in UTF-8 bytes)."""
        if len(raw) > self.max_bytes or (not raw.isascii()
                                          and len(raw.encode()) > self.max_bytes):
            return None
        return JSONText(raw)

    def entry(self, response_id: str, iso: IsolationKeys, encoded: JSONText) -> TurnRecord:
        """A response record as one of a turn's records (it expires after ``ttl``)."""
        return (self.ns, self._key(f"resp:{response_id}", iso), encoded, self.ttl)

    async def put(self, record: dict[str, Any], iso: IsolationKeys,
                  encoded: JSONText | None = None) -> None:
        """Save a response record (the caller checked its size with :meth:`encode`)."""
        rid = record["response"]["id"]
        await self.host.store.kv_put(self.ns, self._key(f"resp:{rid}", iso),
                                     encoded if encoded is not None else record, self.ttl)

    async def delete(self, response_id: str, iso: IsolationKeys) -> bool:
        """Delete a response and its event log."""
        found = await self.host.store.kv_delete(self.ns, self._key(f"resp:{response_id}", iso))
        if found:
            prefix = self._key(f"ev:{response_id}:", iso)
            while True:
                rows = await self.host.store.kv_list(self.ns, prefix, limit=500)
                if not rows:
                    break
                for key, _ in rows:
                    await self.host.store.kv_delete(self.ns, key)
        return found

    async def claim_continuation(self, previous_id: str, response_id: str,
                                 iso: IsolationKeys) -> bool:
        """True for the first response continuing ``previous_id`` (it may reuse its session)."""
        return await self.host.store.kv_add(self.ns, self._key(f"next:{previous_id}", iso),
                                            response_id, self.ttl)

    # background event logs -------------------------------------------------------
    async def append_events(self, response_id: str, events: list[dict[str, Any]],
                            iso: IsolationKeys) -> None:
        """Append a batch of stream events (keyed by the first sequence number)."""
        if events:
            first = events[0]["sequence_number"]
            await self.host.store.kv_put(self.ns, self._key(f"ev:{response_id}:{first:010d}", iso),
                                         events, self.ttl)

    async def events(self, response_id: str, iso: IsolationKeys, after_key: str | None
                     ) -> list[tuple[str, list[dict[str, Any]]]]:
        """Event batches after ``after_key`` (a key returned earlier), oldest first."""
        rows = await self.host.store.kv_list(self.ns, self._key(f"ev:{response_id}:", iso),
                                             limit=200, after=after_key)
        return [(k, v) for k, v in rows if isinstance(v, list)]

    # conversations ---------------------------------------------------------------
    async def get_conversation(self, conv_id: str, iso: IsolationKeys) -> dict[str, Any] | None:
        """A ``Conversation`` object."""
        return await self._get(f"conv:{conv_id}", iso)

    async def put_conversation(self, conv: dict[str, Any], iso: IsolationKeys) -> None:
        """Create or update a conversation."""
        await self.host.store.kv_put(self.ns, self._key(f"conv:{conv['id']}", iso), conv)

    async def delete_conversation(self, conv_id: str, iso: IsolationKeys) -> bool:
        """Delete a conversation and all its items."""
        found = await self.host.store.kv_delete(self.ns, self._key(f"conv:{conv_id}", iso))
        for prefix in (f"citem:{conv_id}:", f"cidx:{conv_id}:"):
            full = self._key(prefix, iso)
            while True:
                rows = await self.host.store.kv_list(self.ns, full, limit=500)
                if not rows:
                    break
                for key, _ in rows:
                    await self.host.store.kv_delete(self.ns, key)
        return found

    async def add_items(self, conv_id: str, items: list[dict[str, Any]],
                        iso: IsolationKeys) -> None:
        """Append items to a conversation, in order."""
        for item in items:
            order = _order_key()
            await self.host.store.kv_put(self.ns, self._key(f"citem:{conv_id}:{order}", iso), item)
            await self.host.store.kv_put(self.ns,
                                         self._key(f"cidx:{conv_id}:{item['id']}", iso), order)

    async def _item_order(self, conv_id: str, item_id: str, iso: IsolationKeys) -> str | None:
        order = await self.host.store.kv_get(self.ns, self._key(f"cidx:{conv_id}:{item_id}", iso))
        return order if isinstance(order, str) else None

    async def get_item(self, conv_id: str, item_id: str,
                       iso: IsolationKeys) -> dict[str, Any] | None:
        """One conversation item."""
        order = await self._item_order(conv_id, item_id, iso)
        if order is None:
            return None
        return await self._get(f"citem:{conv_id}:{order}", iso)

    async def delete_item(self, conv_id: str, item_id: str, iso: IsolationKeys) -> bool:
        """Remove one item from a conversation."""
        order = await self._item_order(conv_id, item_id, iso)
        if order is None:
            return False
        await self.host.store.kv_delete(self.ns, self._key(f"citem:{conv_id}:{order}", iso))
        await self.host.store.kv_delete(self.ns, self._key(f"cidx:{conv_id}:{item_id}", iso))
        return True

    async def list_items(self, conv_id: str, iso: IsolationKeys, *, after: str | None,
                         limit: int, order: str) -> tuple[list[dict[str, Any]], bool] | None:
        """A page of items; ``None`` when ``after`` names no item of this conversation."""
        prefix = self._key(f"citem:{conv_id}:", iso)
        after_key = None
        if after is not None:
            pos = await self._item_order(conv_id, after, iso)
            if pos is None:
                return None
            after_key = prefix + pos
        rows = await self.host.store.kv_list(self.ns, prefix, limit=limit + 1, after=after_key,
                                             descending=order == "desc")
        items = [v for _, v in rows if isinstance(v, dict)]
        return items[:limit], len(items) > limit

    async def all_items(self, conv_id: str, iso: IsolationKeys) -> list[dict[str, Any]]:
        """Every item of a conversation, oldest first."""
        prefix = self._key(f"citem:{conv_id}:", iso)
        out: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            rows = await self.host.store.kv_list(self.ns, prefix, limit=500, after=after)
            if not rows:
                return out
            out.extend(v for _, v in rows if isinstance(v, dict))
            after = rows[-1][0]
