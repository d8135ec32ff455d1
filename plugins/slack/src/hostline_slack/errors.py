"""Errors of the Slack channel that are not Web API errors (the core's
download limit error, re-exported under the plugin's name)."""

from __future__ import annotations

from hostline import FileTooLarge

__all__ = ["FileTooLarge"]
