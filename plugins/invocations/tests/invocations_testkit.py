"""Constants shared by the Invocations tests (conftest puts this directory on sys.path)."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent
KEY = "inv-plain-key-0123456789"
ALICE = "inv-alice-key-0123456789"
BOB = "inv-bob-key-0123456789"

CONFIG = f"""
[host]
state_dir = "{{state_dir}}"
target = "invocations_targets:chatty"

[channels.invocations]
api_keys = ["{KEY}", {{ key = "{ALICE}", native_id = "alice", name = "Alice" }}]

[channels.guarded]
plugin = "invocations"
api_keys = [{{ key = "{ALICE}", native_id = "alice" }}, {{ key = "{BOB}", native_id = "bob" }}]
max_body_bytes = 2048

[channels.guarded.allow]
native_ids = ["alice"]

[channels.open]
plugin = "invocations"
"""
