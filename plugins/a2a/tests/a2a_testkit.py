"""Constants of the A2A tests (conftest puts this directory on sys.path)."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent
KEY = "a2a-plain-key-0123456789"
AUDIENCE = "http://127.0.0.1/a2a-oauth/"

CONFIG = f"""
[host]
state_dir = "{{state_dir}}"
target = "a2a_targets:remembering"

[host.outbox]
backoff_initial = 0.2
backoff_max = 1.0

[channels.a2a]
api_keys = ["{KEY}"]
name = "Test agent"
description = "Remembers what you said."
push_allow_private = true
task_lease = 2.0

[[channels.a2a.skills]]
id = "remember"
name = "Remember"
description = "Counts your earlier messages."
tags = ["memory"]

[channels.oauth]
plugin = "a2a"
oauth_issuer = "{{issuer}}"
oauth_audience = "{AUDIENCE}"
jwks_url = "{{jwks_url}}"
required_scopes = ["agent"]
"""
