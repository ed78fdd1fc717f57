"""Write the topology results: the JSON file and the marked section of docs/performance.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench import md_tables
from bench.side_by_side.report import replace_marked
from bench.topology_parts.rules import REFUSAL_LIMIT_MS, holds

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results" / "topology.json"
DOC = ROOT / "docs" / "performance.md"
START, END = "<!-- topology:start -->", "<!-- topology:end -->"


def write_json(results: dict[str, Any]) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


def cell(value: Any, suffix: str = " ms") -> str:
    return "-" if value is None else f"{value:,.1f}{suffix}" if isinstance(value, float) else f"{value}{suffix}"


def verdict(value: bool | None) -> str:
    return "-" if value is None else "met" if value else "**not met**"


def step_cells(processes: str, kind: str, step: dict[str, Any]) -> list[str]:
    refused = f"{step['refused']} ({md_tables.counts(step['refusal_codes'])})" if step["refused"] else "0"
    return [
        processes,
        kind,
        f"{step['offered_rps']:g}/s",
        f"{step['answered']} of {step['sent']}, {step['answered_rps']:.1f}/s",
        refused,
        md_tables.counts(step["errors"]),
        cell(step["added_p50_ms"]),
        cell(step["added_p99_ms"]),
        cell(step["refusal_p50_ms"]),
        cell(step["refusal_p99_ms"]),
        cell(step.get("machine_busy_percent"), "%"),
        cell(step.get("load_generator_cpu_percent"), "%"),
        md_tables.yes_no(holds(step)),
    ]


def steps_table(results: dict[str, Any]) -> list[str]:
    headers = ["N", "step", "offered", "answered", "refused (503)", "other errors", "added p50", "added p99"]
    headers += ["refusal p50", "refusal p99", "machine busy", "load generator CPU", "holds"]
    rows = []
    for n, topology in results["topologies"].items():
        rows += [step_cells(n, "step-up", step) for step in topology["steps"]]
        if topology["at_80_percent"] is not None:
            rows.append(step_cells(n, "80%", topology["at_80_percent"]))
        repeats = topology["at_2x"]
        for number, step in enumerate(repeats, 1):
            rows.append(step_cells(n, "2x" if len(repeats) == 1 else f"2x, run {number}", step))
    return md_tables.table(headers, rows)


def each_ms(steps: list[dict[str, Any]], key: str) -> str:
    """One value per 2x run: `64.0, 52.1 ms`."""
    return ", ".join(cell(step[key], "") for step in steps) + " ms" if steps else "-"


def met_in(verdicts: list[bool | None]) -> str:
    return "" if len(verdicts) < 2 else f"; met in {sum(v is True for v in verdicts)} of {len(verdicts)}"


def summary_table(results: dict[str, Any]) -> list[str]:
    headers = ["N", "load avg", "model alone p50", "c=1 added p50 / p99", "sustainable", "peak answered"]
    headers += ["3x bound", "80%: added p99", "2x: refusal p99", "2x: admitted added p99"]
    rows = []
    for n, topology in results["topologies"].items():
        one, goal = topology["concurrency_one"], topology["targets"]
        below, above = topology["at_80_percent"] or {}, topology["at_2x"]
        refusal = each_ms(above, "refusal_p99_ms")
        if above and not any(step["refused"] for step in above):
            refusal = "nothing refused"
        rows.append(
            [
                n,
                "{:.1f} → {:.1f}".format(*topology["load_average"]),
                cell(one["direct_ttft_p50_ms"]),
                f"{cell(one['added_p50_ms'])} / {cell(one['added_p99_ms'])}",
                f"{topology['sustainable_rps']:g}/s" + ("" if topology["knee_reached"] else " (every step held)"),
                f"{topology['peak_answered_rps']:.1f}/s",
                cell(goal["ttft_bound_ms"]),
                f"{cell(below.get('added_p99_ms'))} ({verdict(goal['below_ttft_within_bound'])})",
                f"{refusal} ({verdict(goal['above_refused_any'] and goal['above_refusal_within_limit'])})",
                f"{each_ms(above, 'added_p99_ms')} ({verdict(goal['above_ttft_within_bound'])}"
                f"{met_in(goal['above_ttft_met'])})",
            ]
        )
    return md_tables.table(headers, rows)


SERVICE_PARTS = ("web", "nginx", "postgresql", "redis", "celery", "rabbitmq")
BENCH_PARTS = ("model (fake)", "load generator", "other")


def cpu_table(results: dict[str, Any]) -> list[str]:
    """CPU per answered turn of each part, at each topology's sustainable rate (the step it names)."""
    rows = []
    for n, topology in results["topologies"].items():
        step = next((s for s in topology["steps"] if s["offered_rps"] == topology["sustainable_rps"]), None)
        if step is None or not step.get("cpu_ms_per_s"):
            continue
        per_turn = {name: ms_per_s / step["answered_rps"] for name, ms_per_s in step["cpu_ms_per_s"].items()}
        service = sum(per_turn.get(name, 0.0) for name in SERVICE_PARTS)
        rows.append(
            [
                n,
                f"{step['offered_rps']:g}/s",
                *(cell(per_turn.get(name, 0.0)) for name in (*SERVICE_PARTS, *BENCH_PARTS)),
                cell(service),
            ]
        )
    headers = ["N", "step", *SERVICE_PARTS, *BENCH_PARTS, "service in all"]
    return md_tables.table(headers, rows) if rows else ["(no step held with its CPU measured)"]


