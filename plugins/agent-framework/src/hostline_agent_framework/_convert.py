"""Conversions between hostline values and Agent Framework values."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

import agent_framework as af

import hostline

__all__ = ["answer_for", "question_of", "text_of", "to_af_messages", "usage_of"]


def to_af_messages(messages: Sequence[hostline.Message]) -> list[af.Message]:
    """hostline messages -> Agent Framework messages (text, and media by URL)."""
    out: list[af.Message] = []
    for message in messages:
        contents: list[af.Content] = []
        for part in message.content:
            if isinstance(part, hostline.TextPart):
                if part.text:
                    contents.append(af.Content.from_text(part.text))
            elif part.url:
                default = "image/*" if isinstance(part, hostline.ImagePart) else None
                contents.append(af.Content.from_uri(part.url,
                                                    media_type=part.mime_type or default,
                                                    name=part.name))
        if contents:
            role = message.role if message.role in ("user", "assistant", "system") else "user"
            out.append(af.Message(role=role, contents=contents))
    return out


def text_of(data: Any) -> str:
    """The text of a workflow output or agent response of any usual shape."""
    if data is None:
        return ""
    if isinstance(data, str):
        return data
    if isinstance(data, af.Message):
        return data.text
    text = getattr(data, "text", None)
    if isinstance(text, str):  # AgentResponse(Update), ChatResponse, Content
        return text
    if isinstance(data, (list, tuple)):
        items = list(data)
        if items and all(isinstance(m, af.Message) for m in items):
            # A conversation (sequential orchestrations yield these): the
            # assistant's part is the answer.
            said = [m.text for m in items if m.role == "assistant" and m.text]
            return "\n\n".join(said or [items[-1].text])
        return "\n\n".join(t for t in (text_of(i) for i in items) if t)
    if dataclasses.is_dataclass(data) and not isinstance(data, type):
        return json.dumps(dataclasses.asdict(data), default=str)
    dump = getattr(data, "model_dump_json", None)
    if callable(dump):
        return str(dump())
    return str(data)


def usage_of(response: Any) -> hostline.Usage:
    """Token counts from an ``AgentResponse.usage_details``."""
    details = getattr(response, "usage_details", None) or {}
    return hostline.Usage(int(details.get("input_token_count") or 0),
                          int(details.get("output_token_count") or 0))


_QUESTION_KEYS = ("question", "prompt", "message", "text")


def question_of(event: Any) -> str:
    """What to ask the person for a ``request_info`` event."""
    data = event.data
    if isinstance(data, af.Content) and data.type == "function_approval_request":
        call = getattr(data, "function_call", None)
        name = getattr(call, "name", None) or "a tool"
        args = getattr(call, "arguments", None)
        shown = args if isinstance(args, str) else json.dumps(args, default=str) if args else ""
        return f"Approve calling {name}({shown})? Answer yes or no."
    if isinstance(data, str):
        return data
    if isinstance(data, Mapping):
        for key in _QUESTION_KEYS:
            if isinstance(data.get(key), str) and data[key]:
                return str(data[key])
    for key in _QUESTION_KEYS:
        value = getattr(data, key, None)
        if isinstance(value, str) and value:
            return value
    return text_of(data)


class BadAnswer(ValueError):
    """The person's reply cannot be turned into the type the workflow expects."""


_YES = {"y", "yes", "true", "1", "ok", "okay", "approve", "approved", "sure"}
_NO = {"n", "no", "false", "0", "deny", "denied", "reject", "nope"}


def _yes_no(text: str) -> bool:
    word = text.strip().strip(".!").lower()
    if word in _YES:
        return True
    if word in _NO:
        return False
    raise BadAnswer("Please answer yes or no.")


def answer_for(event: Any, text: str) -> Any:
    """Turn the person's reply ``text`` into the response ``event`` expects."""
    data = event.data
    if isinstance(data, af.Content) and data.type == "function_approval_request":
        return data.to_function_approval_response(_yes_no(text))
    return _coerce(text, getattr(event, "response_type", None))


def _coerce(text: str, target: Any) -> Any:
    if target in (None, str, Any, object):
        return text
    origin = typing.get_origin(target)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(target)
        if str in options:
            return text
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(text, option)
            except BadAnswer:
                continue
        raise BadAnswer("I could not understand that answer; please try again.")
    if target is bool:
        return _yes_no(text)
    if target in (int, float):
        try:
            return target(text.strip())
        except ValueError:
            raise BadAnswer("Please answer with a number.") from None
    if target is af.Message:
        return af.Message(role="user", contents=[text])
    if origin in (list, Sequence) and typing.get_args(target) == (af.Message,):
        return [af.Message(role="user", contents=[text])]
    validate = getattr(target, "model_validate_json", None)
    if callable(validate):  # a pydantic model: the reply is JSON
        try:
            return validate(text)
        except ValueError:
            raise BadAnswer("Please answer with JSON matching the requested fields.") from None
    if isinstance(target, type):
        try:
            return target(text)
        except (TypeError, ValueError):
            pass
    raise BadAnswer(f"This step expects a {getattr(target, '__name__', target)}; "
                    "it cannot be answered in chat.")
