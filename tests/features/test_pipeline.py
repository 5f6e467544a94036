"""The feature pipeline built from a spec."""

from __future__ import annotations

import numpy as np
import pytest

from handler import Predictor
from handler.features import Tokenization
from handler.features.pipeline import WINDOW_CHARS_PER_TOKEN, FeaturePipeline, Features
from handler.features.schema import Column, ColumnKind, Schema


def test_pipeline_spec_round_trip_gives_same_features(tiny_predictor: Predictor, tiny_frames) -> None:
    pipeline = tiny_predictor.artifacts.pipeline
    rebuilt = FeaturePipeline.from_spec(pipeline.schema, pipeline.to_spec())
    columns = pipeline.schema.validate(tiny_frames[1])
    a, b = pipeline.transform(columns), rebuilt.transform(columns)
    assert a.token_ids == b.token_ids
    assert np.array_equal(a.categorical, b.categorical) and np.array_equal(a.numeric, b.numeric)


def test_features_keep_row_count_and_shapes(tiny_predictor: Predictor, tiny_frames) -> None:
    features = tiny_predictor.preprocess(tiny_frames[1])
    n = len(tiny_frames[1])
    assert len(features) == n
    assert len(features.token_ids) == 2 and all(len(c) == n for c in features.token_ids)
    assert features.categorical.shape == (n, 2) and features.numeric.shape == (n, 4)


def test_take_and_concat_are_inverse(tiny_predictor: Predictor, tiny_frames) -> None:
    features = tiny_predictor.preprocess(tiny_frames[1].head(10))
    joined = Features.concat([features.take(range(0, 4)), features.take(range(4, 10))])
    assert joined.token_ids == features.token_ids
    assert np.array_equal(joined.numeric, features.numeric)


def test_text_pipeline_cleans_the_example_noise(tiny_predictor: Predictor) -> None:
    html = "<p>Hi, cancel order 123-4567890-1234567</p><p>Thanks,<br>Ann</p>"
    quoted = "Where is it? Mail me: a@b.com\n\nOn Mon, 4 Mar 2024, Seller <s@x.com> wrote:\n> refund done"
    cleaned = tiny_predictor.artifacts.pipeline.clean_text({"subject": ["cafÃ©"], "message": [html]})
    assert cleaned["subject"] == ["café"]
    assert cleaned["message"] == ["Hi, cancel order [ORDER_ID]"]
    cleaned = tiny_predictor.artifacts.pipeline.clean_text({"subject": [""], "message": [quoted]})
    assert cleaned["message"] == ["Where is it? Mail me: [EMAIL]"]


def test_processors_must_match_schema_columns() -> None:
    schema = Schema((Column("t", ColumnKind.TEXT), Column("c", ColumnKind.CATEGORICAL)))
    with pytest.raises(ValueError, match="categorical processors are for columns \\[\\], expected \\['c'\\]"):
        FeaturePipeline(schema, {"t": []}, Tokenization(), {}, {})


def test_a_text_is_read_only_as_far_as_its_window(tiny_predictor: Predictor) -> None:
    """Past window_chars nothing reaches the steps: a long field costs what its window costs."""
    pipeline = tiny_predictor.artifacts.pipeline
    window = pipeline.window_chars
    head = ("where is my parcel? " * window)[: window - 1] + "x"
    long = {"subject": ["hi"], "message": [head + "\n" * 50_000]}
    assert pipeline.clean_text(long) == pipeline.clean_text({"subject": ["hi"], "message": [head]})
    assert pipeline.clean_text({"subject": ["a" * (window + 5)], "message": [""]})["subject"] == ["a" * window]


def test_the_window_is_recorded_and_an_older_spec_gets_the_default(tiny_predictor: Predictor) -> None:
    pipeline = tiny_predictor.artifacts.pipeline
    spec = pipeline.to_spec()
    assert spec["window_chars"] == WINDOW_CHARS_PER_TOKEN * pipeline.tokenizer.max_length
    older = {k: v for k, v in spec.items() if k != "window_chars"}
    assert FeaturePipeline.from_spec(pipeline.schema, older).window_chars == spec["window_chars"]
    assert FeaturePipeline.from_spec(pipeline.schema, spec | {"window_chars": 5000}).window_chars == 5000
    with pytest.raises(ValueError, match="window_chars is 3, expected at least"):
        FeaturePipeline.from_spec(pipeline.schema, spec | {"window_chars": 3})


def test_a_step_that_lengthens_a_text_hands_on_no_more_than_the_window(tiny_predictor: Predictor) -> None:
    """NFKC turns U+FDFA into 18 characters: the steps after it still read only the window."""
    pipeline = tiny_predictor.artifacts.pipeline
    cleaned = pipeline.clean_text({"subject": ["\ufdfa" * pipeline.window_chars], "message": [""]})
    assert 0 < len(cleaned["subject"][0]) <= pipeline.window_chars
