"""hostline-a2a: the served agent as an A2A agent (agent card + JSON-RPC)."""

from .channel import A2AChannel
from .config import A2AConfig, Skill

__all__ = ["A2AChannel", "A2AConfig", "Skill"]
