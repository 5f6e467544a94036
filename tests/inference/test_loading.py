"""load_service: the one way every engine makes a served model from a model directory and settings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from handler.inference.loading import load_service
from handler.inference.service import BUDGET_SHARE, BatchInference
from handler.inference.settings import ServingSettings


@pytest.fixture
def warmed(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[BatchInference]]:
    """The services warm_up ran on; torch's thread count put back afterwards."""
    ran: list[BatchInference] = []
    monkeypatch.setattr(BatchInference, "warm_up", lambda self: ran.append(self))
    before = torch.get_num_threads()
    yield ran
    torch.set_num_threads(before)


@pytest.mark.parametrize(
    "torch_threads, share, expected",
    [(None, 1, 1), (2, 1, 2), (1, None, 1)],  # the settings' count wins over the caller's share of the cores
)
def test_threads_are_the_settings_else_the_callers_share(
    tiny_model_dir: Path, warmed: list[BatchInference], torch_threads: int | None, share: int | None, expected: int
) -> None:
    torch.set_num_threads(3)
    load_service(tiny_model_dir, ServingSettings(execution="fp32", torch_threads=torch_threads), threads=share)
    assert torch.get_num_threads() == expected


def test_without_a_share_or_a_setting_torchs_threads_are_left_alone(
    tiny_model_dir: Path, warmed: list[BatchInference]
) -> None:
    torch.set_num_threads(3)
    load_service(tiny_model_dir, ServingSettings(execution="fp32"))
    assert torch.get_num_threads() == 3


@pytest.mark.parametrize("warmup", [True, False])
def test_warm_up_runs_when_the_settings_ask(tiny_model_dir: Path, warmed: list[BatchInference], warmup: bool) -> None:
    service = load_service(tiny_model_dir, ServingSettings(execution="fp32", warmup=warmup))
    assert warmed == ([service] if warmup else [])


def test_the_time_budget_is_a_share_of_the_engines_timeout_unless_set(
    tiny_model_dir: Path, warmed: list[BatchInference]
) -> None:
    settings = ServingSettings(execution="fp32", max_batch_rows=4)
    service = load_service(tiny_model_dir, settings, timeout_s=10.0)
    assert service.budget_s == pytest.approx(BUDGET_SHARE * 10.0)
    assert service.limits.max_rows == 4 and service.predictor.execution == "fp32"
    assert load_service(tiny_model_dir, settings).budget_s is None  # offline: no engine, no budget
    with_budget = ServingSettings(execution="fp32", time_budget_s=2.5)
    assert load_service(tiny_model_dir, with_budget, timeout_s=10.0).budget_s == 2.5
