"""The multilingual variant: the example recipe with `language`, `translate` and `mask_names`, and the two
models those steps read, trained here on the example's own kind of text (nothing comes from a hub):

- an NER model: all-MiniLM-L6-v2 fine-tuned for token classification on sentences that name people and
  places, scored on names it never saw;
- a translator: a small MarianMT trained from scratch on the example's German and French sentences and
  its English segments (which it learns to copy): a toy, as the example's data is, on the real path.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from examples.buyer_intents.data import BODIES, CLOSINGS, FILLER, GREETINGS, SUBJECTS, VAGUE

# German and French sentences of the example's messages (data.GERMAN, data.FRENCH), sentence by sentence.
SENTENCE_PAIRS = {
    "Wo ist meine Bestellung?": "Where is my order?",
    "Sie ist noch nicht angekommen.": "It still has not arrived.",
    "Ich möchte den Artikel zurücksenden, er passt nicht.": "I would like to return the item, it does not fit.",
    "Ich habe meine Rückerstattung noch nicht erhalten.": "I still have no refund.",
    "Bitte stornieren Sie meine Bestellung.": "Please cancel my order.",
    "Der Artikel ist beschädigt angekommen.": "The item arrived damaged.",
    "Ist dieser Artikel auch in Größe M erhältlich?": "Is this item available in size M?",
    "Où est ma commande ?": "Where is my order?",
    "Elle n'est toujours pas arrivée.": "It still has not arrived.",
    "Je voudrais retourner l'article, il ne me va pas.": "I would like to return the item, it does not fit.",
    "Je n'ai pas encore reçu mon remboursement.": "I still have no refund.",
    "Merci d'annuler ma commande.": "Please cancel my order.",
    "L'article est arrivé endommagé.": "The item arrived damaged.",
    "Est-ce que ce produit est compatible avec la version précédente ?": (
        "Is this product compatible with the older model?"
    ),
}
# The first part of each list trains the NER model, the rest (names it never saw) scores it.
FIRST = "John Maria Li Anna Jean Yuki Priya Ahmed Olga Carlos Fatima Lukas Sofia Kenji Amara Pierre Elena Tom".split()
FIRST += "Aisha Marco Ingrid Raj Chloe Omar".split()
LAST = "Smith García Wei Müller Dupont Tanaka Patel Hassan Ivanova Silva Khan Schmidt Rossi Sato Okafor Martin".split()
LAST += "Petrova Brown Nakamura Bianchi Larsen Costa".split()
CITIES = "Paris Berlin London Madrid Tokyo Seattle Lyon Munich Osaka Toronto Manchester Hamburg Lisbon".split()
CITIES += "Vienna Chicago Marseille Dublin Boston".split()
# Sentences around the names, as buyers write them; {p} a person, {c} a city.
NER_TEMPLATES = [
    "Regards, {p}", "Kind regards,\n{p}", "Thanks, {p}", "My name is {p} and I ordered last week.",
    "Please send it to {p} in {c}.", "I live in {c}, so delivery takes longer.", "{p} from {c} here.",
    "My neighbour {p} received my parcel in {c}.", "Can {p} pick it up at the shop in {c}?",
    "The courier in {c} said to ask {p}.", "Hello, this is {p}.", "I am writing for my mother, {p}.",
]  # fmt: skip
# Sentences without a name (the example's English, German and French): the model learns what is not one.
PLAIN = [*SENTENCE_PAIRS, *SENTENCE_PAIRS.values(), *(b for bodies in BODIES.values() for b in bodies), *FILLER, *VAGUE]
PLAIN += [*(s for subjects in SUBJECTS.values() for s in subjects), *filter(None, GREETINGS), *CLOSINGS]
LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


@dataclass
class Report:
    """How a trained step model did on what it was not trained on, and how long it took."""

    score: float
    seconds: float


def ner_examples(
    rng: random.Random, count: int, first: Sequence[str], last: Sequence[str], cities: Sequence[str]
) -> list[tuple[str, list[tuple[int, int, str]]]]:
    """`count` sentences with their entity spans [(start, end, type)]."""
    examples = []
    for _ in range(count):
        template = rng.choice(NER_TEMPLATES) if rng.random() < 0.6 else rng.choice(PLAIN)
        text, spans = "", []
        for piece in re.split(r"(\{[pc]\})", template):
            if piece in ("{p}", "{c}"):
                value = f"{rng.choice(first)} {rng.choice(last)}" if piece == "{p}" else rng.choice(cities)
                if piece == "{p}" and rng.random() < 0.3:
                    value = rng.choice(first)
                spans.append((len(text), len(text) + len(value), "PER" if piece == "{p}" else "LOC"))
                text += value
            else:
                text += piece
        if rng.random() < 0.1 and len(text.upper()) == len(text):  # the example shouts now and then
            text = text.upper()
        examples.append((text, spans))
    return examples


def _token_labels(offsets: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int, str]]) -> list[int]:
    labels = []
    for start, end in offsets:
        if start == end:  # [CLS], [SEP], padding
            labels.append(-100)
            continue
        kind = next(((s, t) for s, e, t in spans if s <= start < e), None)
        labels.append(0 if kind is None else LABELS.index(("B-" if kind[0] == start else "I-") + kind[1]))
    return labels


def _encode(tokenizer: Any, batch: Sequence[tuple[str, list[tuple[int, int, str]]]]) -> tuple[Any, torch.Tensor]:
    """Tokenized sentences and their per-token labels (-100 where no label counts)."""
    encoded = tokenizer([t for t, _ in batch], padding=True, truncation=True, max_length=64,
                        return_offsets_mapping=True, return_tensors="pt")  # fmt: skip
    offsets = encoded.pop("offset_mapping").tolist()
    return encoded, torch.tensor([_token_labels(o, s) for o, (_, s) in zip(offsets, batch, strict=True)])


def train_ner(out: Path, encoder_dir: Path, sentences: int = 1500, epochs: int = 2, seed: int = 0) -> Report:
    """Fine-tune `encoder_dir` (a BERT-family folder) for PER/LOC tags; score = token F1 on names it never saw."""
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    started = time.perf_counter()
    torch.manual_seed(seed)
    rng = random.Random(seed)
    train = ner_examples(rng, sentences, FIRST[:18], LAST[:16], CITIES[:13])
    held_out = [e for e in ner_examples(rng, 400, FIRST[18:], LAST[16:], CITIES[13:]) if e[1]][:200]
    tokenizer = AutoTokenizer.from_pretrained(encoder_dir, local_files_only=True)
    model = AutoModelForTokenClassification.from_pretrained(
        encoder_dir,
        local_files_only=True,
        num_labels=len(LABELS),
        id2label=dict(enumerate(LABELS)),
        label2id={x: i for i, x in enumerate(LABELS)},
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.train()
    for _ in range(epochs):
        rng.shuffle(train)
        for start in range(0, len(train), 16):
            encoded, labels = _encode(tokenizer, train[start : start + 16])
            model(**encoded, labels=labels).loss.backward()
            optimizer.step()
            optimizer.zero_grad()
    model.eval()
    hits = guessed = named = 0  # token-level F1 over name and place tokens
    with torch.inference_mode():
        for start in range(0, len(held_out), 32):
            encoded, labels = _encode(tokenizer, held_out[start : start + 32])
            predicted, mask = model(**encoded).logits.argmax(-1), labels != -100
            hits += int(((predicted == labels) & (labels > 0) & mask).sum())
            guessed += int(((predicted > 0) & mask).sum())
            named += int((labels > 0).sum())
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return Report(2 * hits / (guessed + named), round(time.perf_counter() - started, 1))


def translation_pairs(english_segments: Sequence[str]) -> list[tuple[str, str]]:
    """The German and French sentences with their English, and English segments to be copied as they are."""
    return [*SENTENCE_PAIRS.items(), *((s, s) for s in english_segments)]


def train_translator(out: Path, pairs: Sequence[tuple[str, str]], steps: int = 1500, seed: int = 0) -> Report:
    """A small MarianMT from scratch on `pairs`; score = exact matches on the pairs after training."""
    from examples.text_models import marian

    started = time.perf_counter()
    torch.manual_seed(seed)
    rng = random.Random(seed)
    fast, model = marian([t for pair in pairs for t in pair], vocab_size=4000, width=128, layers=2, heads=4,
                         lowercase=False)  # fmt: skip
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    model.train()
    for _ in range(steps):
        batch = rng.sample(list(pairs), min(32, len(pairs)))
        inputs = fast([s for s, _ in batch], padding=True, truncation=True, return_tensors="pt")
        labels = fast([t for _, t in batch], padding=True, truncation=True, return_tensors="pt")["input_ids"]
        labels[labels == 0] = -100
        loss = model(**inputs, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    model.save_pretrained(out)
    fast.save_pretrained(out)
    with torch.inference_mode():
        right = 0
        for start in range(0, len(pairs), 64):
            batch = pairs[start : start + 64]
            inputs = fast([s for s, _ in batch], padding=True, return_tensors="pt")
            generated = model.generate(**inputs, max_new_tokens=96, num_beams=1, do_sample=False)
            decoded = fast.batch_decode(generated, skip_special_tokens=True)
            right += sum(_same(d, t) for d, (_, t) in zip(decoded, batch, strict=True))
    return Report(right / len(pairs), round(time.perf_counter() - started, 1))


def _same(a: str, b: str) -> bool:
    """Equal but for the spaces WordPiece's decoder puts around punctuation."""
    return re.sub(r"\s+", "", a) == re.sub(r"\s+", "", b)


