"""Errors of the Slack channel that are not Web API errors."""

from __future__ import annotations

__all__ = ["FileTooLarge"]


class FileTooLarge(ValueError):
    """A file is over the configured download limit."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"file is {size} bytes, over the {limit}-byte limit")
        self.size = size
        self.limit = limit
