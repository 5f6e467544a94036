"""The CPU's dense compute peak per precision, measured, and the useful FLOPs a batch of rows costs the encoder."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

# The precision each execution mode's encoder multiplies in: the peak its share is taken of.
PRECISION = {
    "fp32": "fp32",
    "openvino": "fp32",
    "bf16": "bf16",
    "bf16-weights": "bf16",
    "openvino-bf16": "bf16",
    "int8": "int8",
    "openvino-int8": "int8",
}
NATIVE_BF16 = ("avx512_bf16", "amx_bf16")  # without one of these, bf16 math runs as fp32 (or emulated)


@dataclass(frozen=True)
class KernelPeak:
    """One runtime's square matrix multiply at one precision: GFLOP/s, and what its kernel really ran at."""

    precision: str  # fp32, bf16 or int8: what was asked for
    runtime: str  # torch or openvino
    gflops: float  # median over calls
    spread: tuple[float, float]  # the slowest and fastest call's GFLOP/s
    ran_as: str  # element type (and kernel) multiplied in: OpenVINO's executed graph says; torch's is the input's


def timed_gflops(call: Callable[[], object], flops: float, seconds: float) -> tuple[float, tuple[float, float]]:
    """Median GFLOP/s of `call` (and its worst and best call) over at least `seconds`, after two warm-up calls."""
    call()
    call()
    times: list[float] = []
    began = time.perf_counter()
    while time.perf_counter() - began < seconds or len(times) < 5:
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    rates = flops / np.array(times) / 1e9
    return float(np.median(rates)), (float(rates.min()), float(rates.max()))


def torch_kernel(precision: str, size: int) -> Callable[[], object]:
    """torch's (size x size) @ (size x size) at `precision`: mm in fp32 or bf16; int8 as the int8 mode runs it.

    int8 is a dynamically quantized Linear (fbgemm's kernel, activations quantized per call), what
    `quantize_dynamic` makes of the encoder's layers; torch's bare `_int_mm` has no fast CPU kernel.
    """
    generator = torch.Generator().manual_seed(0)
    if precision == "int8":
        linear = torch.nn.Linear(size, size, bias=False)
        quantized = torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(linear), {torch.nn.Linear})
        x = torch.randn(size, size, generator=generator)
        return lambda: quantized(x)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    a = torch.randn(size, size, generator=generator).to(dtype)
    b = torch.randn(size, size, generator=generator).to(dtype)
    return lambda: torch.mm(a, b)


def openvino_kernel(precision: str, size: int, threads: int) -> tuple[Callable[[], object], str]:
    """OpenVINO's CPU plugin on one MatMul by constant weights (as the encoder's layers are); int8 as NNCF writes it.

    int8: FakeQuantize on the activations (unsigned) and the weights (signed), which the plugin
    folds into an integer matrix multiply. Returns the call and the element type it executed in.
    """
    import openvino as ov
    import openvino.opset13 as ops

    from handler.model.openvino.encoder import compile_encoder

    rng = np.random.default_rng(0)
    x = ops.parameter([size, size], ov.Type.f32)
    weights: Any = ops.constant(rng.standard_normal((size, size)).astype(np.float32))
    source: Any = x
    if precision == "int8":
        low, high = np.float32(0.0), np.float32(4.0)
        source = ops.fake_quantize(x, low, high, low, high, 256)
        wlow, whigh = np.float32(-4.0), np.float32(4.0)
        weights = ops.fake_quantize(weights, wlow, whigh, wlow, whigh, 255)
    model = ov.Model([ops.matmul(source, weights, False, True)], [x])
    compiled = compile_encoder(model, "bf16" if precision == "bf16" else "f32", threads)  # as the encoder is
    request = compiled.create_infer_request()
    data = np.abs(rng.standard_normal((size, size))).astype(np.float32)
    return (lambda: request.infer([data], share_inputs=True)), executed_precision(compiled)


