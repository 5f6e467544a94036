"""Which sequences share a forward call."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handler.model.planning import plan_micro_batches, plan_packed


@pytest.mark.parametrize(
    "lengths, max_rows, max_tokens, expected",
    [
        ([5, 1, 3], 10, 100, [[1, 2, 0]]),
        ([5, 1, 3], 2, 100, [[1, 2], [0]]),
        ([10, 10, 10, 10], 10, 25, [[0, 1], [2, 3]]),
        ([1000], 4, 10, [[0]]),  # a row longer than the budget still runs, alone
        ([], 4, 10, []),
        ([10, 10, 200, 10, 10, 10], 8, 4096, [[0, 1, 3, 4, 5], [2]]),  # the long row alone saves 950 padded tokens
        ([50, 52, 51, 50, 53, 50, 52, 50], 8, 4096, [[0, 3, 5, 7, 2, 1, 6, 4]]),  # similar rows: one call
        ([5, 6, 140, 141, 290, 292], 8, 4096, [[0, 1], [2, 3], [4, 5]]),
    ],
)
def test_plan(lengths, max_rows, max_tokens, expected) -> None:
    assert [c.tolist() for c in plan_micro_batches(lengths, max_rows, max_tokens)] == expected


@given(st.lists(st.integers(0, 600), max_size=300), st.integers(1, 64), st.integers(1, 20_000))
def test_plan_covers_every_row_once_within_budget(lengths, max_rows, max_tokens) -> None:
    chunks = plan_micro_batches(lengths, max_rows, max_tokens)
    flat = sorted(i for c in chunks for i in c.tolist())
    assert flat == list(range(len(lengths)))
    for chunk in chunks:
        assert len(chunk) <= max_rows
        if len(chunk) > 1:
            assert len(chunk) * max(max(lengths[i] for i in chunk), 1) <= max_tokens


def test_plan_rejects_nonpositive_limits() -> None:
    with pytest.raises(ValueError):
        plan_micro_batches([1], 0, 10)


def test_packed_plans_keep_row_order_and_cut_only_at_the_bounds() -> None:
    tokens = [30, 40, 500, 20, 10, 10, 10]
    chunks = plan_packed(tokens, max_rows=3, max_tokens=100)
    assert [c.tolist() for c in chunks] == [[0, 1], [2], [3, 4, 5], [6]]  # 500 alone: a row always fits
    assert [c.tolist() for c in plan_packed(tokens, max_rows=32, max_tokens=4096)] == [list(range(7))]
    assert plan_packed([], 4, 10) == []
