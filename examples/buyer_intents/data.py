"""A deterministic generator of buyer-to-seller messages labelled with the buyer's intent.

The texts carry what real ones do: HTML, quoted replies, signatures, personal data, Unicode
noise, other languages, lengths from a few words to several hundred tokens. The tabular
columns carry signal too, have missing values, and the test split holds categories that
training never saw.
"""

from __future__ import annotations

import random

import pandas as pd

COLUMNS = ["subject", "message", "marketplace", "channel", "order_value", "days_since_order", "intent"]
INTENTS = ["cancel_order", "damaged_item", "order_status", "product_question", "refund_issue", "return_request"]
MARKETPLACES = {"US": 0.4, "UK": 0.2, "DE": 0.15, "FR": 0.1, "JP": 0.1, "CA": 0.05}
UNSEEN_MARKETPLACES = ["MX", "BR", "IN"]  # only in the test split
CHANNELS = {"email": 0.5, "chat": 0.3, "app": 0.2}
UNSEEN_CHANNELS = ["voice"]

BODIES = {
    "order_status": [
        "Where is my order? It still has not arrived.",
        "Can you tell me when my package will be delivered?",
        "The tracking number you gave me shows no updates for a week.",
        "My order says shipped but I have not received anything yet.",
        "Is there any update on the delivery of my purchase?",
        "It has been {days} days and the parcel is still not here.",
    ],
    "return_request": [
        "I would like to return the item, it does not fit.",
        "How do I send this back? I changed my mind.",
        "Please send me a return label, the colour is not what I expected.",
        "The size is wrong, can I exchange or return it?",
        "I want to return this product within the return window.",
    ],
    "refund_issue": [
        "I returned the item two weeks ago and still have no refund.",
        "When will I get my money back? You received the return already.",
        "The refund amount is wrong, I was charged {value} but got less back.",
        "I was charged twice for the same order, please refund one payment.",
        "My refund has not appeared on my card statement.",
    ],
    "cancel_order": [
        "Please cancel my order, I ordered by mistake.",
        "I need to cancel this purchase before it ships.",
        "Cancel the order please, I found it cheaper elsewhere.",
        "Can you stop the shipment? I no longer need it.",
        "I placed the order twice by accident, cancel one of them.",
    ],
    "damaged_item": [
        "The item arrived broken, the box was crushed.",
        "The screen is cracked and it does not turn on.",
        "Parts are missing and the product is damaged.",
        "It arrived with scratches and a dent on the side.",
        "The glass was shattered when I opened the parcel, see the photo.",
    ],
    "product_question": [
        "Is this compatible with the older model?",
        "What are the dimensions of this item?",
        "Does it come with batteries included?",
        "Is this available in blue or only in black?",
        "Can this be used outdoors in the rain?",
        "How long does the battery last on a full charge?",
    ],
}
# Messages that say little: only the tabular columns can tell these apart.
VAGUE = [
    "Hi, I need help with my order, please get back to me.",
    "Please contact me about my purchase.",
    "I have a problem, can someone help?",
    "Question about the order.",
]
GERMAN = {
    "order_status": "Wo ist meine Bestellung? Sie ist noch nicht angekommen.",
    "return_request": "Ich möchte den Artikel zurücksenden, er passt nicht.",
    "refund_issue": "Ich habe meine Rückerstattung noch nicht erhalten.",
    "cancel_order": "Bitte stornieren Sie meine Bestellung.",
    "damaged_item": "Der Artikel ist beschädigt angekommen.",
    "product_question": "Ist dieser Artikel auch in Größe M erhältlich?",
}
FRENCH = {
    "order_status": "Où est ma commande ? Elle n'est toujours pas arrivée.",
    "return_request": "Je voudrais retourner l'article, il ne me va pas.",
    "refund_issue": "Je n'ai pas encore reçu mon remboursement.",
    "cancel_order": "Merci d'annuler ma commande.",
    "damaged_item": "L'article est arrivé endommagé.",
    "product_question": "Est-ce que ce produit est compatible avec la version précédente ?",
}
SUBJECTS = {
    "order_status": ["Where is my package", "Delivery", "Tracking", "Order not received"],
    "return_request": ["Return", "Exchange", "Return label"],
    "refund_issue": ["Refund", "Money back", "Charged twice"],
    "cancel_order": ["Cancel", "Cancellation", "Stop order"],
    "damaged_item": ["Broken item", "Damaged", "Arrived broken"],
    "product_question": ["Question", "Product info", "Compatibility"],
}
GREETINGS = ["Hi,", "Hello,", "Dear seller,", "Hey", "Good morning,", "", "To whom it may concern,"]
CLOSINGS = ["Thanks", "Thank you", "Regards", "Best", "Cheers", "Kind regards"]
NAMES = ["John Smith", "Maria García", "Li Wei", "Anna Müller", "Jean Dupont", "Yuki Tanaka", "Priya Patel"]
FILLER = [
    "I bought this as a present for my brother, whose birthday is next week, so timing matters a lot to me.",
    "I have been a customer of your shop for many years and have always been happy with the service.",
    "Last time I ordered from you everything went smoothly, which is why I am surprised now.",
    "I tried calling the number on the website but nobody answered, so I am writing here instead.",
    "My neighbour said she had a similar problem with another seller, and it took a month to resolve.",
    "I read the description on the product page carefully before buying, including the reviews.",
    "I work during the day, so please reply by message rather than trying to call me.",
    "I also checked with the post office and with my building's reception but they know nothing.",
]
SELLER_QUOTES = [
    "Thank you for your order. Your item has shipped and will arrive soon.",
    "We have processed your refund. Please allow 5 business days.",
    "Your return has been received at our warehouse.",
    "We are sorry the item arrived damaged. Could you send a photo?",
    "Your order has been cancelled as requested.",
]


