"""Constants of the MCP tests (conftest puts this directory on sys.path)."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent
KEY = "mcp-plain-key-0123456789"
ALICE = "mcp-alice-key-0123456789"
BOB = "mcp-bob-key-0123456789"
AUDIENCE = "http://127.0.0.1/oauth/"

CONFIG = f"""
[host]
state_dir = "{{state_dir}}"
target = "mcp_targets:counting"

[channels.mcp]
api_keys = ["{KEY}", {{ key = "{ALICE}", native_id = "alice", name = "Alice" }}]

[channels.oauth]
plugin = "mcp"
oauth_issuer = "{{issuer}}"
oauth_audience = "{AUDIENCE}"
jwks_url = "{{jwks_url}}"
required_scopes = ["agent"]
tool_name = "consult"

[channels.stateless]
plugin = "mcp"
api_keys = ["{KEY}"]
stateless = true

[channels.guarded]
plugin = "mcp"
api_keys = [{{ key = "{ALICE}", native_id = "alice" }}, {{ key = "{BOB}", native_id = "bob" }}]

[channels.guarded.allow]
native_ids = ["alice"]

[channels.open]
plugin = "mcp"
"""
