"""Build the labelled PII evaluation set (bench/pii_eval_set.jsonl) from templates and synthetic values.

Run through `bench/pii_eval.py --generate`. Invariants: the same seed gives the same file byte for
byte; every label's span is computed while the sentence is assembled, never by running a detector;
every entity type gets single-entity sentences, and the set also holds hard negatives (type None
values: broken checksums, near-miss shapes), sentences with several entities, and plain prose.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from typing import Any

from bench import pii_eval_values as values

SEED = 20250611
SINGLE_PER_TYPE = 110
NEGATIVE_SENTENCES = 260
MULTI_SENTENCES = 170
PLAIN_SENTENCES = 40

SLOTS: dict[str, Callable[[random.Random], values.Value]] = {
    "NAME": values.name,
    "EMAIL": values.email,
    "PHONE": values.phone,
    "CARD": values.card,
    "IBAN": values.iban,
    "IP": lambda rng: values.ipv4(rng) if rng.random() < 0.6 else values.ipv6(rng),
    "SSN": values.ssn,
    "SECRET": values.secret,
    "BEARER": values.bearer,
    "NEG": values.negative,
    "BAD_CARD": values.bad_card,
    "BAD_IBAN": values.bad_iban,
    "BAD_SSN": values.bad_ssn,
    "DATE": values.date,
    "ORDER": values.order,
    "PRICE": values.price,
    "VERSION": values.version,
}

SINGLE: dict[str, list[str]] = {
    "EMAIL": [
        "Please email {EMAIL} about the invoice.",
        "My address is {EMAIL}",
        "{EMAIL} asked for a refund.",
        "Send the draft to {NAME} ({EMAIL}) by Friday.",
        "cc: <{EMAIL}>",
        "Reply-To: {EMAIL}\nSubject: meeting notes",
        'Is "{EMAIL}" still the right contact?',
        "You can reach support at {EMAIL}, they answer within a day.",
    ],
    "PHONE_NUMBER": [
        "Call me on {PHONE} after 5pm.",
        "My number is {PHONE}.",
        "{PHONE} is the front desk.",
        "Phone: {PHONE}\nFax: none",
        "Reach {NAME} at {PHONE}, or leave a message.",
        "The hotline ({PHONE}) is open on weekdays.",
        "Text {PHONE} when you arrive",
        "tel. {PHONE}",
    ],
    "CARD_NUMBER": [
        "My card number is {CARD}.",
        "Charge {CARD}, expiry 08/27.",
        "card: {CARD}",
        "{CARD} was declined yesterday",
        "Payment details: {CARD}; CVC on request.",
        "Can you check why {CARD} is blocked?",
    ],
    "IBAN": [
        "Wire the money to {IBAN}.",
        "IBAN: {IBAN}",
        "Our bank account is {IBAN}, reference {ORDER}.",
        "Please update my IBAN to {IBAN} before the next payroll.",
        "{IBAN} (account holder {NAME})",
        "Beneficiary {NAME}, IBAN {IBAN}, BIC DEUTDEFF",
    ],
    "IP_ADDRESS": [
        "The server at {IP} is down.",
        "Blocked {IP} after too many logins",
        "Connection from {IP} refused.",
        "ip={IP}",
        "X-Forwarded-For: {IP}",
        "ping {IP}",
        "Our VPN hands out {IP} to my laptop.",
    ],
    "US_SSN": [
        "My SSN is {SSN}.",
        "SSN: {SSN}",
        "social security number {SSN}, date of birth {DATE}",
        "{SSN} belongs to {NAME}",
        "Employee {NAME}, SSN {SSN}.",
    ],
    "SECRET": [
        "My API key is {SECRET}",
        "export OPENAI_API_KEY={SECRET}",
        'token = "{SECRET}"',
        "Here is the key: {SECRET}\nCan you debug this?",
        "Authorization: Bearer {BEARER}",
        "curl -H 'Authorization: Bearer {BEARER}' https://api.example.com/v1/me",
        "I pasted {SECRET} by mistake, please ignore it.",
    ],
}

NEGATIVE = [
    "See {NEG} for details.",
    "Reference: {NEG}",
    "We noted {NEG} in the log.",
    "Is {NEG} correct?",
    "{NEG} was mentioned twice.",
    "The form says {NEG}, which looks wrong to me.",
]

MULTI = [
    "Hi, this is {NAME}: mail {EMAIL} or call {PHONE}.",
    "Card {CARD}, billing email {EMAIL}, phone {PHONE}.",
    "Transfer from {IBAN} failed; contact {EMAIL} and quote {ORDER}.",
    "Server {IP} leaked {SECRET} in its logs",
    "SSN {SSN}, phone {PHONE}, card {CARD}",
    "Login from {IP} on {DATE} by {EMAIL}.",
    "Refund {PRICE} to {IBAN} or card {CARD}.",
    "Contact {NAME} ({PHONE}, {EMAIL}), IBAN {IBAN}.",
    "Not a card: {BAD_CARD}; the real one is {CARD}.",
    "Bad SSN {BAD_SSN} next to a good one, {SSN}.",
    "The IBAN {BAD_IBAN} bounced, use {IBAN} instead.",
    "Release {VERSION} runs on {IP} and pages {PHONE}.",
    "Whitelist {IP} and {IP} please",
    "{EMAIL}, {EMAIL} and {EMAIL} are on the list.",
    "Key {SECRET}\nowner {EMAIL}\nhost {IP}",
]

PLAIN = [
    "Can you summarise this article for me?",
    "What is the capital of France?",
    "Write a haiku about autumn.",
    "We shipped 3 features in 2 weeks.",
    "The build takes 12 minutes on 8 cores.",
    "Meet me at 10:30 in room 4.",
    "Our Q3 revenue grew by 12% compared with 2023.",
    "Translate 'good morning' into German.",
]

_SLOT = re.compile(r"\{([A-Z_]+)\}")


def sentence(rng: random.Random, template: str, *, kind: str) -> dict[str, Any]:
    """Fill a template; labels come from the slots' values, their spans from where they were placed."""
    text, entities, position = "", [], 0
    for match in _SLOT.finditer(template):
        text += template[position : match.start()]
        entity_type, value = SLOTS[match.group(1)](rng)
        if entity_type is not None:
            entities.append({"type": entity_type, "start": len(text), "end": len(text) + len(value), "value": value})
        text += value
        position = match.end()
    text += template[position:]
    return {"kind": kind, "text": text, "entities": entities}


def generate(*, seed: int = SEED) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    examples = []
    for entity_type, templates in SINGLE.items():
        examples += [sentence(rng, rng.choice(templates), kind=entity_type) for _ in range(SINGLE_PER_TYPE)]
    examples += [sentence(rng, rng.choice(NEGATIVE), kind="negative") for _ in range(NEGATIVE_SENTENCES)]
    examples += [sentence(rng, rng.choice(MULTI), kind="multi") for _ in range(MULTI_SENTENCES)]
    examples += [sentence(rng, rng.choice(PLAIN), kind="plain") for _ in range(PLAIN_SENTENCES)]
    return [{"id": number, **example} for number, example in enumerate(examples, start=1)]


def to_jsonl(examples: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(example, ensure_ascii=False, sort_keys=True) + "\n" for example in examples)
