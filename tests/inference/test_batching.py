"""Padding a micro-batch, and cutting its answers back per request."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from handler.features.pipeline import Features
from handler.inference.batching import collate, iter_micro_batches, plan_rounds


def test_collate_pads_to_longest_row_of_the_chunk() -> None:
    features = Features(
        token_ids=[[[1, 2, 3], [4]], [[5], [6, 7]]],
        categorical=np.array([[2], [3]], dtype=np.int64),
        numeric=np.zeros((2, 2), dtype=np.float32),
    )
    batch = collate(features, pad_id=0)
    assert batch["input_ids"].shape == (2, 2, 3)
    assert batch["input_ids"][1, 0].tolist() == [4, 0, 0]
    assert batch["attention_mask"][1, 1].tolist() == [1, 1, 0]
    assert batch["categorical"].tolist() == [[2], [3]]


def test_for_a_packing_encoder_rows_stay_in_order_cut_by_real_tokens() -> None:
    lengths = [3, 40, 2, 2, 30]  # one text column: padded, rows 1 and 4 would share a micro-batch
    features = Features(
        token_ids=[[list(range(1, n + 1)) for n in lengths]],
        categorical=np.zeros((5, 0), dtype=np.int64),
        numeric=np.zeros((5, 0), dtype=np.float32),
    )
    cpu = torch.device("cpu")
    packed = [rows.tolist() for rows, _ in iter_micro_batches(features, 0, 32, 45, cpu, packed=True)]
    assert packed == [[0, 1, 2], [3, 4]]  # 45 real tokens each at most; 40 x 3 rows padded would not fit
    padded = [sorted(rows.tolist()) for rows, _ in iter_micro_batches(features, 0, 32, 45, cpu)]
    assert sorted(padded) == [[0, 2, 3], [1], [4]]  # length-sorted, rows x longest <= 45


@pytest.mark.parametrize("counts", [[3], [1, 2, 0, 4], [0], []])
def test_split_rows_inverts_flattening(counts) -> None:
    from handler.inference.batching import split_rows

    flat = np.arange(sum(counts) * 2).reshape(-1, 2)
    pieces = split_rows(flat, counts)
    assert [len(p) for p in pieces] == counts
    if counts:
        assert np.array_equal(np.concatenate(pieces), flat)


def test_split_rows_refuses_a_mismatch() -> None:
    from handler.inference.batching import split_rows

    with pytest.raises(ValueError, match="cannot be split"):
        split_rows(np.zeros((3, 2)), [1, 1])


@pytest.mark.parametrize(
    ("costs", "round_cost", "expected"),
    [
        ([], 8, []),
        ([[1], [1] * 10, [1] * 3], 4, [[(0, 0, 1), (2, 0, 3)], [(1, 0, 4)], [(1, 4, 8)], [(1, 8, 10)]]),
        ([[10], [1, 1]], 4, [[(1, 0, 2)], [(0, 0, 1)]]),  # a row dearer than a round runs alone
        ([[3, 3], [2]], 4, [[(1, 0, 1)], [(0, 0, 1)], [(0, 1, 2)]]),  # cheapest request first, rows never split
        ([[], [2]], 8, [[(1, 0, 1)]]),  # a request without rows takes no round
    ],
)
def test_rounds_take_the_cheapest_requests_first_and_slice_the_dearest(costs, round_cost, expected) -> None:
    assert plan_rounds(costs, round_cost) == expected
