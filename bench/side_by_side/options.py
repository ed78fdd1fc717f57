"""The run's settings, from the command line."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

FULL_ROUNDS = 300
QUICK_ROUNDS = 30
FULL_RATES = (5, 10, 15, 20, 30, 40)
QUICK_RATES = (5, 10, 20)


@dataclass(frozen=True)
class Options:
    rounds: int
    warmup: int
    rates: tuple[int, ...]
    step_seconds: float
    threshold_ms: float
    tokens: int
    token_delay: float
    quick: bool
    write_files: bool


def parse(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="bench/gateway_side_by_side.py")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 30 rounds, short phase 2 steps")
    parser.add_argument("--rounds", type=int, help=f"phase 1 rounds ({FULL_ROUNDS}; quick {QUICK_ROUNDS})")
    parser.add_argument("--rates", help="phase 2 offered rates, requests/s, comma-separated")
    parser.add_argument("--step-seconds", type=float, help="seconds per phase 2 step (10; quick 3)")
    parser.add_argument("--threshold-ms", type=float, default=50.0, help="phase 2 stops an arm past this p99")
    parser.add_argument("--tokens", type=int, default=16, help="chunks per answer from the fake model")
    parser.add_argument("--token-delay", type=float, default=0.002, help="seconds between the fake's chunks")
    parser.add_argument("--print-only", action="store_true", help="print the results; write no JSON, chart or doc")
    args = parser.parse_args(argv)
    rates = tuple(int(rate) for rate in args.rates.split(",")) if args.rates else None
    return Options(
        rounds=args.rounds or (QUICK_ROUNDS if args.quick else FULL_ROUNDS),
        warmup=5 if args.quick else 20,
        rates=rates or (QUICK_RATES if args.quick else FULL_RATES),
        step_seconds=args.step_seconds or (3.0 if args.quick else 10.0),
        threshold_ms=args.threshold_ms,
        tokens=args.tokens,
        token_delay=args.token_delay,
        quick=args.quick,
        write_files=not args.print_only,
    )
