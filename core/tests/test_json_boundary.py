"""The JSON boundary policy: what decoding lets through, encoding never refuses."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hostline import (
    MAX_JSON_DEPTH,
    InvalidJSON,
    JSONResponse,
    decode_json,
    decode_stored_json,
    encode_json,
    encode_json_bytes,
    scrub_json,
)

# Any str, lone surrogates included (hypothesis leaves them out by default).
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=20)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | any_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=30)


def test_lone_surrogates_become_replacement_characters() -> None:
    value = decode_json(b'{"a":"x\\ud800","\\udfff":["\\ud83d\\ude00"]}')
    assert value == {"a": "x\ufffd", "\ufffd": ["\U0001f600"]}
    assert decode_json('"\ud800"') == "\ufffd"


@pytest.mark.parametrize(("body", "code"), [
    (b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1), "too_deep"),
    (b'{"a":' * 2000, "too_deep"),
    (b"[" * 1_000_000, "too_deep"),
    (b"NaN", "invalid_number"),
    (b"[-Infinity]", "invalid_number"),
    (b"1e999", "invalid_number"),
    (b"9" * 5000, "invalid_number"),
    (str(2**63).encode(), "invalid_number"),
    (b'"\xff"', "invalid_utf8"),
    (b'"\xed\xa0\x80"', "invalid_utf8"),  # a surrogate encoded as UTF-8
    (b'{"a":1', "invalid_json"),
    (b"", "invalid_json"),
])
def test_refused(body: bytes, code: str) -> None:
    with pytest.raises(InvalidJSON) as info:
        decode_json(body)
    assert info.value.code == code


def test_accepted_edges() -> None:
    deep = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    assert decode_json(deep) is not None
    assert decode_json(b'\xef\xbb\xbf{"a":1}') == {"a": 1}
    assert decode_json(b'{"a":1,"a":2}') == {"a": 2}  # the last key wins
    assert decode_json(b'"[[[[[[[["') == "[[[[[[[["  # brackets in strings do not nest
    assert decode_json(str(-2**63).encode()) == -2**63
    # A record may be deeper than a request body.
    nested = b"[" * 100 + b"]" * 100
    with pytest.raises(InvalidJSON):
        decode_json(nested)
    assert decode_stored_json(nested) is not None


def test_encoding_never_raises() -> None:
    value = {"\ud800": ["\udfff", float("nan"), float("inf")]}
    assert json.loads(encode_json(value)) == {"\ufffd": ["\ufffd", None, None]}
    assert json.loads(encode_json_bytes(value)) == {"\ufffd": ["\ufffd", None, None]}
    assert JSONResponse(value).body == encode_json_bytes(value)
    assert scrub_json(("a", "\ud800")) == ["a", "\ufffd"]


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_round_trip(value: object) -> None:
    """What decoding lets through encodes to UTF-8 and decodes to the same value."""
    for raw in (json.dumps(value).encode(), json.dumps(value, ensure_ascii=False)
                .encode("utf-8", "surrogatepass")):
        try:
            decoded = decode_json(raw)
        except InvalidJSON as exc:
            assert exc.code == "invalid_utf8"  # surrogatepass wrote a surrogate as UTF-8
            continue
        wire = encode_json_bytes(decoded)
        wire.decode("utf-8")
        assert decode_json(wire) == decoded
        assert encode_json(decoded).encode("utf-8") == wire
        assert decoded == scrub_json(value)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_arbitrary_bytes_decode_or_refuse(raw: bytes) -> None:
    try:
        value = decode_json(raw)
    except InvalidJSON:
        return
    encode_json_bytes(value).decode("utf-8")


def test_ascii_encoding_has_no_lone_surrogate_escape() -> None:
    text = encode_json({"a": "\ud800", "b": "\U0001f600"}, ensure_ascii=True)
    assert text.isascii()
    assert json.loads(text) == {"a": "\ufffd", "b": "\U0001f600"}


# Numbers at and past the policy's limits, where parsers tend to disagree.
edge_numbers = st.sampled_from([
    "0", "-0", "-0.0", "1e5", "1E+2", "1e400", "-1e400", "1e-400", "1.5e308", "2e308",
    str(2**63 - 1), str(2**63), str(-2**63), str(-2**63 - 1), str(2**64 - 1), str(2**64),
    "123456789012345678901234567890", "0.1", "1.0000000000000002", "5e-324",
])
number_texts = st.recursive(
    edge_numbers | st.integers().map(str) | st.floats(allow_nan=False).map(repr),
    lambda inner: st.lists(inner, max_size=4).map(lambda xs: "[" + ",".join(xs) + "]"),
    max_leaves=8)


def _standard(raw: str) -> object:
    """The standard library's path alone: what the policy means."""
    from hostline.json_boundary import _decode_standard

    try:
        return ("ok", _decode_standard(raw, raw_text=True))
    except InvalidJSON as exc:
        return ("refused", exc.code)


def _fast(raw: str) -> object:
    try:
        return ("ok", decode_json(raw))
    except InvalidJSON as exc:
        return ("refused", exc.code)


@settings(max_examples=300, deadline=None)
@given(number_texts | json_values.map(json.dumps)
       | json_values.map(lambda v: json.dumps(v, ensure_ascii=False))
       | st.text(max_size=40))
def test_the_fast_parser_agrees_with_the_policy(raw: str) -> None:
    """orjson's parse, where it is used, gives what the standard path gives
    (value and type), and refuses what it refuses, with the same reason."""
    got, want = _fast(raw), _standard(raw)
    assert got == want
    if got[0] == "ok":
        assert repr(got[1]) == repr(want[1])  # 1 and 1.0, -0.0 and 0.0 told apart


@settings(max_examples=300, deadline=None)
@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | any_text,
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
    | st.dictionaries(any_text | st.integers() | st.booleans(), inner, max_size=4),
    max_leaves=20))
def test_the_fast_encoder_agrees_with_the_standard_one(value: object) -> None:
    """Whatever the value (NaN, lone surrogates, integers past 64 bits, keys
    that are not strings), the text means what the standard encoder's does."""
    from hostline.json_boundary import _dumps

    standard = json.loads(_dumps(scrub_json(value), False, None))
    assert json.loads(encode_json(value)) == standard
    assert json.loads(encode_json_bytes(value)) == standard
