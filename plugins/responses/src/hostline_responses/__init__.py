"""An OpenAI Responses-compatible channel for hostline."""

from .channel import ResponsesChannel

__all__ = ["ResponsesChannel"]
