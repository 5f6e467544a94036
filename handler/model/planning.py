"""Which sequences share a forward call: length-sorted chunks at the least padded work."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# What one more forward call costs, in padded row-tokens: splitting pays only when it saves more
# (docs/execution-modes.md, how the constants were chosen).
CALL_COST_TOKENS = 96


def plan_micro_batches(
    lengths: Sequence[int] | np.ndarray, max_rows: int, max_tokens: int, call_cost: int = CALL_COST_TOKENS
) -> list[np.ndarray]:
    """Positions (rows of a request, or texts of a micro-batch) grouped into chunks of similar length.

    Items are sorted by length and cut into consecutive chunks; each chunk is padded to its
    longest item and costs `call_cost` + items x longest. The cuts minimise the total cost
    (dynamic programming over the sorted rows), so ten random rows become, say, 3 short +
    5 medium + 2 long rather than 8 + 2. A chunk holds at most `max_rows` rows and
    `max_tokens` padded tokens (rows x its longest row), but always at least one row. Every
    position appears in exactly one chunk.
    """
    if max_rows < 1 or max_tokens < 1:
        raise ValueError(f"max_rows and max_tokens must be positive, got {max_rows} and {max_tokens}")
    lengths = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(lengths, kind="stable")
    longest = np.maximum(lengths[order], 1)
    n = len(order)
    best = np.zeros(n + 1)  # best[i]: least cost of the first i sorted rows
    cut = np.zeros(n + 1, dtype=np.int64)  # where the last chunk of that best plan starts
    for end in range(1, n + 1):
        # A chunk ending at `end` may start at most max_rows back, and only while it fits the budget.
        starts = np.arange(end - 1, max(0, end - max_rows) - 1, -1)
        rows = end - starts
        fits = (rows == 1) | (rows * longest[end - 1] <= max_tokens)
        starts, rows = starts[fits], rows[fits]
        costs = best[starts] + call_cost + rows * longest[end - 1]
        pick = int(np.argmin(costs))
        best[end], cut[end] = costs[pick], starts[pick]
    chunks, end = [], n
    while end > 0:
        chunks.append(order[cut[end] : end])
        end = int(cut[end])
    return chunks[::-1]


def plan_packed(tokens: Sequence[int] | np.ndarray, max_rows: int, max_tokens: int) -> list[np.ndarray]:
    """Positions cut, in order, into the fewest chunks of at most `max_rows` rows and `max_tokens` tokens.

    For an encoder that packs texts (packing.py): padding costs it nothing, so only the bounds
    cut, and `tokens` counts each row's real tokens. A chunk always holds at least one row.
    """
    if max_rows < 1 or max_tokens < 1:
        raise ValueError(f"max_rows and max_tokens must be positive, got {max_rows} and {max_tokens}")
    chunks, start, total = [], 0, 0
    for i, count in enumerate(int(n) for n in tokens):
        if i > start and (i - start == max_rows or total + count > max_tokens):
            chunks.append(np.arange(start, i))
            start, total = i, 0
        total += count
    if len(tokens):
        chunks.append(np.arange(start, len(tokens)))
    return chunks
