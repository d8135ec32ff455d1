"""hostline-mcp: the served agent as one MCP tool over Streamable HTTP."""

from .channel import MCPChannel
from .config import MCPConfig

__all__ = ["MCPChannel", "MCPConfig"]
