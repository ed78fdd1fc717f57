"""The committed evaluation set: in step with its generator, and scored above the agreed floors."""

from __future__ import annotations

import pytest

from bench.pii_eval import EVAL_SET, load_examples, score
from bench.pii_eval_generate import generate, to_jsonl

RECALL_FLOORS = {
    "CARD_NUMBER": 0.99,
    "IBAN": 0.99,
    "US_SSN": 0.99,
    "EMAIL": 0.95,
    "PHONE_NUMBER": 0.95,
    "IP_ADDRESS": 0.95,
    "SECRET": 0.95,
}
PRECISION_FLOOR = 0.95


@pytest.fixture(scope="module")
def scores():
    return score(load_examples())


def test_committed_set_is_what_the_generator_writes() -> None:
    assert EVAL_SET.read_text(encoding="utf-8") == to_jsonl(generate())


def test_set_is_large_and_has_hard_negatives_and_mixed_sentences() -> None:
    examples = load_examples()
    kinds = [example["kind"] for example in examples]
    assert len(examples) >= 1000
    assert kinds.count("negative") >= 200
    assert kinds.count("multi") >= 100
    assert all(
        example["text"][e["start"] : e["end"]] == e["value"] for example in examples for e in example["entities"]
    )


@pytest.mark.parametrize("entity_type", sorted(RECALL_FLOORS))
def test_recall_meets_its_floor(scores, entity_type) -> None:
    assert scores[entity_type].recall >= RECALL_FLOORS[entity_type]


@pytest.mark.parametrize("entity_type", sorted(RECALL_FLOORS))
def test_precision_meets_the_floor(scores, entity_type) -> None:
    assert scores[entity_type].precision >= PRECISION_FLOOR
