"""Raw HTTP against the real server: bad input gets OpenAI's error shape, never a 5xx."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from responses_testkit import KEY

from hostline.testing import ServerProcess


def assert_error(res: httpx.Response, status: int, *, param: str | None = "?",
                 code: str | None = "?") -> dict[str, Any]:
    """OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``."""
    assert res.status_code == status, res.text
    assert res.headers["content-type"].startswith("application/json")
    body = res.json()
    assert set(body) == {"error"}
    err = body["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert isinstance(err["message"], str) and err["message"]
    assert isinstance(err["type"], str)
    if param != "?":
        assert err["param"] == param
    if code != "?":
        assert err["code"] == code
    return err  # type: ignore[no-any-return]


def test_malformed_json(http: httpx.Client) -> None:
    err = assert_error(http.post("/responses", content=b"{not json",
                                 headers={"content-type": "application/json"}), 400)
    assert err["type"] == "invalid_request_error"
    assert_error(http.post("/responses", content=b""), 400)
    assert_error(http.post("/responses", content=b"[1, 2]"), 400)
    assert_error(http.post("/responses", content=b'"input"'), 400)
    assert_error(http.post("/responses", content=b'{"input": NaN}'), 400)
    assert_error(http.post("/responses", content=b'{"input": "x", "temperature": Infinity}'),
                 400)
    assert_error(http.post("/responses", content=b"\xff\xfe"), 400)
    assert_error(http.post("/responses", content=b"[" * 100_000), 400)


@pytest.mark.parametrize(("body", "param"), [
    ({}, "input"),
    ({"input": None}, "input"),
    ({"input": 42}, "input"),
    ({"input": {"role": "user"}}, "input"),
    ({"input": [42]}, "input[0]"),
    ({"input": [{"role": "wizard", "content": "x"}]}, "input[0].role"),
    ({"input": [{"role": "user", "content": 5}]}, "input[0].content"),
    ({"input": [{"role": "user", "content": [{"type": "input_text"}]}]},
     "input[0].content[0].text"),
    ({"input": [{"role": "user", "content": [{"type": "output_text", "text": "x"}]}]},
     "input[0].content[0].type"),
    ({"input": [{"type": "function_call_output", "call_id": "c", "output": "x"}]},
     "input[0].type"),
    ({"input": "x", "model": 7}, "model"),
    ({"input": "x", "instructions": ["a"]}, "instructions"),
    ({"input": "x", "store": "yes"}, "store"),
    ({"input": "x", "stream": 1}, "stream"),
    ({"input": "x", "background": "true"}, "background"),
    ({"input": "x", "metadata": "m"}, "metadata"),
    ({"input": "x", "metadata": {"k": 1}}, "metadata.k"),
    ({"input": "x", "metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
    ({"input": "x", "previous_response_id": 3}, "previous_response_id"),
    ({"input": "x", "conversation": 3}, "conversation"),
    ({"input": "x", "conversation": {"id": 3}}, "conversation.id"),
    ({"input": "x", "temperature": "hot"}, "temperature"),
    ({"input": "x", "max_output_tokens": -1}, "max_output_tokens"),
    ({"input": "x", "tools": {}}, "tools"),
    ({"input": "x", "frobnicate": True}, "frobnicate"),
    ({"input": "x", "previous_response_id": "resp_1", "conversation": "conv_1"}, "conversation"),
])
def test_wrong_types_are_400_with_param(http: httpx.Client, body: dict[str, Any],
                                         param: str) -> None:
    err = assert_error(http.post("/responses", json=body), 400, param=param)
    assert err["type"] == "invalid_request_error"


def test_unknown_ids_are_404(http: httpx.Client) -> None:
    for method, path in [("GET", "/responses/resp_missing"),
                         ("DELETE", "/responses/resp_missing"),
                         ("GET", "/responses/resp_missing/input_items"),
                         ("POST", "/responses/resp_missing/cancel"),
                         ("GET", "/responses/" + "x" * 5000),
                         ("GET", "/conversations/conv_missing"),
                         ("POST", "/conversations/conv_missing"),
                         ("DELETE", "/conversations/conv_missing"),
                         ("GET", "/conversations/conv_missing/items"),
                         ("POST", "/conversations/conv_missing/items"),
                         ("GET", "/conversations/conv_missing/items/msg_x"),
                         ("DELETE", "/conversations/conv_missing/items/msg_x"),
                         ("GET", "/models/nope"),
                         ("GET", "/no/such/route")]:
        kwargs = {"json": {"metadata": {}}} if method == "POST" else {}
        err = assert_error(http.request(method, path, **kwargs), 404)
        assert err["message"]
    assert_error(http.post("/responses", json={"input": "x", "conversation": "conv_missing"}),
                 404, param="conversation")
    assert_error(http.post("/responses", json={"input": "x",
                                               "previous_response_id": "resp_missing"}),
                 400, param="previous_response_id", code="previous_response_not_found")


def test_unknown_item_in_existing_conversation(http: httpx.Client) -> None:
    conv = http.post("/conversations", json={}).json()
    assert_error(http.get(f"/conversations/{conv['id']}/items/msg_nope"), 404)
    assert_error(http.get(f"/conversations/{conv['id']}/items", params={"after": "msg_nope"}),
                 400, param="after")


def test_bad_query_parameters(http: httpx.Client) -> None:
    rid = http.post("/responses", json={"input": "q"}).json()["id"]
    for params, param in [({"limit": "0"}, "limit"), ({"limit": "101"}, "limit"),
                          ({"limit": "many"}, "limit"), ({"order": "sideways"}, "order"),
                          ({"after": "msg_nope"}, "after"), ({"before": "msg_nope"}, "before")]:
        assert_error(http.get(f"/responses/{rid}/input_items", params=params), 400, param=param)
    assert_error(http.get(f"/responses/{rid}", params={"stream": "maybe"}), 400, param="stream")
    bg = http.post("/responses", json={"input": "b", "background": True}).json()["id"]
    assert_error(http.get(f"/responses/{bg}", params={"stream": "true",
                                                      "starting_after": "x"}), 400,
                 param="starting_after")


def test_conversation_bodies(http: httpx.Client) -> None:
    assert_error(http.post("/conversations", json={"items": "x"}), 400, param="items")
    assert_error(http.post("/conversations", json={"items": [{"role": "user"}]}), 400,
                 param="items[0].content")
    assert_error(http.post("/conversations", json={"nope": 1}), 400, param="nope")
    assert_error(http.post("/conversations",
                           json={"items": [{"role": "user", "content": "x"}] * 21}), 400,
                 param="items")
    conv = http.post("/conversations").json()  # an empty body is fine here
    assert conv["object"] == "conversation"
    assert_error(http.post(f"/conversations/{conv['id']}", json={}), 400, param="metadata")
    assert_error(http.post(f"/conversations/{conv['id']}/items", json={}), 400, param="items")
    assert_error(http.post(f"/conversations/{conv['id']}/items", content=b"{"), 400)


def test_oversized_body_is_413_in_openai_shape(http: httpx.Client) -> None:
    big = b'{"input": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    err = assert_error(http.post("/responses", content=big,
                                 headers={"content-type": "application/json"}), 413)
    assert err["type"] == "invalid_request_error"

    def chunks() -> Any:
        yield b'{"input": "'
        for _ in range(40):
            yield b"y" * 65536
        yield b'"}'

    # chunked (no content-length): cut off while streaming
    res = http.post("/responses", content=chunks(), headers={"content-type": "application/json"})
    assert_error(res, 413)


def test_authentication_errors(server: ServerProcess) -> None:
    url = f"{server.url}/responses/v1/models"
    err = assert_error(httpx.get(url), 401, code=None)
    assert "API key" in err["message"]
    assert_error(httpx.get(url, headers={"authorization": "Basic abc"}), 401)
    assert_error(httpx.get(url, headers={"authorization": "Bearer"}), 401)
    err = assert_error(httpx.get(url, headers={"authorization": "Bearer sk-nope"}), 401,
                       code="invalid_api_key")
    assert "sk-nope" not in err["message"]
    assert httpx.get(url, headers={"authorization": f"Bearer {KEY}"}).status_code == 200


def test_method_not_allowed(http: httpx.Client) -> None:
    assert_error(http.put("/responses"), 405)
    assert_error(http.patch("/models"), 405)


# hypothesis: random bodies over every route ----------------------------------------------
@pytest.fixture
def fresh(server: ServerProcess) -> Any:
    """A client opening a new connection per request: the router's trailing-slash
    redirect answers without reading the body, which makes any HTTP/1.1 server
    close that keep-alive connection; a reused connection would race with it."""
    with httpx.Client(base_url=f"{server.url}/responses/v1", timeout=20,
                      headers={"authorization": f"Bearer {KEY}"},
                      limits=httpx.Limits(max_keepalive_connections=0)) as c:
        yield c


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False,
                                                                      allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                max_size=4),
    max_leaves=12)
_keys = st.sampled_from(["model", "input", "instructions", "previous_response_id",
                         "conversation", "store", "metadata", "stream", "background", "items",
                         "temperature", "tools", "text", "role", "content", "type", "include"])
_part = st.fixed_dictionaries({"type": st.sampled_from(["input_text", "input_image",
                                                        "input_file", "output_text", "x"])},
                              optional={"text": _json, "image_url": _json, "file_id": _json,
                                        "file_data": _json, "detail": _json})
_item = st.fixed_dictionaries({}, optional={
    "type": st.sampled_from(["message", "function_call", "x"]) | _json,
    "role": st.sampled_from(["user", "system", "developer", "assistant", "tool"]) | _json,
    "content": st.text(max_size=10) | st.lists(_part | _json, max_size=3) | _json})
_body = (st.dictionaries(_keys, _json, max_size=6)
         | st.fixed_dictionaries({"input": st.text(max_size=20) | st.lists(_item, max_size=3)},
                                 optional={"metadata": _json, "store": _json,
                                           "conversation": _json,
                                           "previous_response_id": _json,
                                           "background": st.booleans(),
                                           "items": st.lists(_item, max_size=3)})
         | _json)
_ids = st.sampled_from(["resp_x", "conv_x", "msg_x", "", "%2e%2e", "a/b", "ü" * 3])
_routes = st.sampled_from([
    ("POST", "/responses"), ("GET", "/responses/{id}"), ("DELETE", "/responses/{id}"),
    ("GET", "/responses/{id}/input_items"), ("POST", "/responses/{id}/cancel"),
    ("POST", "/conversations"), ("GET", "/conversations/{id}"),
    ("POST", "/conversations/{id}"), ("DELETE", "/conversations/{id}"),
    ("POST", "/conversations/{id}/items"), ("GET", "/conversations/{id}/items"),
    ("GET", "/conversations/{id}/items/{id}"), ("GET", "/models"), ("GET", "/models/{id}")])
_query = st.dictionaries(st.sampled_from(["limit", "order", "after", "before", "stream",
                                          "starting_after", "include[]"]),
                         st.text(max_size=6), max_size=3)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(route=_routes, rid=_ids, body=_body, query=_query, raw=st.booleans())
def test_hypothesis_no_5xx(fresh: httpx.Client, route: tuple[str, str], rid: str, body: Any,
                           query: dict[str, str], raw: bool) -> None:
    http = fresh
    method, template = route
    path = template.replace("{id}", rid)
    if body is not None and isinstance(body, dict) and body.get("stream") is True:
        body["stream"] = False  # keep every example a plain request/response
    # ``raw``: Python's repr is almost JSON, a good source of malformed bodies.
    content = repr(body).encode() if raw else None
    if method == "GET" or method == "DELETE":
        res = http.request(method, path, params=query)
    elif content is not None:
        res = http.request(method, path, params=query, content=content)
    else:
        res = http.request(method, path, params=query, json=body)
    assert res.status_code < 500, res.text
    if res.status_code >= 400:
        assert_error(res, res.status_code)
    elif res.is_redirect:
        pass  # the router's trailing-slash redirect ("/responses/" -> "/responses")
    elif res.headers["content-type"].startswith("text/event-stream"):
        assert "event: " in res.text
    else:
        assert isinstance(res.json(), dict)
