"""Texts laid end to end in few encoder sequences, each attending only to itself: padding is not computed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from handler.model.planning import plan_micro_batches

# Sequences are filled up to this many tokens (or the longest text, where longer): longer ones
# pay more in attention than they save in calls (docs/execution-modes.md, how the constants were chosen).
TARGET_TOKENS = 128
# Sequences are padded to a multiple of this: OpenVINO keeps memory per input shape it has seen.
SEQUENCE_MULTIPLE = 16
# No sequence is made longer than this: beyond 512 keys OpenVINO's CPU attention takes another
# path, where a packed text's answer moves with its batch-mates; up to 512 it is bit-identical.
MAX_TOKENS = 512


@dataclass(frozen=True)
class Call:
    """One encoder call: the texts it holds, laid out in (sequences, length) arrays."""

    texts: np.ndarray  # which texts, in the order their tokens are laid out
    lengths: np.ndarray  # their token counts, in that order
    input_ids: np.ndarray  # (sequences, length) int64; 0 after a sequence's last text
    segment_ids: np.ndarray  # 1, 2, ... for the texts of a sequence; 0 on padding
    position_ids: np.ndarray  # each token's position within its own text

    def inputs(self, positions: bool = True) -> dict[str, np.ndarray]:
        """The arrays by input name; `positions`: with position_ids (an encoder that packs takes them)."""
        arrays = {"input_ids": self.input_ids, "segment_ids": self.segment_ids}
        return {**arrays, "position_ids": self.position_ids} if positions else arrays

    def padded(self, length: int) -> Call:
        """The same call with its sequences padded to `length` tokens."""

        def wider(array: np.ndarray) -> np.ndarray:
            out = np.zeros((len(array), length), array.dtype)  # cheaper than np.pad on this hot path
            out[:, : array.shape[1]] = array
            return out

        return Call(self.texts, self.lengths, wider(self.input_ids), wider(self.segment_ids), wider(self.position_ids))

    def mean_pooled(self, hidden: np.ndarray) -> np.ndarray:
        """(sequences, length, hidden) encoder output -> (texts, hidden): the mean over each text's tokens."""
        tokens = hidden[self.segment_ids > 0]  # row-major: every text's tokens, in layout order
        starts = np.cumsum(self.lengths) - self.lengths
        return np.add.reduceat(tokens, starts, axis=0) / self.lengths[:, None].astype(hidden.dtype)


def plan_calls(
    input_ids: np.ndarray, lengths: np.ndarray, packs: bool, hidden: int, bound: int | None = MAX_TOKENS
) -> list[Call]:
    """The calls that encode every non-empty text of (texts, width) `input_ids`, each text's tokens first.

    Packing (`packs`: the encoder restarts positions per text and takes a mask per token pair)
    puts every text in one call, several to a sequence. Otherwise each text is its own
    sequence, and texts of similar length share a call (plan_micro_batches).
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    present = np.flatnonzero(lengths > 0)
    if not len(present):
        return []
    if packs:
        groups = [pack([int(n) for n in lengths[present]], hidden, bound)]
    else:
        chunks = plan_micro_batches(lengths[present], len(present), len(present) * input_ids.shape[1])
        groups = [[[int(i)] for i in chunk] for chunk in chunks]
    return [layout(input_ids, lengths, [[int(present[i]) for i in seq] for seq in group]) for group in groups]


def pack(lengths: Sequence[int], hidden: int, bound: int | None = MAX_TOKENS) -> list[list[int]]:
    """Texts (by position in `lengths`) grouped into sequences, at the least estimated work.

    First fit, longest text first, into sequences of TARGET_TOKENS (or the longest text); or all
    in one sequence where that costs less and fits `bound`, as a lone row's short subject and
    long message do.
    Every sequence is padded to the fullest; attention adds length / (6 x hidden) per token to
    the layers' dense work.
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    options = [first_fit(lengths, order, max(TARGET_TOKENS, lengths[order[0]]))]
    if bound is None or sum(lengths) <= bound:
        options.append([order])

    def work(sequences: list[list[int]]) -> float:
        longest = max(sum(lengths[i] for i in seq) for seq in sequences)
        return len(sequences) * longest * (1 + longest / (6 * hidden))

    return min(options, key=work)


def first_fit(lengths: Sequence[int], order: Sequence[int], capacity: int) -> list[list[int]]:
    """Each text, in `order`, into the first sequence with room for it, or a new one."""
    sequences: list[list[int]] = []
    room: list[int] = []
    for i in order:
        for s, free in enumerate(room):
            if free >= lengths[i]:
                sequences[s].append(i)
                room[s] -= lengths[i]
                break
        else:
            sequences.append([i])
            room.append(capacity - lengths[i])
    return sequences


def layout(input_ids: np.ndarray, lengths: np.ndarray, sequences: list[list[int]]) -> Call:
    """The arrays of one call: each sequence's texts end to end, all padded to the fullest (SEQUENCE_MULTIPLE)."""
    fullest = max(sum(int(lengths[i]) for i in seq) for seq in sequences)
    shape = (len(sequences), -(-fullest // SEQUENCE_MULTIPLE) * SEQUENCE_MULTIPLE)
    ids, segments, positions = np.zeros(shape, np.int64), np.zeros(shape, np.int64), np.zeros(shape, np.int64)
    for row, seq in enumerate(sequences):
        at = 0
        for segment, i in enumerate(seq, start=1):
            n = int(lengths[i])
            ids[row, at : at + n] = input_ids[i, :n]
            segments[row, at : at + n] = segment
            positions[row, at : at + n] = np.arange(n)
            at += n
    texts = np.array([i for seq in sequences for i in seq], dtype=np.int64)
    return Call(texts, np.asarray(lengths, dtype=np.int64)[texts], ids, segments, positions)
