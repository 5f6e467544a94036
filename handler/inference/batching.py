"""Micro-batching: rows cut into chunks bounded by rows and tokens (length-sorted unless texts are packed)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from handler.features.pipeline import Features
from handler.model.planning import plan_micro_batches, plan_packed


def collate(features: Features, pad_id: int) -> dict[str, torch.Tensor]:
    """Pad token ids to the chunk's longest row: input_ids and attention_mask are (rows, texts, L)."""
    rows, texts = len(features), len(features.token_ids)
    longest = max((len(ids) for column in features.token_ids for ids in column), default=1)
    input_ids = np.full((rows, texts, longest), pad_id, dtype=np.int64)
    mask = np.zeros((rows, texts, longest), dtype=np.int64)
    for t, column in enumerate(features.token_ids):
        for r, ids in enumerate(column):
            input_ids[r, t, : len(ids)] = ids
            mask[r, t, : len(ids)] = 1
    return {
        "input_ids": torch.from_numpy(input_ids),
        "attention_mask": torch.from_numpy(mask),
        "categorical": torch.from_numpy(features.categorical),
        "numeric": torch.from_numpy(features.numeric),
    }


def iter_micro_batches(
    features: Features, pad_id: int, max_rows: int, max_tokens: int, device: torch.device, packed: bool = False
) -> Iterator[tuple[np.ndarray, dict[str, torch.Tensor]]]:
    """(row positions, padded tensors on `device`) for each planned micro-batch.

    `packed`: the encoder packs texts (padding costs it nothing): rows stay in order, cut only
    by the bounds, `max_tokens` counting real tokens.
    """
    if packed:
        tokens = np.zeros(len(features), dtype=np.int64)
        for column in features.token_ids:
            tokens += [len(ids) for ids in column]
        plan = plan_packed(tokens, max_rows, max_tokens)
    else:
        plan = plan_micro_batches(features.lengths(), max_rows, max_tokens)
    for rows in plan:
        batch = collate(features.take(rows), pad_id)
        yield rows, {k: v.to(device) for k, v in batch.items()}


def split_rows(rows: np.ndarray, counts: Sequence[int]) -> list[np.ndarray]:
    """Cut a flattened (total rows, ...) array back into one piece per request."""
    if sum(counts) != len(rows):
        raise ValueError(f"{len(rows)} rows cannot be split into pieces of {list(counts)}")
    return np.split(rows, np.cumsum(counts)[:-1]) if counts else []


def plan_rounds(costs: Sequence[Sequence[int]], round_cost: int) -> list[list[tuple[int, int, int]]]:
    """Requests' rows in rounds of at most `round_cost` (at least a row each), cheapest requests first.

    `costs[request][row]` is one row's cost. A round is [(request, start, stop), ...]; a request
    dearer than a round runs in slices over several. Between rounds a batch may stop (its time
    budget spent): the requests left are then the dearest.
    """
    rounds: list[list[tuple[int, int, int]]] = []
    room = 0
    for request in sorted(range(len(costs)), key=lambda i: sum(costs[i])):
        row = 0
        while row < len(costs[request]):
            if not rounds or room < costs[request][row]:
                if not rounds or room < round_cost:  # a fresh round, unless this one is still empty
                    rounds.append([])
                    room = round_cost
            start = row
            while row < len(costs[request]) and (costs[request][row] <= room or row == start):
                room -= costs[request][row]
                row += 1
            rounds[-1].append((request, start, row))
    return rounds
