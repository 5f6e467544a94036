"""Text steps that run a model of their own, read from a folder inside the model directory."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from handler.features.processor import Processor
from handler.model import folders


@dataclass
class ModelStep(Processor):
    """A processor whose model lives in `folder`; state is the folder's sha256, recorded when fitted."""

    folder: str = ""

    STATE: ClassVar[tuple[str, ...]] = ("fingerprint_",)
    KIND: ClassVar[str] = ""  # folders.load's kind
    fingerprint_: str | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        parts = Path(self.folder).parts
        if not parts or Path(self.folder).is_absolute() or ".." in parts or parts == (".",):
            raise ValueError(
                f"{self.name} folder is {self.folder!r}, expected a relative path inside the model directory"
            )
        self._loaded: tuple[Any, Any] | None = None
        self._seen: str | None = None

    def folders(self) -> list[str]:
        return [self.folder]

    def attach(self, locate: Callable[[str], Path]) -> None:
        path = locate(self.folder)
        folders.verify(path, self.fingerprint_)
        self._seen = self.fingerprint_ or folders.fingerprint(path)
        self._loaded = folders.load(path, self.KIND)
        self.loaded(*self._loaded)

    def loaded(self, model: Any, tokenizer: Any) -> None:
        """Called once the model and tokenizer are in memory (a step caches what it derives from them)."""

    @property
    def model(self) -> Any:
        """The step's model; only after `attach`."""
        if self._loaded is None:
            raise RuntimeError(f"step {self.name!r} has no model: its folder {self.folder!r} was never attached")
        return self._loaded[0]

    @property
    def tokenizer(self) -> Any:
        """The step's fast tokenizer; only after `attach`."""
        self.model  # noqa: B018 - the same check
        return self._loaded[1]  # type: ignore[index]

    def fit(self, values: Sequence[Any]) -> ModelStep:
        """Record which files this model was trained with."""
        _ = self.model
        self.fingerprint_ = self._seen
        return self
