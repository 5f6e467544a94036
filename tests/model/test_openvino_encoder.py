"""The OpenVINO encoder's graphs fixed at a lone row's commonest lengths: used where they fit, kept only if exact."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from transformers import AutoModel, BertConfig

from handler.model.openvino import encoder as ove
from handler.model.openvino.convert import convert

TINY = {"vocab_size": 64, "hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 32}


def tiny_encoder(seed: int) -> torch.nn.Module:
    """A random tiny BERT."""
    torch.manual_seed(seed)
    return AutoModel.from_config(BertConfig(**TINY)).eval()


@pytest.fixture(scope="module")
def converted() -> tuple[torch.nn.Module, object]:
    """A tiny BERT and its OpenVINO model."""
    encoder = tiny_encoder(0)
    return encoder, convert(encoder)


def lone(lengths: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """One row's texts as (texts, width) ids and mask."""
    ids = torch.randint(1, 64, (len(lengths), max(lengths)), generator=torch.Generator().manual_seed(sum(lengths)))
    return ids, (torch.arange(max(lengths)) < torch.tensor(lengths)[:, None]).long()


LONE_ROWS = ([5], [3, 9], [20], [2, 25], [40], [12, 40], [100, 100])


def test_fixed_graphs_are_kept_where_this_cpu_answers_as_the_dynamic_graph(converted) -> None:
    """Which graphs are kept is this CPU's own answer (AVX2-only CPUs refuse some that AVX-512 ones keep)."""
    encoder, model = converted
    dynamic = ove.OpenVinoEncoder(ove.compile_encoder(model, "f32", 1), encoder.config)
    fixed = ove.OpenVinoEncoder(ove.compile_encoder(model, "f32", 1), encoder.config)
    fixed.fix(model, [32, 48], 1)
    for length in (32, 48):
        graph = ove.compile_encoder(model, "f32", 1, length)
        calls = fixed.lone_sequences(length, draws=12)  # twice the draws fix checked: others besides
        assert (length in fixed.fixed) == fixed.answers_as_dynamic(graph, length, calls)
    for lengths in LONE_ROWS:
        ids, mask = lone(lengths)
        np.testing.assert_array_equal(fixed(ids, mask).numpy(), dynamic(ids, mask).numpy())
    assert set(fixed._local.requests) == {None, *fixed.fixed}  # None: the dynamic graph


def test_a_lone_sequence_runs_on_the_graph_fixed_for_it(converted) -> None:
    """One sequence of 16 tokens runs padded up on 32's graph, 48 on its own; 64 tokens and two sequences dynamic."""
    encoder, model = converted
    routed = ove.OpenVinoEncoder(ove.compile_encoder(model, "f32", 1), encoder.config)
    routed.fixed = {n: ove.compile_encoder(model, "f32", 1, n) for n in (32, 48)}  # kept whatever this CPU answers
    graphs: list[int | None] = []
    request = routed.request
    routed.request = lambda length: graphs.append(length) or request(length)  # type: ignore[method-assign]
    ran = {}
    for lengths in ([5], [20], [40], [60], [100, 100]):
        graphs.clear()
        routed(*lone(lengths))
        ran[len(lengths), max(lengths)] = graphs.copy()
    assert ran == {(1, 5): [32], (1, 20): [32], (1, 40): [48], (1, 60): [None], (2, 100): [None]}


@pytest.mark.parametrize(
    ("shape", "lengths", "expected"),
    [
        ((1, 32), [32, 48], 32),
        ((1, 16), [32, 48], 32),  # padded up a step: cheaper than a shape change
        ((1, 48), [32, 48], 48),
        ((1, 64), [32, 48], None),
        ((1, 16), [48], None),  # two steps: the padding would cost more
        ((2, 32), [32, 48], None),  # several sequences
        ((1, 32), [], None),
    ],
)
def test_which_graph_a_call_runs_on(shape: tuple[int, int], lengths: list[int], expected: int | None) -> None:
    assert ove.graph_length(shape, lengths) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ([48, 32], [32, 48]),
        (None, []),  # a card from before fixed graphs
        ([], []),
        ([40, 32, 0, -16, 528, "32", 32.0], [32]),  # not a multiple of 16, out of range, not an int
        ([16, 32, 48], [16, 32]),  # FIXED_GRAPHS at most
        ("32", []),
    ],
)
def test_only_lengths_a_graph_can_serve_are_taken_from_the_card(raw: object, expected: list[int]) -> None:
    assert ove.usable_lengths(raw) == expected


def test_a_fixed_graph_that_answers_otherwise_is_not_kept(converted, caplog) -> None:
    """A graph of other weights stands in for kernels that round otherwise on some CPU."""
    encoder, model = converted
    served = ove.OpenVinoEncoder(ove.compile_encoder(model, "f32", 1), encoder.config)
    with caplog.at_level(logging.WARNING):
        served.fix(convert(tiny_encoder(1)), [32], 1)
    assert served.fixed == {}
    assert "fixed at 32 tokens answered unlike the dynamic one" in caplog.text


def test_the_check_covers_one_and_two_texts_filling_a_graph_or_a_step_less(converted) -> None:
    encoder, model = converted
    served = ove.OpenVinoEncoder(ove.compile_encoder(model, "f32", 1), encoder.config)
    calls = served.lone_sequences(48)
    assert {(len(c.texts), c.input_ids.shape[1]) for c in calls} == {(1, 48), (2, 48), (1, 32), (2, 32)}
