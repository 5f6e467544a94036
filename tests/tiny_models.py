"""The recipes of the tiny models the shared fixtures (conftest.py) train in seconds."""

from __future__ import annotations

import dataclasses

from examples.buyer_intents.build import CONFIG as EXAMPLE_CONFIG

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
