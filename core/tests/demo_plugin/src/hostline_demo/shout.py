"""A response hook plugin: upper-cases every reply."""

from __future__ import annotations

from typing import Any

import hostline


@hostline.hookimpl
def hostline_response_hook(context: Any) -> Any:
    return hostline.RunResult.from_text(context.result.text.upper())
