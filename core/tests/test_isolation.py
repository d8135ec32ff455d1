"""safe_state_path and isolation of stored state."""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hostline import InvalidIsolationKey, IsolationKeys, safe_state_path

ROOT_SETTINGS = settings(max_examples=10_000, deadline=None,
                         suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                HealthCheck.too_slow])

path_alphabet = st.sampled_from(
    [*"./\\:~ $%*?<>|\"'\x00\x01\x1f\x7f",
      "..", "C:", "\\\\", "//", "CON", "nul", "COM1", "lpt9", "aux", "prn", "a", "b", "Z", "9",
      "\uff0f", "\uff3c", "\u2024", "\u2025", "\u2026", "\uff0e", "\u3002", "\u2215",
      "\u2044", "\u29f8", "\ufe52", "\u0338", "\u200b", "\u202e", "\ufeff", "\u00a0",
      "\u2000", "\ud800", "\U0001f600", "e\u0301", "\u00e9", "\ufb01", "\u2126", "\u212a"]
)
path_like = st.lists(path_alphabet, min_size=1, max_size=12).map("".join)
keys = st.one_of(st.text(max_size=60), path_like,
                 st.text(alphabet=st.characters(codec="utf-8"), min_size=190, max_size=210))


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    r = tmp_path_factory.mktemp("root") / "state"
    r.mkdir()
    outside = r.parent / "outside"
    outside.mkdir()
    (r / "escape").symlink_to(outside, target_is_directory=True)
    (r / "selfloop").symlink_to(r, target_is_directory=True)
    return r


def _inside(root: Path, p: Path) -> bool:
    resolved = p.resolve()
    base = root.resolve()
    return resolved.parent == base and resolved != base


@ROOT_SETTINGS
@given(key=keys)
@example(key="..")
@example(key="a/../../etc")
@example(key="\uff0e\uff0e")
@example(key="escape")
def test_accepted_keys_map_strictly_inside_root(root: Path, key: str) -> None:
    try:
        p = safe_state_path(root, key)
    except InvalidIsolationKey:
        return
    assert _inside(root, p)
    assert p.name == key
    assert len(key.encode("utf-8")) <= 200


@settings(max_examples=2_000, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=keys, b=keys)
def test_distinct_accepted_keys_map_to_distinct_paths(root: Path, a: str, b: str) -> None:
    try:
        pa, pb = safe_state_path(root, a), safe_state_path(root, b)
    except InvalidIsolationKey:
        return
    assert (a == b) == (pa == pb)
    assert (a == b) == (os.fsencode(pa) == os.fsencode(pb))


@pytest.mark.parametrize("key", [
    "", ".", "..", "...", ". .", "a/b", "a\\b", "/etc", "\\\\server\\share", "//server/share",
    "C:", "C:foo", "c:\\x", "a\x00b", "a\nb", "\x7f", "a\u200bb", "CON", "con.txt", "NUL",
    "Com1", "LPT9.log", "AUX ", "name.", "name ", " name", "\uff0fetc", "\uff3cx", "\u2024\u2024",
    "\u2025", "x" * 201, "\u00e9" * 101, "a:b", "\ud800", "escape", "selfloop",
])
def test_rejected_classes(root: Path, key: str) -> None:
    with pytest.raises(InvalidIsolationKey):
        safe_state_path(root, key)


@pytest.mark.parametrize("key", ["alice", "tenant-42", "a.b", "\u00e9t\u00e9", "user@example.com",
                                 "x" * 200, "\U0001f600", "a b"])
def test_ordinary_keys_accepted(root: Path, key: str) -> None:
    p = safe_state_path(root, key)
    assert p.parent == root.resolve() or p.parent == root


def test_invalid_key_is_a_value_error() -> None:
    assert issubclass(InvalidIsolationKey, ValueError)


@settings(max_examples=1_000, deadline=None)
@given(a=st.tuples(st.none() | st.text(max_size=20), st.none() | st.text(max_size=20)),
       b=st.tuples(st.none() | st.text(max_size=20), st.none() | st.text(max_size=20)))
def test_isolation_scope_is_injective(a: tuple[str | None, str | None],
                                      b: tuple[str | None, str | None]) -> None:
    sa, sb = IsolationKeys(*a).scope, IsolationKeys(*b).scope
    assert (a == b) == (sa == sb)
    assert "|" not in sa


def test_nfkc_lookalikes_rejected() -> None:
    for ch in ("\uff0f", "\uff3c", "\uff1a"):
        assert unicodedata.normalize("NFKC", ch) in "/\\:"
        with pytest.raises(InvalidIsolationKey):
            safe_state_path(Path("."), f"a{ch}b")
