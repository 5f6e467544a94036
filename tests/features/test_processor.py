"""The registry and the spec round trip of every registered processor."""

from __future__ import annotations

import pytest
import torch

from handler.features import PROCESSORS, Processor, processor_from_spec, register

FIT_DATA = {
    "ordinal": ["a", "b", None],
    "numeric": [1.0, None, 3.0],
    "labels": ["x", "y"],
    "tokenizer": ["some text to learn a vocabulary from"] * 5,
}


@pytest.mark.parametrize("name", list(PROCESSORS))
def test_spec_round_trip_is_plain_data(name: str, tmp_path, text_model_dir) -> None:
    processor = PROCESSORS.get(name)()
    processor.attach(lambda folder: text_model_dir / folder)  # steps with a model of their own
    processor.fit(FIT_DATA.get(name, ["text"]))
    spec = processor.to_spec()
    torch.save(spec, tmp_path / "spec.pth")
    loaded = torch.load(tmp_path / "spec.pth", weights_only=True)  # plain data only
    rebuilt = processor_from_spec(loaded)
    assert type(rebuilt) is type(processor)
    assert rebuilt.to_spec() == spec


def test_registry_refuses_duplicates() -> None:
    with pytest.raises(ValueError, match="already registered"):

        @register("html")
        class Again(Processor):
            pass


def test_unknown_name_lists_known_ones() -> None:
    with pytest.raises(KeyError, match="known: .*html"):
        processor_from_spec({"name": "nope"})


def test_state_keys_are_checked() -> None:
    with pytest.raises(ValueError, match="expected"):
        processor_from_spec({"name": "ordinal", "config": {}, "state": {"wrong": 1}})
