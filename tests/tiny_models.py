"""The recipes of the tiny models the shared fixtures (conftest.py) train in seconds."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import torch

from examples.buyer_intents.build import CONFIG as EXAMPLE_CONFIG
from handler.model import ARTIFACTS_FILE

# The example's recipe, made small: short texts, few epochs, a small learned vocabulary.
TINY_CONFIG = dataclasses.replace(EXAMPLE_CONFIG, max_length=64, epochs=8, vocab_size=600)

# Every text step there is: the model-backed ones (translate, mask_names) and a language feature.
STEPS_CONFIG = dataclasses.replace(
    TINY_CONFIG,
    text_steps=["unicode", "html", "email", "translate", "mask_entities", "mask_names", "whitespace"],
    language_features=["message"],
    epochs=4,
)

# Who the tiny NER model knows: the example's names and two of its cities.
KNOWN_ENTITIES = {"PER": ["John Smith", "Anna Müller", "Jean Dupont"], "LOC": ["Paris", "Berlin"]}

# A model's own code/ (loaded before the model, as a model's codecs are): a text step that sleeps
# the milliseconds a text asks for as "sleep <n> ms", so a request is as slow as a test says on any
# CPU. Other texts pass unchanged: the model answers as the one it is copied from. It logs through
# our "handler" logger, which the worker writes out, so a test can see the sleep begin.
SLEEP_STEP_CODE = '''\
"""A text step that sleeps the milliseconds each text "sleep <n> ms" asks for, then passes texts on."""

import logging
import re
import time
from dataclasses import dataclass

from handler.features.processor import Processor, register

ASKED = re.compile(r"sleep (\\d+) ms")
log = logging.getLogger("handler.sleep_step")


@register("sleep")
@dataclass
class Sleep(Processor):
    def transform(self, values):
        ms = sum(int(m.group(1)) for v in values if isinstance(v, str) and (m := ASKED.fullmatch(v)))
        if ms:
            log.info("sleep step: %d ms", ms)
            time.sleep(ms / 1000)
        return list(values)
'''


def with_sleep_step(model_dir: Path, out: Path) -> Path:
    """A copy of `model_dir` whose text columns first pass the `sleep` step of its own code/."""
    shutil.copytree(model_dir, out)
    (out / "code").mkdir(exist_ok=True)
    (out / "code" / "codecs.py").write_text(SLEEP_STEP_CODE)
    data = torch.load(out / ARTIFACTS_FILE, weights_only=True)
    for steps in data["pipeline"]["text"].values():
        steps.insert(0, {"name": "sleep", "config": {}, "state": {}})
    torch.save(data, out / ARTIFACTS_FILE)
    return out
