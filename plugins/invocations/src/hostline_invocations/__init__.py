"""hostline-invocations: the agent behind a plain ``POST /<instance>/invoke`` endpoint."""

from .channel import InvocationsChannel
from .config import InvocationsConfig

__all__ = ["InvocationsChannel", "InvocationsConfig"]