def executed_precision(compiled: Any) -> str:
    """The element type and kernel OpenVINO's executed graph ran its matrix multiply in (e.g. `u8 jit_gemm_I8`)."""
    for node in compiled.get_runtime_model().get_ordered_ops():
        info = node.get_rt_info()
        if info["layerType"].astype(str) in ("FullyConnected", "MatMul"):
            return f"{info['runtimePrecision'].astype(str)} {info['primitiveType'].astype(str)}"
    return "unknown"


def measure_peak(flags: set[str], threads: int, size: int = 1024, seconds: float = 1.0) -> list[KernelPeak]:
    """Each precision this CPU runs natively, through torch and OpenVINO, at `threads` threads.

    bf16 is measured only where the CPU multiplies bf16 itself: elsewhere it runs as fp32 and its
    peak is fp32's.
    """
    precisions = ["fp32", *(["bf16"] if flags & set(NATIVE_BF16) else []), "int8"]
    flops = 2.0 * size**3
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    peaks = []
    try:
        for precision in precisions:
            rate, spread = timed_gflops(torch_kernel(precision, size), flops, seconds)
            ran_as = {"fp32": "f32", "bf16": "bf16", "int8": "i8 fbgemm"}[precision]
            peaks.append(KernelPeak(precision, "torch", rate, spread, ran_as))
            call, ran_as = openvino_kernel(precision, size, threads)
            rate, spread = timed_gflops(call, flops, seconds)
            peaks.append(KernelPeak(precision, "openvino", rate, spread, ran_as))
    finally:
        torch.set_num_threads(previous)
    return peaks


def best_peaks(peaks: list[dict[str, Any]]) -> dict[str, float]:
    """The highest GFLOP/s measured per precision; bf16 takes fp32's where the CPU has no native bf16."""
    best: dict[str, float] = {}
    for peak in peaks:
        best[peak["precision"]] = max(best.get(peak["precision"], 0.0), peak["gflops"])
    best.setdefault("bf16", best["fp32"])
    return best


def encoder_flops(encoder: dict[str, Any], lengths: np.ndarray) -> float:
    """Useful FLOPs of a BERT-family encoder over texts of `lengths` real tokens (no padding counted).

    Per token and layer: Q, K, V, output (4 h^2) and the feed-forward (2 h i) multiply-adds;
    per text and layer: scores and weighted sum (2 n^2 h).
    """
    h = encoder.get("hidden_size") or encoder.get("dim")
    i = encoder.get("intermediate_size") or encoder.get("hidden_dim")
    layers = encoder.get("num_hidden_layers") or encoder.get("n_layers")
    lengths = np.asarray(lengths, dtype=np.float64)
    macs = layers * (lengths.sum() * (4 * h * h + 2 * h * i) + 2 * h * (lengths**2).sum())
    return float(2 * macs)


def cpu_identity(cpuinfo: list[str]) -> dict[str, Any]:
    """Vendor, model name, core family (AMD's Zen generation; else empty) and nominal GHz from /proc/cpuinfo lines."""

    def field(name: str) -> str:
        return next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith(name)), "")

    mhz, vendor = field("cpu MHz"), field("vendor_id")
    family, model = field("cpu family"), field("model\t")
    return {
        "vendor": vendor,
        "model": field("model name"),
        "family": zen(int(family), int(model)) if vendor == "AuthenticAMD" and family and model else "",
        "ghz": float(mhz) / 1000 if mhz else 0.0,
    }


def zen(family: int, model: int) -> str:
    """AMD's core generation from cpuinfo's family and model: EPYC's model names do not say it."""
    if family == 0x17:
        return "Zen 2" if model >= 0x30 else "Zen"
    if family == 0x19:
        return "Zen 4" if 0x10 <= model < 0x20 or model >= 0x60 else "Zen 3"
    return "Zen 5" if family == 0x1A else ""
