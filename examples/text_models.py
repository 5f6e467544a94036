"""Small model folders built in seconds, for tests and the multilingual example (no hub here).

- `gazetteer_ner`: a real `BertForTokenClassification` (no attention layers) whose weights are set
  so that it tags exactly the words it is given: the NER path (fast tokenizer offsets, sub-word
  merging, windows) gives known answers.
- `random_translator`: a real `MarianMTModel` with random weights and its own small tokenizer:
  the translation path (batching, bounded decoding, pass-through) runs for real; its output is noise.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import BertConfig, BertForTokenClassification, MarianConfig, MarianMTModel, PreTrainedTokenizerFast

CORPUS = [
    "Hello, where is my order? It still has not arrived.",
    "Wo ist meine Bestellung? Sie ist noch nicht angekommen.",
    "Je voudrais retourner l'article, il ne me va pas.",
    "Please cancel my order, I ordered by mistake.",
    "Der Artikel ist beschädigt angekommen. Bitte stornieren Sie meine Bestellung.",
    "Où est ma commande ? Merci d'annuler ma commande.",
    "Thanks, John Smith. Regards, Anna Müller from Berlin and Jean Dupont from Paris.",
]
WIDTH = 16  # hidden size of the gazetteer model


def _wordpiece(corpus: Iterable[str], special: Sequence[str], vocab_size: int, lowercase: bool = True) -> Tokenizer:
    tokenizer = Tokenizer(models.WordPiece(unk_token=special[1]))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=lowercase, strip_accents=None if lowercase else False)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    tokenizer.train_from_iterator(
        list(corpus), trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=list(special))
    )
    return tokenizer


def gazetteer_ner(
    out: Path, names: Mapping[str, Sequence[str]], corpus: Iterable[str] = CORPUS, split: Sequence[str] = ()
) -> Path:
    """A token-classification folder tagging each word of `names[type]` as that type (B-/I- labels).

    Each word of `split` is left out of the vocabulary as a whole and kept as two sub-word pieces.
    """
    words = {word.lower(): kind for kind, items in names.items() for name in items for word in name.split()}
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
    trained = _wordpiece([*corpus, *words], special, vocab_size=400)
    vocab = trained.get_vocab()
    for word in (normalizers.BertNormalizer(lowercase=True).normalize_str(w) for w in split):
        vocab.pop(word, None)
        for piece in (word[: len(word) // 2], "##" + word[len(word) // 2 :]):
            vocab.setdefault(piece, max(vocab.values()) + 1)
    tokenizer = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tokenizer.normalizer, tokenizer.pre_tokenizer, tokenizer.decoder = (
        trained.normalizer,
        trained.pre_tokenizer,
        trained.decoder,
    )
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]",
                                   cls_token="[CLS]", sep_token="[SEP]", model_max_length=512)  # fmt: skip
    kinds = sorted(set(words.values()))
    labels = ["O", *(f"{p}-{k}" for k in kinds for p in "BI")]
    config = BertConfig(vocab_size=max(vocab.values()) + 1, hidden_size=WIDTH, num_hidden_layers=0,
                        num_attention_heads=2, intermediate_size=32, max_position_embeddings=512,
                        id2label=dict(enumerate(labels)), label2id={x: i for i, x in enumerate(labels)})  # fmt: skip
    model = BertForTokenClassification(config)
    with torch.no_grad():
        embeddings = model.bert.embeddings
        for table in (embeddings.word_embeddings, embeddings.position_embeddings, embeddings.token_type_embeddings):
            table.weight.zero_()
        embeddings.LayerNorm.weight.fill_(1.0)
        embeddings.LayerNorm.bias.zero_()
        model.classifier.weight.zero_()
        model.classifier.bias.zero_()
        model.classifier.bias[0] = 1.0  # "O" unless a word's own direction says otherwise
        for k, kind in enumerate(kinds):
            model.classifier.weight[labels.index(f"B-{kind}"), k] = 3.0
        for word, kind in words.items():
            direction = torch.full((WIDTH,), -1.0)
            direction[kinds.index(kind)] = 15.0  # after LayerNorm still ~3.9 along its type's axis
            for token in fast(word, add_special_tokens=False)["input_ids"]:
                embeddings.word_embeddings.weight[token] = direction
    model.save_pretrained(out)
    fast.save_pretrained(out)
    return out


def marian(
    corpus: Iterable[str], vocab_size: int, width: int, layers: int, heads: int, lowercase: bool = True
) -> tuple[PreTrainedTokenizerFast, MarianMTModel]:
    """A random MarianMT and a WordPiece tokenizer learned from `corpus` that ends inputs with </s>."""
    tokenizer = _wordpiece(corpus, ["<pad>", "<unk>", "</s>"], vocab_size, lowercase)
    tokenizer.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 2)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="<unk>", pad_token="<pad>",
                                   eos_token="</s>", model_max_length=512)  # fmt: skip
    config = MarianConfig(vocab_size=tokenizer.get_vocab_size(), d_model=width, encoder_layers=layers,
                          decoder_layers=layers, encoder_attention_heads=heads, decoder_attention_heads=heads,
                          encoder_ffn_dim=2 * width, decoder_ffn_dim=2 * width, max_position_embeddings=512,
                          pad_token_id=0, eos_token_id=2, decoder_start_token_id=0, forced_eos_token_id=2,
                          dropout=0.0)  # fmt: skip
    return fast, MarianMTModel(config)


def random_translator(out: Path, seed: int = 0, corpus: Iterable[str] = CORPUS) -> Path:
    """A seq2seq folder: a tiny random MarianMT and its tokenizer; its output is noise."""
    torch.manual_seed(seed)
    fast, model = marian(corpus, vocab_size=300, width=16, layers=1, heads=2)
    model.save_pretrained(out)
    fast.save_pretrained(out)
    return out
