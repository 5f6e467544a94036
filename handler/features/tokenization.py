"""Tokenization with a Hugging Face fast tokenizer stored as JSON inside the artifacts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

from handler.features.processor import Processor, register

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


@register("tokenizer")
@dataclass
class Tokenization(Processor):
    """Texts to token ids, truncated to `max_length`; padding happens per micro-batch, later.

    State is the tokenizer JSON: set from a pretrained encoder, or learned by `fit`, which
    trains a small uncased WordPiece vocabulary (for models without a pretrained encoder).
    """

    max_length: int = 256
    vocab_size: int = 2000

    STATE = ("tokenizer_json_",)
    tokenizer_json_: str | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.max_length < 2:
            raise ValueError(f"max_length is {self.max_length}, expected at least 2")

    def fit(self, values: Sequence[str]) -> Tokenization:
        tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tokenizer.decoder = decoders.WordPiece()
        trainer = trainers.WordPieceTrainer(vocab_size=self.vocab_size, special_tokens=SPECIAL_TOKENS)
        tokenizer.train_from_iterator(values, trainer=trainer)
        cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
        tokenizer.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)]
        )
        self.set_state({"tokenizer_json_": tokenizer.to_str()})
        return self

    def set_state(self, state: dict[str, str]) -> None:  # type: ignore[override]
        super().set_state(state)
        self.__dict__.pop("_loaded", None)  # drop the tokenizer built from older state

    @cached_property
    def _loaded(self) -> tuple[Tokenizer, int]:
        if self.tokenizer_json_ is None:
            raise ValueError("tokenizer is not fitted: fit it or load its state")
        tokenizer = Tokenizer.from_str(self.tokenizer_json_)
        padding = tokenizer.padding
        pad_id = padding["pad_id"] if padding else tokenizer.token_to_id("[PAD]")
        tokenizer.no_padding()  # we pad each micro-batch to its own longest row
        tokenizer.enable_truncation(self.max_length)
        return tokenizer, int(pad_id or 0)

    @property
    def _tokenizer(self) -> Tokenizer:
        return self._loaded[0]

    @property
    def pad_id(self) -> int:
        """Id of the padding token."""
        return self._loaded[1]

    @property
    def vocabulary_size(self) -> int:
        """Number of token ids, added tokens included."""
        return self._tokenizer.get_vocab_size(with_added_tokens=True)

    def transform(self, values: Sequence[str]) -> list[list[int]]:
        return [e.ids for e in self._tokenizer.encode_batch(list(values))]
