"""Precision and recall of the PII detectors on the committed synthetic evaluation set.

Run from the project root (no database or Redis needed):

    .venv/bin/python bench/pii_eval.py             # print the per-type table
    .venv/bin/python bench/pii_eval.py --errors    # also list every miss and false alarm
    .venv/bin/python bench/pii_eval.py --generate  # rewrite bench/pii_eval_set.jsonl (fixed seed)
    .venv/bin/python bench/pii_eval.py --timing    # time `detect` on 10 KB messages and 100 KB hostile ones

Scoring rule (shared with tests/conversations/test_pii_eval.py, which imports `score`): a detected
entity is a true positive only when its type, start and end all equal a labelled entity's; any
other detection is a false positive of its type, any unmatched label a false negative of its type.
A partial overlap therefore counts twice against the detector (one false positive, one miss).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.pii_eval_generate import generate, to_jsonl  # noqa: E402
from chatpresets.llm.pii.detectors import ENTITY_TYPES, Entity, detect  # noqa: E402

EVAL_SET = Path(__file__).with_name("pii_eval_set.jsonl")
Span = tuple[str, int, int]


@dataclass(frozen=True)
class TypeScore:
    """Counts for one entity type; precision (recall) is 1.0 when nothing was detected (labelled)."""

    entity_type: str
    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 1.0

    @property
    def recall(self) -> float:
        labelled = self.true_positives + self.false_negatives
        return self.true_positives / labelled if labelled else 1.0


def load_examples(path: Path = EVAL_SET) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def errors(
    examples: Sequence[dict[str, Any]], *, detector: Callable[[str], list[Entity]] = detect
) -> list[tuple[int, str, Span, str]]:
    """Every disagreement as (example id, "missed" | "false alarm", (type, start, end), covered text)."""
    found: list[tuple[int, str, Span, str]] = []
    for example in examples:
        gold = {(e["type"], e["start"], e["end"]) for e in example["entities"]}
        predicted = {(e.type, e.start, e.end) for e in detector(example["text"])}
        text = example["text"]
        found += [(example["id"], "missed", span, text[span[1] : span[2]]) for span in sorted(gold - predicted)]
        found += [(example["id"], "false alarm", span, text[span[1] : span[2]]) for span in sorted(predicted - gold)]
    return found


def score(
    examples: Sequence[dict[str, Any]], *, detector: Callable[[str], list[Entity]] = detect
) -> dict[str, TypeScore]:
    """Exact-span scores per entity type (see the module docstring for the rule)."""
    tp = dict.fromkeys(ENTITY_TYPES, 0)
    fp = dict.fromkeys(ENTITY_TYPES, 0)
    fn = dict.fromkeys(ENTITY_TYPES, 0)
    for example in examples:
        gold = {(e["type"], e["start"], e["end"]) for e in example["entities"]}
        predicted = {(e.type, e.start, e.end) for e in detector(example["text"])}
        for entity_type, _, _ in gold & predicted:
            tp[entity_type] += 1
        for entity_type, _, _ in predicted - gold:
            fp[entity_type] += 1
        for entity_type, _, _ in gold - predicted:
            fn[entity_type] += 1
    return {t: TypeScore(t, tp[t], fp[t], fn[t]) for t in ENTITY_TYPES}


def format_table(scores: dict[str, TypeScore], *, sentences: int) -> str:
    rows = [
        f"PII detection on {sentences} labelled sentences (exact type and span)",
        "",
        "| entity type  | labelled | detected |   tp |  fp |  fn | precision | recall |",
        "|--------------|---------:|---------:|-----:|----:|----:|----------:|-------:|",
    ]
    for s in scores.values():
        labelled, detected = s.true_positives + s.false_negatives, s.true_positives + s.false_positives
        rows.append(
            f"| {s.entity_type:<12} | {labelled:>8} | {detected:>8} | {s.true_positives:>4} | {s.false_positives:>3} "
            f"| {s.false_negatives:>3} | {s.precision:>9.4f} | {s.recall:>6.4f} |"
        )
    return "\n".join(rows)


def timing_cases() -> dict[str, str]:
    """Messages to time: ordinary 10 KB prose (with and without PII, number-dense) and 100 KB hostile input."""
    rng = random.Random(7)
    words = ["the", "a", "report", "team", "will", "send", "please", "review", "meeting", "notes", "before", "friday"]
    prose = " ".join(rng.choice(words) for _ in range(3000))[:10_000]
    pii = "mail a@example.com, call +44 20 7946 0958 or (415) 555-0132, card 4111 1111 1111 1111,"
    pii += " IBAN DE89 3704 0044 0532 0130 00, from 10.0.0.1"
    with_pii = f"{prose[:5000]} {pii} {prose[5000:]}"[:10_000]
    numbers = " ".join(rng.choice([*words, "2024-05-01", "10:30", "1.2.3", "#48213", "$19.99"]) for _ in range(3000))
    return {
        "10 KB prose, no PII": prose,
        "10 KB prose, 6 entities": with_pii,
        "10 KB number-dense prose": numbers[:10_000],
        "100 KB '1 ' repeated (phone worst case)": "1 " * 50_000,
        "100 KB '1.2.' repeated": "1.2." * 25_000,
        "100 KB 'a@' repeated": "a@" * 50_000,
    }


def timing(*, runs: int = 20) -> str:
    rows = ["| input | median | max |", "|---|---:|---:|"]
    for label, text in timing_cases().items():
        detect(text)  # warm up: phonenumbers compiles its metadata patterns on first use
        samples = []
        for _ in range(runs):
            started = time.perf_counter()
            detect(text)
            samples.append((time.perf_counter() - started) * 1000)
        rows.append(f"| {label} | {statistics.median(samples):.2f} ms | {max(samples):.2f} ms |")
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generate", action="store_true", help=f"rewrite {EVAL_SET.name} and exit")
    parser.add_argument("--errors", action="store_true", help="list every miss and false alarm")
    parser.add_argument("--timing", action="store_true", help="time detect() and exit")
    args = parser.parse_args(argv)
    if args.timing:
        print(timing())
        return 0
    if args.generate:
        examples = generate()
        EVAL_SET.write_text(to_jsonl(examples), encoding="utf-8")
        print(f"wrote {len(examples)} sentences to {EVAL_SET.relative_to(ROOT)}")
        return 0
    examples = load_examples()
    print(format_table(score(examples), sentences=len(examples)))
    if args.errors:
        for example_id, what, (entity_type, start, end), text in errors(examples):
            print(f"#{example_id} {what} {entity_type} [{start}:{end}] {text!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