def times(value: float | None) -> str:
    return "- (one process sustained no step)" if value is None else f"{value:g}x"


def scaling_line(results: dict[str, Any]) -> str:
    scale = results["scaling"]
    parts = [
        f"N={n}: sustainable {times(scale['sustainable_over_one'][n])}, "
        f"peak answered {times(scale['peak_answered_over_one'][n])}, "
        f"{scale['sustainable_per_process'][n]:g}/s sustainable per process"
        for n in results["topologies"]
    ]
    return "Against one process: " + "; ".join(parts) + "."


def section(results: dict[str, Any]) -> str:
    options, model = results["options"], results["fake_model"]
    kind = (
        f"**Quick smoke run** (`--quick`, {options['step_seconds']:g} s steps): it shows the bench runs end to "
        "end; its numbers are not a measurement."
        if results["quick"]
        else f"{options['step_seconds']:g} s steps, {options['sequential']} concurrency-1 pairs per topology."
    )
    lines = [
        START,
        f"Generated by `bench/topology.py` on {results['date']} (commit {results['commit']}), Python "
        f"{results['python']}, {results['cores']} cores, load average {results['load_before'][0]:.2f} before "
        f"and {results['load_after'][0]:.2f} after.",
        "",
        kind,
        "",
        f"Fake model: {model['ttft_s'] * 1000:g} ms to first token, then {model['tokens']} chunks "
        f"{model['token_delay_s'] * 1000:g} ms apart; its own ceiling (32 clients waiting for their answers): "
        f"{results['fake_model_ceiling_rps']:.0f} answers/s.",
        "",
        *summary_table(results),
        "",
        scaling_line(results),
        "",
        *steps_table(results),
        "",
        "CPU per answered turn at the sustainable rate, by part (/proc/<pid>/stat over the step; *other* is "
        "the kernel's threads and the rest of the machine):",
        "",
        *cpu_table(results),
        "",
        f"Refusal limit: {REFUSAL_LIMIT_MS:g} ms at p99. The 2x step runs {options.get('repeats', 1)} time(s); "
        "target 2 at 2x is met only if every run meets it. A step holds when nothing is refused or fails, at least "
        "98% of its requests are answered and its p99 added TTFT is under 1 s. *Machine busy* is the share of "
        "all cores in use during the step (/proc/stat); *load generator CPU* is the bench process's own, as a "
        "share of one core.",
        END,
    ]
    return "\n".join(lines)


def rewrite_doc(results: dict[str, Any]) -> None:
    replace_marked(DOC, START, END, section(results))
