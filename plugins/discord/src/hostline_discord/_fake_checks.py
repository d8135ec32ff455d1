"""Discord's validation of message and command payloads, for the fake."""

from __future__ import annotations

import json
import re
from typing import Any

from hostline.testing import Reply

__all__ = ["check_commands", "error", "invalid_message", "json_reply"]

_MAX_CONTENT = 2000
_MAX_EMBEDS = 10


def json_reply(status: int, data: Any, headers: dict[str, str] | None = None) -> Reply:
    """A JSON answer (a bodiless one for 204)."""
    if status == 204:
        return 204, dict(headers or {}), b""
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return status, {"content-type": "application/json", **(headers or {})}, body


def error(status: int, message: str, code: int = 0, **extra: Any) -> Reply:
    """Discord's error shape: ``{"message", "code"}`` (and ``errors`` for form bodies)."""
    return json_reply(status, {"message": message, "code": code, **extra})


def check_commands(body: Any) -> dict[str, Any] | None:
    """Discord's validation of a bulk overwrite, as an ``errors`` object or ``None``."""
    if not isinstance(body, list) or len(body) > 100:
        return {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH"}]}
    names: set[str] = set()
    for i, cmd in enumerate(body):
        if not isinstance(cmd, dict):
            return {str(i): {"_errors": [{"code": "DICT_TYPE_CONVERT"}]}}
        name, desc = cmd.get("name"), cmd.get("description")
        if not isinstance(name, str) or not re.fullmatch(r"[-_\w]{1,32}", name) or \
                name != name.lower() or name in names:
            return {str(i): {"name": {"_errors": [{"code": "APPLICATION_COMMAND_INVALID_NAME"}]}}}
        names.add(name)
        if not isinstance(desc, str) or not 1 <= len(desc) <= 100:
            return {str(i): {"description": {"_errors": [{"code": "BASE_TYPE_BAD_LENGTH"}]}}}
        options = cmd.get("options") or []
        if not isinstance(options, list) or len(options) > 25:
            return {str(i): {"options": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH"}]}}}
        seen_optional = False
        for opt in options:
            if not isinstance(opt, dict) or not isinstance(opt.get("name"), str) or \
                    not re.fullmatch(r"[-_\w]{1,32}", opt["name"]) or \
                    not 1 <= len(str(opt.get("description", ""))) <= 100:
                return {str(i): {"options": {"_errors": [{"code": "OPTION_INVALID"}]}}}
            if opt.get("required") and seen_optional:
                return {str(i): {"options": {"_errors": [
                    {"code": "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID"}]}}}
            seen_optional = seen_optional or not opt.get("required")
    return None


def invalid_message(body: Any, *, edit: bool) -> Reply | None:
    """A Discord error answer for an invalid message payload, or ``None``."""
    if not isinstance(body, dict):
        return error(400, "Invalid Form Body", 50035)
    content = body.get("content")
    if content is not None and not isinstance(content, str):
        return error(400, "Invalid Form Body", 50035,
                      errors={"content": {"_errors": [{"code": "BASE_TYPE_STRING"}]}})
    if isinstance(content, str) and len(content) > _MAX_CONTENT:
        return error(400, "Invalid Form Body", 50035, errors={"content": {"_errors": [
            {"code": "BASE_TYPE_MAX_LENGTH",
             "message": "Must be 2000 or fewer in length."}]}})
    embeds = body.get("embeds") or []
    if not isinstance(embeds, list) or len(embeds) > _MAX_EMBEDS:
        return error(400, "Invalid Form Body", 50035, errors={"embeds": {"_errors": [
            {"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 10 or fewer in length."}]}})
    rows = body.get("components") or []
    if not isinstance(rows, list) or len(rows) > 5 or any(
            not isinstance(r, dict) or r.get("type") != 1
            or not isinstance(r.get("components"), list) or not 1 <= len(r["components"]) <= 5
            or any(not isinstance(c, dict) or len(str(c.get("custom_id", ""))) > 100
                   or len(str(c.get("label", ""))) > 80 for c in r["components"])
            for r in rows):
        return error(400, "Invalid Form Body", 50035,
                      errors={"components": {"_errors": [{"code": "COMPONENT_INVALID"}]}})
    if not edit and not (content or embeds or rows):
        return error(400, "Cannot send an empty message", 50006)
    return None
