"""The measured peak: each precision the CPU runs natively, through torch and OpenVINO, with the kernel named."""

from __future__ import annotations

import pytest

from handler.model import backends
from tools.bench.peak import best_peaks, cpu_identity, measure_peak, openvino_kernel, zen


def test_each_native_precision_is_measured_on_both_runtimes() -> None:
    flags = backends.cpu_flags()
    peaks = measure_peak(flags, threads=1, size=128, seconds=0.05)
    precisions = ["fp32", "bf16", "int8"] if flags & {"avx512_bf16", "amx_bf16"} else ["fp32", "int8"]
    assert [(p.precision, p.runtime) for p in peaks] == [(x, r) for x in precisions for r in ("torch", "openvino")]
    assert all(p.gflops > 0 and p.spread[0] <= p.gflops <= p.spread[1] for p in peaks)


def test_openvino_multiplies_the_int8_kernel_in_integers() -> None:
    # What this CPU's plugin executed, read back from its own graph: a float kernel would be a false int8 peak.
    _, ran_as = openvino_kernel("int8", 64, threads=1)
    assert ran_as.split()[0] in ("u8", "i8"), ran_as
    _, ran_as = openvino_kernel("fp32", 64, threads=1)
    assert ran_as.split()[0] == "f32", ran_as


def test_bf16_takes_fp32s_peak_where_the_cpu_has_none() -> None:
    peaks = [
        {"precision": "fp32", "gflops": 60.0},
        {"precision": "fp32", "gflops": 70.0},
        {"precision": "int8", "gflops": 99.0},
    ]
    assert best_peaks(peaks) == {"fp32": 70.0, "int8": 99.0, "bf16": 70.0}


@pytest.mark.parametrize(
    "family, model, name", [(0x19, 0x01, "Zen 3"), (0x19, 0x11, "Zen 4"), (0x19, 0xA0, "Zen 4"), (0x1A, 0x02, "Zen 5")]
)
def test_amd_core_family_is_named(family: int, model: int, name: str) -> None:
    assert zen(family, model) == name
    lines = ["vendor_id\t: AuthenticAMD", f"cpu family\t: {family}", f"model\t\t: {model}", "model name\t: AMD EPYC"]
    assert cpu_identity(lines)["family"] == name
