"""The small pieces channels share: ``data:`` URLs and ``Retry-After``."""

from __future__ import annotations

import base64
import email.utils
import time
from typing import Any
from urllib.parse import quote_from_bytes

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hostline import DataURL, decode_data_url, parse_retry_after


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.sampled_from(["image/png", "text/plain", "application/json"]),
       st.booleans())
def test_data_urls_round_trip(data: bytes, mime: str, b64: bool) -> None:
    url = (f"data:{mime};base64,{base64.b64encode(data).decode()}" if b64
           else f"data:{mime},{quote_from_bytes(data)}")
    assert decode_data_url(url) == DataURL(mime, data)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_anything_else_is_a_value_error(text: str) -> None:
    try:
        decode_data_url(text)
    except ValueError:
        pass


def test_data_url_details() -> None:
    assert decode_data_url("data:,A%20brief%20note") == DataURL("text/plain", b"A brief note")
    assert decode_data_url("data:text/plain;charset=utf-8;base64,aGk=").data == b"hi"
    assert repr(decode_data_url("data:,xyz")).endswith("data=<3 bytes>)")
    for bad in ("http://x", "data:text/plain", "data:;base64,!!!", "data:nonsense,x"):
        with pytest.raises(ValueError):
            decode_data_url(bad)


def test_retry_after_seconds_dates_and_garbage() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after("999999") == 3600.0
    assert parse_retry_after("10", cap=5) == 5.0
    for nothing in (None, "", "soon", "nan"):
        assert parse_retry_after(nothing) is None
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= (parse_retry_after(later) or 0) <= 31


async def test_read_bounded_refuses_a_declared_or_actual_size_over_the_limit() -> None:
    import httpx

    from hostline import FileTooLarge, read_bounded

    def serve(request: httpx.Request) -> httpx.Response:
        body = b"x" * int(request.url.params["n"])
        if not request.url.params.get("chunked"):
            return httpx.Response(200, content=body)  # with its content-length

        async def chunks() -> Any:
            yield body[:5]
            yield body[5:]

        return httpx.Response(200, content=chunks())

    async with httpx.AsyncClient(transport=httpx.MockTransport(serve)) as client:
        async with client.stream("GET", "http://files.test/?n=10") as resp:
            assert await read_bounded(resp, 10) == b"x" * 10
        for query in ("n=11", "n=11&chunked=1"):
            async with client.stream("GET", f"http://files.test/?{query}") as resp:
                with pytest.raises(FileTooLarge, match="11 bytes, over the 10-byte limit"):
                    await read_bounded(resp, 10)
