"""Execution backends: how the forward pass runs, each a registered class; `auto` ranks them for this machine.

A new backend is one module here with a `@register`ed ExecutionBackend subclass, imported below.
"""

from handler.model.backends import eager, openvino  # noqa: F401  (each registers its backends)
from handler.model.backends.base import AUTO, ExecutionBackend, auto, cpu_flags, names, parse, register, resolve

__all__ = ["AUTO", "ExecutionBackend", "auto", "cpu_flags", "names", "parse", "register", "resolve"]
