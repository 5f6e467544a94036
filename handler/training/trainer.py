"""Training: fit the processors on a table, train the network, return a ready Predictor."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from handler.config import REQUIRED, Settings, setting
from handler.errors import ConfigError
from handler.features import LabelEncoder, Tokenization
from handler.features.pipeline import DEFAULT_TEXT_STEPS, FeaturePipeline
from handler.features.schema import Column, ColumnKind, Schema
from handler.inference.batching import collate, iter_micro_batches
from handler.inference.predictor import BatchLimits, Predictor, accuracy
from handler.model.artifacts import Artifacts, provenance
from handler.model.network import ModelConfig, MultimodalClassifier
from handler.training.encoders import EncoderSource

log = logging.getLogger(__name__)


@dataclass
class TrainConfig(Settings):
    """What to train on and how: `bsm train` flags and SageMaker hyperparameters carry the same names."""

    KIND = "training options"
    LABEL = "training option {name!r}"

    text_columns: list[str] = setting(REQUIRED, "text columns, comma-separated")
    label_column: str = setting(REQUIRED, "the column that holds the label")
    categorical_columns: list[str] = setting(
        [], "columns of categories (one training never saw maps to a reserved index)"
    )
    numeric_columns: list[str] = setting([], "numeric columns")
    text_steps: list[Any] = setting(
        list(DEFAULT_TEXT_STEPS), "text steps applied in order, by name or as specs; `bsm train --help` lists them"
    )
    language_features: list[str] = setting([], "text columns whose language is a feature too")
    translation_model: str = setting("", "seq2seq model folder for the `translate` step (copied into the model)")
    entity_model: str = setting("", "token-classification model folder for the `mask_names` step (copied too)")
    max_length: int = setting(256, "tokens per text, after truncation")
    fine_tune: bool = setting(False, "train the encoder too (slow on a CPU); else only the head")
    epochs: int = setting(40, "passes over the training rows")
    batch_size: int = setting(32, "rows per training step")
    learning_rate: float = setting(1e-3, "learning rate of the head and the tabular branch")
    encoder_learning_rate: float = setting(3e-5, "learning rate of the encoder, when fine-tuning")
    hidden_size: int = setting(256, "width of the fusion layer")
    dropout: float = setting(0.1, "dropout in the head")
    vocab_size: int = setting(2000, "tokenizer vocabulary, only when it is learned from the data")
    seed: int = setting(0, "seed of every random choice, for a repeatable run")

    def __post_init__(self) -> None:
        if not self.text_columns:
            raise ConfigError("training needs at least one text column")
        named = [self.label_column, *self.text_columns, *self.categorical_columns, *self.numeric_columns]
        if len(set(named)) != len(named):
            raise ConfigError(f"a column is named twice among label, text, categorical and numeric: {named}")
        stray = [c for c in self.language_features if c not in self.text_columns]
        if stray:
            raise ConfigError(f"language_features names {stray}, expected text columns of {self.text_columns}")

    def locate(self, folder: str) -> Path:
        """Where a text step's model folder is read from while training: the option that names it."""
        given = {"translation": self.translation_model, "entities": self.entity_model}
        if not given.get(folder):
            option = {"translation": "translation_model", "entities": "entity_model"}.get(folder)
            hint = f"set {option}" if option else "use the folder names 'translation' or 'entities'"
            raise ConfigError(f"a text step reads the model folder {folder!r}, but none was given: {hint}")
        return Path(given[folder])

    @classmethod
    def from_options(cls, values: Mapping[str, Any], source: str = "the options") -> TrainConfig:
        """A TrainConfig from strings keyed by field name (CLI options or SageMaker hyperparameters)."""
        given = {k: v for k, v in values.items() if v not in (None, "", [])}
        return cls.from_sources(given, env={}, source=source)


def read_table(path: Path) -> pd.DataFrame:
    """A CSV file, or every CSV file of a folder (a SageMaker channel), as strings.

    Cells stay strings, empty cells stay empty: the schema then reads them exactly as it
    reads a CSV request at serving time.
    """
    files = sorted(path.glob("*.csv")) if path.is_dir() else [path]
    if not files or not all(f.is_file() for f in files):
        raise ConfigError(f"no CSV files in {path}" if path.is_dir() else f"{path}: no such file")
    try:
        return pd.concat([pd.read_csv(f, dtype=str, keep_default_na=False) for f in files], ignore_index=True)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read as CSV: {exc}") from None


def schema_for(frame: pd.DataFrame, config: TrainConfig) -> Schema:
    """The input schema: the configured columns in the order the training table has them."""
    kinds = {n: ColumnKind.TEXT for n in config.text_columns}
    kinds |= {n: ColumnKind.CATEGORICAL for n in config.categorical_columns}
    kinds |= {n: ColumnKind.NUMERIC for n in config.numeric_columns}
    missing = [n for n in [config.label_column, *kinds] if n not in frame.columns]
    if missing:
        raise ConfigError(f"training data lacks columns {missing}; it has {list(frame.columns)}")
    return Schema(tuple(Column(n, kinds[n]) for n in frame.columns if n in kinds))


def _load_encoder(model: MultimodalClassifier, state: dict[str, torch.Tensor]) -> None:
    result = model.encoder.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not k.endswith("position_ids")]
    if missing:
        raise ConfigError(f"pretrained encoder weights lack {missing[:5]}")


