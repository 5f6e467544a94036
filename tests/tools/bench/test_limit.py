"""The in-process measurements: modes measured side by side, each input given to every mode in turn."""

from __future__ import annotations

import time

import torch

from tools.bench.limit import LimitPool, encoder_clock, interleaved


def test_every_call_runs_once_per_input_and_the_first_turn_rotates() -> None:
    order: list[tuple[str, int]] = []
    calls = [lambda v, name=name: order.append((name, v)) for name in "abc"]
    seconds = interleaved(calls, [0, 1, 2, 3])
    assert [len(s) for s in seconds] == [4, 4, 4]
    assert [name for name, _ in order] == list("abcbcacababc")
    assert [v for _, v in order] == [0] * 3 + [1] * 3 + [2] * 3 + [3] * 3


def test_each_calls_time_is_its_own() -> None:
    seconds = interleaved([lambda _: time.sleep(0.02), lambda _: None], range(3))
    assert min(seconds[0]) >= 0.02 > max(seconds[1])


def test_the_encoder_clock_counts_only_time_inside_the_encoder() -> None:
    class Slow(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            time.sleep(0.02)
            return x

    encoder = Slow()
    with encoder_clock(encoder) as seconds:
        encoder(torch.zeros(1))
        time.sleep(0.5)  # outside the encoder: not counted (far longer than a busy host's sleep overshoot)
        encoder(torch.zeros(1))
    assert 0.04 <= seconds[0] < 0.4
    encoder(torch.zeros(1))
    assert seconds[0] < 0.4 and not encoder._forward_hooks and not encoder._forward_pre_hooks  # hooks removed


def test_the_limit_pool_stays_loaded_and_measures_again(tiny_model_dir, tiny_frames) -> None:
    rows = tiny_frames[1].drop(columns="intent").astype(str).head(40).to_dict("records")
    with LimitPool(tiny_model_dir, rows, "fp32", workers=2, threads=1) as pool:
        first, second = pool.measure(8), pool.measure(8)
        assert first > 0 and second > 0
    assert all(process.exitcode == 0 for process in pool.processes)