# Names are masked before translation (the translator never learns to copy them); it translates only
# what it knows, German and French: py3langid calls a one-word subject such as "Question" Italian.
TRANSLATE = {"name": "translate", "config": {"source_languages": ["de", "fr"]}}
STEPS = ["unicode", "html", "email", "mask_entities", "mask_names", TRANSLATE, "whitespace"]


def english_segments(texts: Sequence[str], entities: Path) -> list[str]:
    """The distinct sentences and lines of `texts` as `translate` will see them (cleaned, masked), but for
    the German and French ones: the translator learns to copy these."""
    from handler.features import processor_from_spec
    from handler.model.name_masking import NameMasker
    from handler.model.translation import Translate

    masker = NameMasker()
    masker.attach(lambda folder: entities)
    steps = [*(processor_from_spec({"name": n}) for n in STEPS[: STEPS.index("mask_names")]), masker]
    values = list(texts)
    for step in steps:
        values = step.transform(values)
    foreign = {*SENTENCE_PAIRS, *(s.upper() for s in SENTENCE_PAIRS)}
    return sorted({s for s in (p.strip() for v in values for p in Translate.segments(v)) if s and s not in foreign})


def prepare(out: Path, texts: Sequence[str], encoder_dir: Path) -> dict[str, Report]:
    """Train the NER model into out/entities and the translator into out/translation."""
    ner = train_ner(out / "entities", encoder_dir)
    english = english_segments(texts, out / "entities")
    upper = {k.upper(): v.upper() for k, v in SENTENCE_PAIRS.items()}
    pairs = [*translation_pairs(english), *upper.items()]
    return {"ner_f1_unseen_names": ner, "translator_exact": train_translator(out / "translation", pairs)}
