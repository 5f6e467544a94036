"""The processor contract (scikit-learn style) and the registry that finds processors by name."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from handler.registry import Registry

P = TypeVar("P", bound="Processor")


class Processor:
    """Configuration in dataclass fields, learned state in `STATE` attributes (ending in `_`).

    `fit` learns state from data; `transform` is pure and returns one output per input row.
    `to_spec` / `from_spec` turn a processor into plain data and back.
    """

    name: ClassVar[str] = ""
    STATE: ClassVar[tuple[str, ...]] = ()
    STAGE: ClassVar[str | None] = None  # a step slow enough to be timed as its own stage (a model's)

    def folders(self) -> list[str]:
        """Folders inside the model directory this processor reads (a model of its own); none by default."""
        return []

    def attach(self, locate: Callable[[str], Path]) -> None:
        """Load what `folders()` names from where `locate(folder)` says; fails naming the folder and the file."""

    def fit(self: P, values: Sequence[Any]) -> P:
        """Learn state from training values (stateless processors learn nothing)."""
        return self

    def transform(self, values: Sequence[Any]) -> Any:
        """Map a column of values to a column of outputs of the same length."""
        raise NotImplementedError

    def fit_transform(self, values: Sequence[Any]) -> Any:
        """`fit` then `transform` on the same values."""
        return self.fit(values).transform(values)

    @property
    def is_fitted(self) -> bool:
        """Whether every state attribute has been set."""
        return all(getattr(self, key, None) is not None for key in self.STATE)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments as plain data."""
        return {
            f.name: _plain(getattr(self, f.name))
            for f in dataclasses.fields(self)  # type: ignore[arg-type]
            if f.init
        }

    def get_state(self) -> dict[str, Any]:
        """Learned state as plain data."""
        return {key: getattr(self, key) for key in self.STATE}

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Restore learned state; refuses unknown or missing keys."""
        if set(state) != set(self.STATE):
            raise ValueError(f"processor {self.name!r} state has keys {sorted(state)}, expected {sorted(self.STATE)}")
        for key, value in state.items():
            setattr(self, key, value)

    def to_spec(self) -> dict[str, Any]:
        """Plain data that `processor_from_spec` turns back into an equal processor."""
        return {"name": self.name, "config": self.get_config(), "state": self.get_state()}


def _plain(value: Any) -> Any:
    """Enums to their values, tuples to lists: what `torch.load(weights_only=True)` accepts."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


# Packages add processors under this entry-point group; so do our steps with a model, which features cannot import.
ENTRY_POINT_GROUP = "bsm_serving.processors"
PROCESSORS: Registry[type[Processor]] = Registry("processor", ENTRY_POINT_GROUP)


def register(name: str) -> Callable[[type[P]], type[P]]:
    """Class decorator: name the processor and add it to the registry."""

    def decorate(cls: type[P]) -> type[P]:
        cls.name = name
        PROCESSORS.register(name)(cls)
        return cls

    return decorate


def processor_from_spec(spec: Mapping[str, Any]) -> Processor:
    """Rebuild a processor from `{"name", "config", "state"}` (without "state": unfitted)."""
    processor = PROCESSORS.get(spec["name"])(**spec.get("config", {}))
    if processor.STATE and "state" in spec:
        processor.set_state(spec["state"])
    return processor
