"""Targets and a feedback-recording plugin for the Slack tests' server processes."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import hostline

LONG_CODE = "\n".join(f"line_{i} = {i} * 2  # keep" for i in range(60))


def long_text() -> str:
    """About 10,000 characters: paragraphs, a list and a code block in the middle."""
    paras = [f"Paragraph {i}: " + " ".join(f"word{i}x{j}" for j in range(40)) for i in range(12)]
    body = "\n\n".join(paras[:6]) + "\n\n```python\n" + LONG_CODE + "\n```\n\n" + \
        "\n".join(f"- item {i} with **bold** text" for i in range(20)) + "\n\n" + \
        "\n\n".join(paras[6:])
    return body + "\n\n" + "tail " * max(0, (10_000 - len(body)) // 5 + 1) + "THE END"


async def history_echo(request: hostline.RunRequest) -> str:
    if request.text.startswith("long"):
        return long_text()
    if request.text.startswith("md"):
        return ("**Bold** and _it_ with `code` and [a link](https://example.com)\n\n"
                "- one\n- two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```\nx < y\n```")
    delay = float(os.environ.get("SLACK_TEST_SLOW", "0") or 0)
    if delay:
        await asyncio.sleep(delay)
    return f"echo: {request.text} (history {len(request.history)})"


async def streamer(request: hostline.RunRequest) -> Any:
    if request.text.startswith("quick"):
        yield "fast answer"
        return
    for i in range(8):
        await asyncio.sleep(0.12)
        yield f"part{i} "


class FeedbackRecorder:
    """Writes each feedback as a JSON line to ``$SLACK_FEEDBACK_FILE``."""

    @hostline.hookimpl
    def hostline_feedback(self, feedback: hostline.Feedback, host: hostline.Host) -> None:
        path = os.environ["SLACK_FEEDBACK_FILE"]
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"rating": feedback.rating, "answer": feedback.answer,
                                "message_id": feedback.message_id, "run_id": feedback.run_id,
                                "identity": feedback.identity.key if feedback.identity else None,
                                "scope": feedback.scope}) + "\n")


feedback_recorder = FeedbackRecorder()