def _weighted(rng: random.Random, table: dict[str, float]) -> str:
    return rng.choices(list(table), weights=list(table.values()))[0]


def _pii(rng: random.Random) -> str:
    order_id = f"{rng.randint(100, 999)}-{rng.randint(1000000, 9999999)}-{rng.randint(1000000, 9999999)}"
    return rng.choice(
        [
            f"My order number is {order_id}.",
            f"Order {order_id}",
            f"You can reach me at {rng.choice(['john', 'maria.g', 'lw88'])}"
            f"@{rng.choice(['example.com', 'mail.example.org'])}.",
            f"Call me on +1 (206) 555-{rng.randint(1000, 9999)} if needed.",
            f"My phone: 020 7946 {rng.randint(1000, 9999)}",
            "I paid with my card 4111 1111 1111 1111, please check.",
            f"See https://shop.example.com/orders/{rng.randint(10000, 99999)} for details.",
        ]
    )


def _noise(rng: random.Random, text: str) -> str:
    roll = rng.random()
    if roll < 0.05:  # mojibake: UTF-8 read as Latin-1 somewhere upstream
        return text.encode("utf-8").decode("latin-1", errors="replace")
    if roll < 0.10:
        return text.replace(" ", " \u200b", 2)
    if roll < 0.18:
        return text + " " + rng.choice(["😀", "🙏", "😡📦", "👍", "‼️"])
    if roll < 0.22:
        return text.upper()
    return text


def _message(rng: random.Random, intent: str, marketplace: str, days: float | None, value: float | None) -> str:
    if rng.random() < 0.08:
        body = rng.choice(VAGUE)
    elif marketplace == "DE" and rng.random() < 0.4:
        body = GERMAN[intent]
    elif marketplace == "FR" and rng.random() < 0.4:
        body = FRENCH[intent]
    else:
        body = rng.choice(BODIES[intent]).format(days=int(days or 10), value=f"${value or 20:.2f}")
        if rng.random() < 0.3:
            body += " " + rng.choice(BODIES[intent]).format(days=int(days or 10), value=f"${value or 20:.2f}")
    parts = [rng.choice(GREETINGS), body]
    if rng.random() < 0.5:
        parts.append(_pii(rng))
    if rng.random() < 0.25:  # long, rambling messages: up to several hundred tokens
        parts.extend(rng.choices(FILLER, k=rng.randint(1, 12)))
    text = _noise(rng, "\n\n".join(p for p in parts if p))
    if rng.random() < 0.5:
        text += f"\n\n{rng.choice(CLOSINGS)},\n{rng.choice(NAMES)}"
        if rng.random() < 0.3:
            text += "\nSent from my iPhone"
    if rng.random() < 0.3:  # a quoted earlier message from the seller, often about another topic
        quote = "\n".join("> " + line for line in rng.choice(SELLER_QUOTES).split(". "))
        text += f"\n\nOn Mon, 4 Mar 2024 at 10:00, Seller Support <support@shop.example.com> wrote:\n{quote}"
    if rng.random() < 0.2:  # an HTML e-mail
        paragraphs = "".join(f"<p>{p}</p>" for p in text.split("\n\n"))
        text = f"<html><head><style>p {{margin:0}}</style></head><body>{paragraphs}<br></body></html>"
    return text


def _days(rng: random.Random, intent: str) -> float | None:
    if intent == "product_question":
        return None if rng.random() < 0.8 else float(rng.randint(0, 60))
    if rng.random() < 0.1:
        return None
    low, high = {
        "cancel_order": (0, 2),
        "order_status": (3, 25),
        "damaged_item": (2, 12),
        "return_request": (5, 30),
        "refund_issue": (12, 60),
    }[intent]
    return float(rng.randint(low, high))


def generate(rows: int, seed: int = 7, unseen_share: float = 0.0) -> pd.DataFrame:
    """`rows` labelled messages; `unseen_share` of them use categories kept out of training."""
    rng = random.Random(seed)
    records = []
    for _ in range(rows):
        intent = rng.choice(INTENTS)
        marketplace = _weighted(rng, MARKETPLACES)
        channel = _weighted(rng, CHANNELS)
        if rng.random() < unseen_share:
            marketplace = rng.choice(UNSEEN_MARKETPLACES)
        if rng.random() < unseen_share:
            channel = rng.choice(UNSEEN_CHANNELS)
        value = round(rng.lognormvariate(3.3, 0.9), 2) if rng.random() > 0.15 else None
        days = _days(rng, intent)
        subject = rng.choice(SUBJECTS[intent]) if rng.random() > 0.2 else ""
        records.append(
            {
                "subject": subject,
                "message": _message(rng, intent, marketplace, days, value),
                "marketplace": marketplace if rng.random() > 0.05 else None,
                "channel": channel,
                "order_value": value,
                "days_since_order": days,
                "intent": intent if rng.random() > 0.02 else rng.choice(INTENTS),  # label noise
            }
        )
    return pd.DataFrame.from_records(records, columns=COLUMNS)


def train_test(train_rows: int = 2400, test_rows: int = 600, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The train split, and a test split drawn separately with 5% unseen categories."""
    return generate(train_rows, seed), generate(test_rows, seed + 1, unseen_share=0.05)


def validation(rows: int = 600, seed: int = 7) -> pd.DataFrame:
    """A third split, drawn like the test split: `bsm optimize` checks int8 against fp32 on it."""
    return generate(rows, seed + 2, unseen_share=0.05)
