"""The CPU's dense compute peak per precision, and the useful FLOPs a batch of rows costs the encoder."""

from __future__ import annotations

from typing import Any

import numpy as np

# Multiply-add FLOPs per cycle per core (2 per MAC) for dense matrix math. AMD Zen 4 runs
# AVX-512 on two 256-bit pipes; Intel server cores from Skylake-SP on two 512-bit FMA ports.
# bf16 dot products (VDPBF16PS) do twice fp32's MACs per instruction, int8 VNNI (VPDPBUSD) four
# times; AMX tiles do 1,024 bf16 / 2,048 int8 FLOPs per cycle per core.
PRECISION = {
    "fp32": "fp32",
    "openvino": "fp32",
    "bf16": "bf16",
    "bf16-weights": "bf16",
    "openvino-bf16": "bf16",
    "int8": "int8",
    "openvino-int8": "int8",
}


def flops_per_cycle(flags: set[str], vendor: str) -> dict[str, float]:
    """FLOPs per cycle per core for fp32, bf16 and int8 on a CPU with `flags` from `vendor`."""
    if "avx512f" in flags:
        fp32 = 32.0 if vendor == "AuthenticAMD" else 64.0
    elif "fma" in flags:
        fp32 = 32.0 if "avx2" in flags else 16.0
    else:
        fp32 = 8.0
    bf16 = 1024.0 if "amx_bf16" in flags else 2 * fp32 if "avx512_bf16" in flags else fp32
    int8 = 2048.0 if "amx_int8" in flags else 4 * fp32 if flags & {"avx512_vnni", "avx_vnni"} else 2 * fp32
    return {"fp32": fp32, "bf16": bf16, "int8": int8}


def peak_gflops(flags: set[str], vendor: str, ghz: float, cores: int) -> dict[str, float]:
    """GFLOP/s of `cores` cores at `ghz` for each precision."""
    return {p: f * ghz * cores for p, f in flops_per_cycle(flags, vendor).items()}


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
    """Vendor, model name and nominal GHz from /proc/cpuinfo lines."""

    def field(name: str) -> str:
        return next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith(name)), "")

    mhz = field("cpu MHz")
    return {"vendor": field("vendor_id"), "model": field("model name"), "ghz": float(mhz) / 1000 if mhz else 0.0}