def train(
    frame: pd.DataFrame,
    config: TrainConfig,
    encoder: EncoderSource,
    evaluation: pd.DataFrame | None = None,
    progress: bool = True,
) -> Predictor:
    """Fit the pipeline and the network on `frame`; report accuracy on `evaluation` if given."""
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    schema = schema_for(frame, config)
    columns = schema.validate(frame)
    tokenizer = Tokenization(max_length=config.max_length, vocab_size=config.vocab_size)
    if encoder.tokenizer_json is not None:
        tokenizer.set_state({"tokenizer_json_": encoder.tokenizer_json})
    try:
        pipeline = FeaturePipeline.default(schema, tokenizer, config.text_steps, config.language_features)
        pipeline.attach(config.locate)
    except (KeyError, ValueError) as exc:  # an unknown step, or a step's configuration its model refuses
        raise ConfigError(f"text_steps: {exc}") from None
    pipeline.fit(columns)
    features = pipeline.transform(columns)
    label_encoder = LabelEncoder().fit(frame[config.label_column].astype(str))
    targets = torch.from_numpy(label_encoder.transform(frame[config.label_column].astype(str)))

    encoder_cfg = dict(encoder.config)
    if encoder.tokenizer_json is None:
        encoder_cfg["vocab_size"] = tokenizer.vocabulary_size
    model_config = ModelConfig(
        encoder=encoder_cfg,
        num_text_columns=len(pipeline.text),
        cardinalities=pipeline.cardinalities,
        numeric_width=pipeline.numeric_width,
        num_labels=len(label_encoder.classes_ or ()),
        hidden_size=config.hidden_size,
        dropout=config.dropout,
    )
    model = MultimodalClassifier(model_config)
    if encoder.state_dict is not None:
        _load_encoder(model, encoder.state_dict)
    log.info("training on %d rows, %d labels, fine_tune=%s", len(frame), model_config.num_labels, config.fine_tune)
    fit = _fit_end_to_end if config.fine_tune else _fit_head
    fit(model, features, targets, pipeline.tokenizer.pad_id, config, progress)
    model.eval()

    artifacts = Artifacts(
        schema=schema,
        pipeline=pipeline,
        labels=list(label_encoder.classes_ or ()),
        model_config=model_config,
        metrics={"train_rows": len(frame)},
        provenance=provenance(),
    )
    predictor = Predictor(artifacts, model)
    if evaluation is not None:
        predictor.artifacts.metrics |= evaluate(predictor, evaluation, config.label_column)
    return predictor


def evaluate(predictor: Predictor, frame: pd.DataFrame, label_column: str) -> dict[str, Any]:
    """Held-out metrics, computed with the predictor exactly as it will serve."""
    predicted = predictor.predict_labels(frame)
    expected = frame[label_column].astype(str).tolist()
    return {"test_rows": len(frame), "test_accuracy": accuracy(predicted, expected)}


def _batches(n: int, size: int, generator: torch.Generator) -> Sequence[torch.Tensor]:
    return torch.randperm(n, generator=generator).split(size)


def _fit_head(
    model: MultimodalClassifier, features: Any, targets: torch.Tensor, pad_id: int, config: TrainConfig, progress: bool
) -> None:
    """Frozen encoder: encode every text once, then train the tabular branch and the head."""
    model.encoder.requires_grad_(False)
    model.eval()
    text = torch.zeros(len(features), model.config.num_text_columns * model.encoder.config.hidden_size)
    limits = BatchLimits()
    with torch.inference_mode():
        batches = iter_micro_batches(features, pad_id, limits.max_rows, limits.max_tokens, torch.device("cpu"))
        for rows, batch in tqdm(batches, desc="encoding texts", disable=None if progress else True, leave=False):
            text[torch.from_numpy(rows)] = model.encode_text(batch["input_ids"], batch["attention_mask"])
    categorical, numeric = torch.from_numpy(features.categorical), torch.from_numpy(features.numeric)
    params = [p for name, p in model.named_parameters() if not name.startswith("encoder.")]
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=0.01)
    generator = torch.Generator().manual_seed(config.seed)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    bar = tqdm(range(config.epochs), desc="training head", disable=None if progress else True)
    for _ in bar:
        total = 0.0
        for idx in _batches(len(targets), config.batch_size, generator):
            optimizer.zero_grad()
            loss = loss_fn(model.classify(text[idx], categorical[idx], numeric[idx]), targets[idx])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        bar.set_postfix(loss=f"{total / len(targets):.4f}")


def _fit_end_to_end(
    model: MultimodalClassifier, features: Any, targets: torch.Tensor, pad_id: int, config: TrainConfig, progress: bool
) -> None:
    """Fine-tuning: encoder and head trained together, the encoder with a smaller learning rate."""
    encoder_params = list(model.encoder.parameters())
    ids = {id(p) for p in encoder_params}
    optimizer = torch.optim.AdamW(
        [
            {"params": encoder_params, "lr": config.encoder_learning_rate},
            {"params": [p for p in model.parameters() if id(p) not in ids], "lr": config.learning_rate},
        ],
        weight_decay=0.01,
    )
    generator = torch.Generator().manual_seed(config.seed)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for epoch in range(config.epochs):
        steps = _batches(len(targets), config.batch_size, generator)
        bar = tqdm(steps, desc=f"fine-tuning epoch {epoch + 1}/{config.epochs}", disable=None if progress else True)
        for idx in bar:
            batch = collate(features.take(idx.numpy()), pad_id)
            optimizer.zero_grad()
            loss = loss_fn(model(**batch), targets[idx])
            loss.backward()
            optimizer.step()
            bar.set_postfix(loss=f"{loss.item():.4f}")
