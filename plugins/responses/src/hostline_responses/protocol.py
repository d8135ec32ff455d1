"""The OpenAI Responses wire format: request validation, items, Response objects, events.

Everything here is pure: JSON in, JSON out, :class:`ApiError` for bad input.
Shapes follow the OpenAI API reference (and the ``openai`` SDK's types) field
by field, so the official SDK parses every object this channel returns.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from starlette.responses import JSONResponse

from hostline import (
    FilePart,
    ImagePart,
    Message,
    RunResult,
    TextPart,
    Usage,
    error_response,
    ordered_hex,
)

__all__ = [
    "TERMINAL",
    "ApiError",
    "CreateParams",
    "input_item_to_message",
    "message_to_output_item",
    "new_id",
    "parse_create",
    "parse_items",
    "response_object",
    "usage_object",
]

#: Statuses after which a response never changes again.
TERMINAL = frozenset({"completed", "failed", "cancelled", "incomplete"})

_ERROR_TYPES = {400: "invalid_request_error", 401: "invalid_request_error",
                403: "permission_error", 404: "invalid_request_error",
                409: "invalid_request_error", 413: "invalid_request_error",
                429: "rate_limit_error", 503: "server_error"}


class ApiError(Exception):
    """An error answered in OpenAI's shape ``{"error": {message, type, param, code}}``."""

    def __init__(self, status: int, message: str, *, param: str | None = None,
                 code: str | None = None, type: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.type = type or _ERROR_TYPES.get(status, "invalid_request_error")
        self.headers = headers

    def response(self) -> JSONResponse:
        """The JSON error response."""
        return error_response(self.status, self.message, code=self.code, param=self.param,
                              type=self.type, headers=self.headers)


def invalid(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    """A 400 ``invalid_request_error``."""
    return ApiError(400, message, param=param, code=code)


def not_found(message: str, param: str | None = None) -> ApiError:
    """A 404."""
    return ApiError(404, message, param=param)


def new_id(prefix: str) -> str:
    """An id in OpenAI's style (``resp_...``, ``msg_...``, ``conv_...``): ordered
    by creation time, then 12 random bytes (:func:`hostline.ordered_hex`), so
    the records keyed by it append to the store's indexes."""
    return f"{prefix}_{ordered_hex(18)}"


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def wrong_type(param: str, expected: str, value: Any) -> ApiError:
    """OpenAI's wording for a parameter of the wrong type."""
    return invalid(f"Invalid type for '{param}': expected {expected}, but got "
                   f"{_type_name(value)} instead.", param, "invalid_type")


def _opt(body: Mapping[str, Any], key: str, kinds: type | tuple[type, ...],
         expected: str) -> Any:
    value = body.get(key)
    if value is None:
        return None
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        raise wrong_type(key, expected, value)
    return value


def parse_metadata(value: Any, param: str = "metadata") -> dict[str, str]:
    """Up to 16 string pairs, keys up to 64 characters, values up to 512."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise wrong_type(param, "an object", value)
    if len(value) > 16:
        raise invalid(f"Invalid '{param}': too many properties. Expected an object with at "
                      f"most 16 properties, but got {len(value)} instead.", param,
                      "object_above_max_properties")
    for k, v in value.items():
        if len(k) > 64:
            raise invalid(f"Invalid '{param}': keys can be at most 64 characters long.",
                          param, "invalid_metadata")
        if not isinstance(v, str):
            raise wrong_type(f"{param}.{k}", "a string", v)
        if len(v) > 512:
            raise invalid(f"Invalid '{param}.{k}': string too long. Expected a string with "
                          "maximum length 512.", f"{param}.{k}", "string_above_max_length")
    return dict(value)


# input items ---------------------------------------------------------------
_INPUT_ROLES = ("user", "system", "developer", "assistant")


def _text(value: Any, param: str) -> str:
    if not isinstance(value, str):
        raise wrong_type(param, "a string", value)
    return value


def _part(raw: Any, role: str, param: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise wrong_type(param, "an object", raw)
    kind = raw.get("type")
    if kind == "input_text" or (kind == "output_text" and role == "assistant"):
        part: dict[str, Any] = {"type": kind, "text": _text(raw.get("text"), f"{param}.text")}
        if kind == "output_text":
            part["annotations"] = []
        return part
    if kind == "refusal" and role == "assistant":
        return {"type": "refusal", "refusal": _text(raw.get("refusal"), f"{param}.refusal")}
    if kind == "input_image":
        url, file_id = raw.get("image_url"), raw.get("file_id")
        for name, v in (("image_url", url), ("file_id", file_id)):
            if v is not None and not isinstance(v, str):
                raise wrong_type(f"{param}.{name}", "a string", v)
        if not url and not file_id:
            raise invalid(f"Invalid '{param}': an input_image needs image_url or file_id.",
                          param, "missing_required_parameter")
        detail = raw.get("detail", "auto")
        if detail not in ("low", "high", "auto", "original"):
            raise invalid(f"Invalid value for '{param}.detail': expected one of 'low', "
                          "'high', 'auto' or 'original'.", f"{param}.detail", "invalid_value")
        return {"type": "input_image", "image_url": url, "file_id": file_id, "detail": detail}
    if kind == "input_file":
        fields = {}
        for name in ("file_id", "file_url", "file_data", "filename"):
            v = raw.get(name)
            if v is not None and not isinstance(v, str):
                raise wrong_type(f"{param}.{name}", "a string", v)
            fields[name] = v
        if not (fields["file_id"] or fields["file_url"] or fields["file_data"]):
            raise invalid(f"Invalid '{param}': an input_file needs file_id, file_url or "
                          "file_data.", param, "missing_required_parameter")
        return {"type": "input_file", **{k: v for k, v in fields.items() if v is not None}}
    allowed = "'input_text', 'input_image', 'input_file'" + (
        ", 'output_text', 'refusal'" if role == "assistant" else "")
    raise invalid(f"Invalid value for '{param}.type': {kind!r:.60} is not supported here; "
                  f"expected one of {allowed}.", f"{param}.type", "invalid_value")


def _message_item(raw: Any, param: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise wrong_type(param, "an object", raw)
    kind = raw.get("type", "message")
    if kind != "message":
        raise invalid(f"Invalid value for '{param}.type': {kind!r:.60} items are not "
                      "supported by this server; send 'message' items.", f"{param}.type",
                      "invalid_value")
    role = raw.get("role")
    if role not in _INPUT_ROLES:
        raise invalid(f"Invalid value for '{param}.role': expected one of 'user', 'system', "
                      f"'developer' or 'assistant', but got {role!r:.60}.", f"{param}.role",
                      "invalid_value")
    content = raw.get("content")
    if isinstance(content, str):
        parts = [{"type": "output_text", "text": content, "annotations": []}
                 if role == "assistant" else {"type": "input_text", "text": content}]
    elif isinstance(content, list):
        parts = [_part(p, role, f"{param}.content[{j}]") for j, p in enumerate(content)]
    else:
        raise wrong_type(f"{param}.content", "a string or an array of content parts", content)
    return {"id": new_id("msg"), "type": "message", "role": role, "content": parts,
            "status": "completed"}


def parse_items(value: Any, param: str = "input") -> list[dict[str, Any]]:
    """Normalise ``input``: a string or a list of message items -> stored items with ids."""
    if isinstance(value, str):
        return [{"id": new_id("msg"), "type": "message", "role": "user",
                 "content": [{"type": "input_text", "text": value}], "status": "completed"}]
    if not isinstance(value, list):
        raise wrong_type(param, "a string or an array of input items", value)
    return [_message_item(item, f"{param}[{i}]") for i, item in enumerate(value)]


def input_item_to_message(item: Mapping[str, Any]) -> Message:
    """A stored message item as a :class:`hostline.Message` for the target."""
    parts: list[Any] = []
    for p in item.get("content") or []:
        kind = p.get("type")
        if kind in ("input_text", "output_text"):
            parts.append(TextPart(p.get("text", "")))
        elif kind == "refusal":
            parts.append(TextPart(p.get("refusal", "")))
        elif kind == "input_image":
            parts.append(ImagePart(url=p.get("image_url"), file_id=p.get("file_id")))
        elif kind == "input_file":
            data = p.get("file_data")
            url = p.get("file_url")
            if data and not url:
                url = data if data.startswith("data:") else (
                    f"data:application/octet-stream;base64,{data}")
            parts.append(FilePart(url=url, file_id=p.get("file_id"), name=p.get("filename")))
    return Message(str(item.get("role", "user")), tuple(parts))


def output_text_part(text: str) -> dict[str, Any]:
    """An ``output_text`` content part."""
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def message_to_output_item(message: Message, item_id: str | None = None,
                           status: str = "completed") -> dict[str, Any]:
    """An assistant :class:`hostline.Message` as an output ``message`` item."""
    return {"id": item_id or new_id("msg"), "type": "message", "role": "assistant",
            "status": status, "content": [output_text_part(message.text)]}


def output_items(result: RunResult | None) -> list[dict[str, Any]]:
    """Output items for the assistant messages of a result (text parts only)."""
    if result is None:
        return []
    return [message_to_output_item(m) for m in result.messages
            if m.role == "assistant" and m.text]


def usage_object(usage: Usage | None) -> dict[str, Any]:
    """A ``ResponseUsage``."""
    u = usage or Usage()
    return {"input_tokens": u.input_tokens,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": u.output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": u.total_tokens}


# create parameters -----------------------------------------------------------
#: Parameters this server accepts, passes to the target as ``options`` and echoes
#: back, but does not interpret itself.
PASSTHROUGH: dict[str, Any] = {
    "temperature": 1.0, "top_p": 1.0, "max_output_tokens": None, "max_tool_calls": None,
    "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
    "text": {"format": {"type": "text"}, "verbosity": "medium"},
    "reasoning": {"effort": None, "summary": None}, "truncation": "disabled",
    "user": None, "safety_identifier": None, "prompt_cache_key": None,
    "prompt_cache_retention": None, "service_tier": "default", "top_logprobs": 0,
    "prompt": None,
}
#: Accepted and ignored (they only shape what is returned or how it is sent).
IGNORED = ("include", "stream_options", "context_management", "background_options",
           "image", "moderation", "access_programs", "prompt_cache_options", "verbosity")
KNOWN = {"model", "input", "instructions", "previous_response_id", "conversation", "store",
         "metadata", "stream", "background", *PASSTHROUGH, *IGNORED}
_PASSTHROUGH_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "temperature": ((int, float), "a number"), "top_p": ((int, float), "a number"),
    "max_output_tokens": ((int,), "an integer"), "max_tool_calls": ((int,), "an integer"),
    "parallel_tool_calls": ((bool,), "a boolean"), "tools": ((list,), "an array"),
    "text": ((dict,), "an object"), "reasoning": ((dict,), "an object"),
    "truncation": ((str,), "a string"), "user": ((str,), "a string"),
    "safety_identifier": ((str,), "a string"), "prompt_cache_key": ((str,), "a string"),
    "prompt_cache_retention": ((str,), "a string"), "service_tier": ((str,), "a string"),
    "top_logprobs": ((int,), "an integer"), "tool_choice": ((str, dict), "a string or an object"),
    "prompt": ((dict,), "an object"),
}


class CreateParams:
    """A validated ``POST /v1/responses`` body."""

    def __init__(self, body: Mapping[str, Any], default_model: str) -> None:
        unknown = sorted(k for k in body if k not in KNOWN)
        if unknown:
            raise invalid(f"Unrecognized request argument supplied: {unknown[0]:.100}",
                          unknown[0], "unknown_parameter")
        model = body.get("model", default_model)
        if model is None:
            model = default_model
        if not isinstance(model, str):
            raise wrong_type("model", "a string", model)
        self.model: str = model or default_model
        if "input" not in body or body["input"] is None:
            raise invalid("Missing required parameter: 'input'.", "input",
                          "missing_required_parameter")
        self.input = parse_items(body["input"])
        self.instructions: str | None = _opt(body, "instructions", str, "a string")
        self.previous_response_id: str | None = _opt(body, "previous_response_id", str,
                                                     "a string")
        conv = body.get("conversation")
        if isinstance(conv, dict):
            conv = conv.get("id")
            if not isinstance(conv, str):
                raise wrong_type("conversation.id", "a string", conv)
        elif conv is not None and not isinstance(conv, str):
            raise wrong_type("conversation", "a string or an object", conv)
        self.conversation: str | None = conv
        if self.conversation is not None and self.previous_response_id is not None:
            raise invalid("Mutually exclusive parameters: Ensure you are only providing one "
                          "of: 'previous_response_id' or 'conversation'.", "conversation",
                          "mutually_exclusive_parameters")
        store = _opt(body, "store", bool, "a boolean")
        self.store: bool = True if store is None else store
        self.metadata = parse_metadata(body.get("metadata"))
        self.stream: bool = bool(_opt(body, "stream", bool, "a boolean"))
        self.background: bool = bool(_opt(body, "background", bool, "a boolean"))
        if self.background and not self.store:
            raise invalid("Background mode requires 'store' to be true.", "background",
                          "invalid_value")
        self.extra: dict[str, Any] = {}
        for key, default in PASSTHROUGH.items():
            if key in body and body[key] is not None:
                kinds, expected = _PASSTHROUGH_TYPES[key]
                self.extra[key] = _opt(body, key, kinds, expected)
            else:
                self.extra[key] = default
        for name in ("max_output_tokens", "max_tool_calls", "top_logprobs"):
            v = self.extra[name]
            if v is not None and v < 0:
                raise invalid(f"Invalid '{name}': must be 0 or greater.", name, "invalid_value")

    def options(self) -> dict[str, Any]:
        """What the target sees in ``RunRequest.options``."""
        return {"instructions": self.instructions, "model": self.model,
                "metadata": dict(self.metadata),
                "previous_response_id": self.previous_response_id,
                "conversation": self.conversation,
                **{k: v for k, v in self.extra.items() if v is not None}}


def parse_create(body: Any, default_model: str) -> CreateParams:
    """Validate a create body (must be a JSON object)."""
    if not isinstance(body, dict):
        raise invalid(f"The request body must be a JSON object, but got {_type_name(body)}.",
                      None, "invalid_json")
    return CreateParams(body, default_model)


def response_object(response_id: str, params: CreateParams, *, status: str,
                    created_at: int | None = None) -> dict[str, Any]:
    """A ``Response`` with every field the API returns, before output exists."""
    return {
        "id": response_id,
        "object": "response",
        "created_at": int(created_at if created_at is not None else time.time()),
        "status": status,
        "background": params.background,
        "completed_at": None,
        "conversation": {"id": params.conversation} if params.conversation else None,
        "error": None,
        "incomplete_details": None,
        "instructions": params.instructions,
        "metadata": dict(params.metadata),
        "model": params.model,
        "output": [],
        "previous_response_id": params.previous_response_id,
        "store": params.store,
        "usage": None,
        **params.extra,
    }


def page(items: Iterable[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    """A cursor page ``{"object": "list", data, first_id, last_id, has_more}``."""
    data = list(items)
    return {"object": "list", "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": has_more}


def parse_list_query(query: Mapping[str, str]) -> tuple[str | None, str | None, int, str]:
    """``after``, ``before``, ``limit`` (1-100, default 20), ``order`` (default desc)."""
    raw = query.get("limit")
    limit = 20
    if raw is not None:
        try:
            limit = int(raw)
        except ValueError:
            raise invalid("Invalid 'limit': expected an integer.", "limit",
                          "invalid_type") from None
        if not 1 <= limit <= 100:
            raise invalid(f"Invalid 'limit': integer below minimum value or above maximum "
                          f"value. Expected a value between 1 and 100, but got {limit} "
                          "instead.", "limit", "invalid_value")
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise invalid("Invalid value for 'order': expected one of 'asc' or 'desc'.", "order",
                      "invalid_value")
    return query.get("after") or None, query.get("before") or None, limit, order


def paginate(items: list[dict[str, Any]], after: str | None, before: str | None, limit: int,
             order: str) -> dict[str, Any]:
    """Cursor pagination over an in-memory list (``items`` in ascending order)."""
    seq = items if order == "asc" else list(reversed(items))
    ids = [i["id"] for i in seq]
    start, end = 0, len(seq)
    if after is not None:
        if after not in ids:
            raise invalid(f"Invalid 'after': no item with id '{after:.100}'.", "after",
                          "invalid_value")
        start = ids.index(after) + 1
    if before is not None:
        if before not in ids:
            raise invalid(f"Invalid 'before': no item with id '{before:.100}'.", "before",
                          "invalid_value")
        end = ids.index(before)
    window = seq[start:end]
    if before is not None and after is None:
        # Items just before the cursor, still in the requested order.
        return page(window[-limit:], len(window) > limit)
    return page(window[:limit], len(window) > limit)
