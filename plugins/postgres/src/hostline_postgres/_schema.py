"""Schema versions of the PostgreSQL store and their migrations.

Each migration runs once, in order, in one transaction, while a
transaction-level advisory lock keeps replicas that start together from
migrating at the same time. A database whose version is newer than
:data:`SCHEMA_VERSION` is refused: this code could not read what a newer one
writes.
"""

from __future__ import annotations

SCHEMA_VERSION = 1

MIGRATIONS: dict[int, list[str]] = {
    1: [
        "CREATE TABLE aliases (scope text COLLATE \"C\" PRIMARY KEY, session text NOT NULL, "
        "updated_at double precision NOT NULL)",
        "CREATE TABLE sessions (key text COLLATE \"C\" PRIMARY KEY, state jsonb NOT NULL, "
        "updated_at double precision NOT NULL)",
        "CREATE TABLE history (id bigserial PRIMARY KEY, session text NOT NULL, "
        "message jsonb NOT NULL, created_at double precision NOT NULL)",
        "CREATE INDEX history_session ON history (session, id)",
        "CREATE TABLE kv (ns text COLLATE \"C\" NOT NULL, key text COLLATE \"C\" NOT NULL, "
        "value jsonb NOT NULL, expires_at double precision, PRIMARY KEY (ns, key))",
        "CREATE INDEX kv_expiry ON kv (expires_at) WHERE expires_at IS NOT NULL",
        "CREATE TABLE links (identity text COLLATE \"C\" PRIMARY KEY, user_id text NOT NULL, "
        "data jsonb NOT NULL, linked_at double precision NOT NULL)",
        "CREATE INDEX links_user ON links (user_id)",
        "CREATE TABLE tasks (id bigserial PRIMARY KEY, kind text NOT NULL, part text NOT NULL, "
        "key text UNIQUE, payload jsonb NOT NULL, state text NOT NULL, "
        "attempts integer NOT NULL, next_at double precision NOT NULL, owner text, "
        "lease_until double precision, last_error text, "
        "created_at double precision NOT NULL, updated_at double precision NOT NULL)",
        # Claims walk the ready tasks in id order and look up busy partitions.
        "CREATE INDEX tasks_pending ON tasks (id) INCLUDE (part, kind, next_at) "
        "WHERE state = 'pending'",
        "CREATE INDEX tasks_leased ON tasks (part) INCLUDE (lease_until) "
        "WHERE state = 'leased'",
        "CREATE TABLE quarantine (id bigserial PRIMARY KEY, tbl text NOT NULL, "
        "row_key text NOT NULL, raw text, error text NOT NULL, at double precision NOT NULL)",
        "CREATE TABLE audit (id bigserial PRIMARY KEY, at double precision NOT NULL, "
        "actor text NOT NULL, action text NOT NULL, subject text, detail jsonb NOT NULL)",
    ],
}
