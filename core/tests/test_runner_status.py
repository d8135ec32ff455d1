"""The runner's log of recent task outcomes: bounded, oldest first."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hostline.runner import StatusLog, TaskStatus

outcomes = st.lists(st.tuples(st.integers(0, 2**62), st.sampled_from(["a:reply", "push"]),
                              st.sampled_from(["done", "retry", "dead"]),
                              st.none() | st.text(max_size=20)), max_size=40)


@given(outcomes, st.integers(1, 8))
def test_the_log_keeps_the_newest_outcomes_in_order(entries, size):
    log = StatusLog(size)
    for task_id, kind, outcome, error in entries:
        log.add(task_id, kind, outcome, error)
    kept = list(log)
    assert len(log) == len(kept) == min(size, len(entries))
    assert [(s.task_id, s.kind, s.outcome, s.error) for s in kept] == \
        entries[len(entries) - len(kept):]
    assert all(isinstance(s, TaskStatus) for s in kept)
    assert [s.at for s in kept] == sorted(s.at for s in kept)
