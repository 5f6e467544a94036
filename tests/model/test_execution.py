"""Execution modes: parsing, choosing bf16 by CPU flags, int8 conversion, and answers close to fp32."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from handler import Predictor
from handler.inference.settings import ServingSettings
from handler.model import execution
from handler.model.execution import Execution


@pytest.mark.parametrize(
    "text, expected",
    [("fp32", Execution.FP32), (" BF16 ", Execution.BF16), ("int8", Execution.INT8), ("auto", Execution.AUTO)],
)
def test_parse(text: str, expected: Execution) -> None:
    assert Execution.parse(text) is expected


def test_parse_names_the_allowed_modes() -> None:
    with pytest.raises(ValueError, match=r"'fp16'.*auto, fp32, bf16, int8"):
        Execution.parse("fp16")


def test_setting_comes_from_the_model_config_then_the_environment() -> None:
    assert ServingSettings.load({}, env={}).execution is Execution.AUTO
    assert ServingSettings.load({"handler": {"execution": "int8"}}, env={}).execution is Execution.INT8
    assert (
        ServingSettings.load({"handler": {"execution": "int8"}}, env={"BSM_EXECUTION": "fp32"}).execution
        is Execution.FP32
    )
    with pytest.raises(ValueError, match="execution mode is 'fast'"):
        ServingSettings.load(None, env={"BSM_EXECUTION": "fast"})


def test_cpu_flags_are_read_from_cpuinfo(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx512f avx512_bf16\n")
    assert execution.cpu_flags(info) == {"fpu", "sse2", "avx512f", "avx512_bf16"}
    assert execution.cpu_flags(tmp_path / "absent") == set()


@pytest.mark.parametrize(
    "flags, expected",
    [({"avx512_bf16"}, True), ({"amx_bf16", "avx2"}, True), ({"avx512f", "avx2"}, False), (set(), False)],
)
def test_native_bf16(flags: set[str], expected: bool) -> None:
    assert execution.native_bf16(flags) is expected


@pytest.mark.parametrize("native, expected", [(True, Execution.BF16), (False, Execution.FP32)])
def test_auto_picks_bf16_only_where_the_cpu_has_it(
    monkeypatch: pytest.MonkeyPatch, native: bool, expected: Execution
) -> None:
    monkeypatch.setattr(execution, "native_bf16", lambda flags=None: native)
    assert execution.resolve(Execution.AUTO, torch.device("cpu")) is expected
    assert execution.resolve(Execution.INT8, torch.device("cpu")) is Execution.INT8


def test_int8_is_cpu_only() -> None:
    with pytest.raises(ValueError, match="CPU only"):
        execution.resolve(Execution.INT8, torch.device("cuda", 0))


def test_int8_converts_the_encoder_and_keeps_the_head(tiny_model_dir: Path) -> None:
    fp32 = Predictor.from_dir(tiny_model_dir).model
    linears = {n for n, m in fp32.named_modules() if isinstance(m, torch.nn.Linear)}
    predictor = Predictor.from_dir(tiny_model_dir, execution="int8")
    quantized = {n for n, m in predictor.model.named_modules() if isinstance(m, torch.ao.nn.quantized.dynamic.Linear)}
    assert quantized == {n for n in linears if n.startswith("encoder.")}
    head = {n for n in linears if n.startswith("head.")}
    assert head and all(isinstance(predictor.model.get_submodule(n), torch.nn.Linear) for n in head)
    assert predictor.execution is Execution.INT8


@pytest.mark.parametrize("mode", ["bf16", "int8"])
def test_fast_modes_stay_close_to_fp32(tiny_model_dir: Path, tiny_frames, mode: str) -> None:
    reference = Predictor.from_dir(tiny_model_dir)
    fast = Predictor.from_dir(tiny_model_dir, execution=mode)
    assert repr(fast).endswith(f"execution={mode})")
    features = reference.preprocess(tiny_frames[1])
    expected, got = reference.forward(features), fast.forward(features)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)
    # Loose on purpose: this is a tiny random model; the example's figures come from `make bench`.
    assert np.abs(got - expected).max() < 0.1
    assert (got.argmax(1) == expected.argmax(1)).mean() >= 0.9
