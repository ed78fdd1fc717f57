"""bench/asgi_servers.py's numbers: per-repeat and pooled added times, the open-loop steps, the noise
each difference must pass, and the marked part of docs/performance.md."""

from __future__ import annotations

import json
import math
import statistics
from typing import Any

from bench import md_tables
from bench.side_by_side.arms import Samples
from bench.side_by_side.openloop import Step
from bench.side_by_side.report import ROOT, replace_marked
from bench.side_by_side.stats import percentile
from bench.side_by_side.summary import ms

RESULTS = ROOT / "bench" / "results" / "asgi_servers.json"
DOC = ROOT / "docs" / "performance.md"
START, END = "<!-- asgi-servers:start -->", "<!-- asgi-servers:end -->"
SERVERS = ("daphne", "uvicorn")
KINDS = ("/v1", "ws")


def p50(values: list[float]) -> float:
    return percentile(values, 0.5)


def repeat_summary(samples: dict[str, Samples], *, cpu_ms_per_request: dict[str, float]) -> dict[str, Any]:
    """One repeat: each arm's TTFT and its added time over D in this repeat (raw values kept for pooling)."""
    direct = samples["D"].ttft_ms
    arms = {}
    for name, arm in samples.items():
        arms[name] = {
            "ttft_p50_ms": ms(p50(arm.ttft_ms)),
            "ttft_p99_ms": ms(percentile(arm.ttft_ms, 0.99)),
            "added_p50_ms": ms(p50(arm.ttft_ms) - p50(direct)),
            "added_p99_ms": ms(percentile(arm.ttft_ms, 0.99) - percentile(direct, 0.99)),
            "raw": arm.ttft_ms,
        }
    return {"arms": arms, "cpu_ms_per_request": {k: round(v, 2) for k, v in cpu_ms_per_request.items()}}


def spread(values: list[float]) -> float:
    return round(max(values) - min(values), 2)


def phase_one(repeats: list[dict[str, Any]]) -> dict[str, Any]:
    """Pooled percentiles over every repeat, and per repeat the added p50 and p99 (their spread is the noise)."""
    names = list(repeats[0]["arms"])
    pooled = {name: [v for r in repeats for v in r["arms"][name].pop("raw")] for name in names}
    direct = pooled["D"]
    arms: dict[str, Any] = {}
    for name in names:
        per_repeat_p50 = [r["arms"][name]["added_p50_ms"] for r in repeats]
        per_repeat_p99 = [r["arms"][name]["added_p99_ms"] for r in repeats]
        arms[name] = {
            "requests": len(pooled[name]),
            "ttft_p50_ms": ms(p50(pooled[name])),
            "ttft_p99_ms": ms(percentile(pooled[name], 0.99)),
            "added_p50_ms": ms(p50(pooled[name]) - p50(direct)),
            "added_p99_ms": ms(percentile(pooled[name], 0.99) - percentile(direct, 0.99)),
            "added_p50_per_repeat_ms": per_repeat_p50,
            "added_p99_per_repeat_ms": per_repeat_p99,
            "added_p50_spread_ms": spread(per_repeat_p50),
            "added_p99_spread_ms": spread(per_repeat_p99),
        }
    cpu = {server: [r["cpu_ms_per_request"][server] for r in repeats] for server in SERVERS}
    return {"arms": arms, "cpu_ms_per_request_per_repeat": cpu, "repeats": repeats}


def step_row(
    step: Step, *, pass_number: int, ok: bool, below_knee: bool, cpu_ms: float, baseline: float
) -> dict[str, Any]:
    answered = len(step.ttft_ms)
    return {
        "server": step.arm,
        "pass": pass_number,
        "offered_rps": step.rate,
        "sent": step.sent,
        "answered": answered,
        "answered_rps": round(answered / step.elapsed, 2) if step.elapsed else 0.0,
        "errors": dict(step.errors),
        "ttft_p50_ms": ms(step.p(0.5)),
        "ttft_p99_ms": ms(step.p(0.99)),
        "added_p99_ms": ms(step.p(0.99) - baseline),
        "cpu_ms_per_answer": round(cpu_ms / answered, 2) if answered else None,
        "cpu_share": round(cpu_ms / 1000 / step.elapsed, 3) if step.elapsed else None,
        "passed": ok,
        "below_knee": below_knee,
    }


def sustainable(rows: list[dict[str, Any]], server: str, pass_number: int, *, key: str = "passed") -> int:
    """The highest offered rate this server passed (`key`) in this pass, every lower one passed too (0: none)."""
    best = 0
    for row in sorted(
        (r for r in rows if r["server"] == server and r["pass"] == pass_number), key=lambda r: r["offered_rps"]
    ):
        if not row[key]:
            break
        best = row["offered_rps"]
    return best


def phase_two(rows: list[dict[str, Any]], *, baseline_ms: float, threshold_ms: float, knee_ms: float) -> dict[str, Any]:
    passes = sorted({row["pass"] for row in rows})
    rates = {server: [sustainable(rows, server, n) for n in passes] for server in SERVERS}
    knees = {server: [sustainable(rows, server, n, key="below_knee") for n in passes] for server in SERVERS}
    # CPU per answer where both servers stayed below the knee at the same rate: neither one queueing.
    shared = [
        (r["offered_rps"], r["pass"])
        for r in rows
        if r["server"] == "daphne"
        and r["below_knee"]
        and any(
            o["server"] == "uvicorn"
            and o["below_knee"]
            and (o["offered_rps"], o["pass"]) == (r["offered_rps"], r["pass"])
            for o in rows
        )
    ]
    cpu = {
        server: [
            r["cpu_ms_per_answer"] for r in rows if r["server"] == server and (r["offered_rps"], r["pass"]) in shared
        ]
        for server in SERVERS
    }
    return {
        "baseline_ms": ms(baseline_ms),
        "threshold_ms": threshold_ms,
        "knee_ms": knee_ms,
        "steps": rows,
        "sustainable_rps_per_pass": rates,
        "knee_rps_per_pass": knees,
        "cpu_ms_per_answer_where_both_passed": cpu,
    }


def compare(daphne: list[float], uvicorn: list[float], *, lower_is_better: bool = True) -> dict[str, Any]:
    """A clear winner is better in every repeat, by more on average than either server's own spread across repeats."""
    noise = max(spread(daphne), spread(uvicorn))
    differences = [u - d for d, u in zip(daphne, uvicorn, strict=True)]
    mean = statistics.fmean(differences)
    sign = -1 if lower_is_better else 1
    if all(sign * d > 0 for d in differences) and abs(mean) > noise:
        winner = "uvicorn"
    elif all(sign * d < 0 for d in differences) and abs(mean) > noise:
        winner = "daphne"
    else:
        winner = "tie"
    rounded = [round(d, 2) for d in differences]
    return {"uvicorn_minus_daphne": round(mean, 2), "per_repeat": rounded, "noise": noise, "winner": winner}


def verdict(results: dict[str, Any]) -> dict[str, Any]:
    arms, two = results["phase1"]["arms"], results["phase2"]
    metrics = {}
    for kind in KINDS:
        for stat in ("p50", "p99"):
            key = f"added_{stat}_per_repeat_ms"
            metrics[f"{kind} added {stat}"] = compare(arms[f"daphne {kind}"][key], arms[f"uvicorn {kind}"][key])
    cpu = results["phase1"]["cpu_ms_per_request_per_repeat"]
    metrics["CPU per request, concurrency 1"] = compare(cpu["daphne"], cpu["uvicorn"])
    for name, key in (("sustainable rate", "sustainable_rps_per_pass"), ("knee rate", "knee_rps_per_pass")):
        rates = two[key]
        metrics[name] = compare(rates["daphne"], rates["uvicorn"], lower_is_better=False)
    winners = {m["winner"] for m in metrics.values()} - {"tie"}
    overall = winners.pop() if len(winners) == 1 else "tie" if not winners else "mixed"
    return {"metrics": metrics, "overall": overall}


def write_json(results: dict[str, Any]) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


def cell(value: Any, suffix: str = " ms") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.1f}{suffix}" if isinstance(value, float) else f"{value}{suffix}"


def listing(values: list[Any], suffix: str = "") -> str:
    return ", ".join(cell(v, suffix) for v in values)


def phase_one_table(results: dict[str, Any]) -> list[str]:
    headers = ["arm", "TTFT p50", "TTFT p99", "added p50", "added p99", "added p50 per repeat", "added p99 per repeat"]
    rows = [
        [
            name,
            cell(arm["ttft_p50_ms"]),
            cell(arm["ttft_p99_ms"]),
            cell(arm["added_p50_ms"]),
            cell(arm["added_p99_ms"]),
            listing(arm["added_p50_per_repeat_ms"]),
            listing(arm["added_p99_per_repeat_ms"]),
        ]
        for name, arm in results["phase1"]["arms"].items()
    ]
    return md_tables.table(headers, rows)


def phase_two_table(results: dict[str, Any]) -> list[str]:
    headers = [
        "pass",
        "server",
        "offered",
        "answered",
        "errors",
        "TTFT p50",
        "TTFT p99",
        "added p99",
        "CPU per answer",
        "CPU busy",
        "within",
        "below knee",
    ]
    rows = [
        [
            row["pass"],
            row["server"],
            f"{row['offered_rps']}/s",
            f"{row['answered_rps']:.1f}/s",
            md_tables.counts(row["errors"]),
            cell(row["ttft_p50_ms"]),
            cell(row["ttft_p99_ms"]),
            cell(row["added_p99_ms"]),
            cell(row["cpu_ms_per_answer"]),
            "-" if row["cpu_share"] is None else f"{row['cpu_share'] * 100:.0f}%",
            md_tables.yes_no(row["passed"]),
            md_tables.yes_no(row["below_knee"]),
        ]
        for row in results["phase2"]["steps"]
    ]
    return md_tables.table(headers, rows)


def verdict_lines(results: dict[str, Any]) -> list[str]:
    headers = [
        "measure",
        "uvicorn minus daphne: mean",
        "each repeat",
        "noise (a server's largest spread across repeats)",
        "clearer",
    ]
    rows = []
    for name, metric in results["verdict"]["metrics"].items():
        unit = "/s" if name.endswith("rate") else " ms"
        rows.append(
            [
                name,
                cell(metric["uvicorn_minus_daphne"], unit),
                listing(metric["per_repeat"]),
                cell(metric["noise"], unit),
                metric["winner"],
            ]
        )
    return md_tables.table(headers, rows)


def memory_line(results: dict[str, Any]) -> str:
    parts = []
    for server in SERVERS:
        memory = results["memory"][server]
        mb = {key: value / 1024 for key, value in memory.items()}
        parts.append(
            f"{server} {mb['rss_after_start_kb']:.0f} MB after start, {mb['rss_after_phase1_kb']:.0f} MB after "
            f"phase 1, {mb['rss_end_kb']:.0f} MB at the end, peak {mb['rss_peak_kb']:.0f} MB"
        )
    return "Resident memory: " + "; ".join(parts) + "."


def section(results: dict[str, Any]) -> str:
    options, one, two, versions = results["options"], results["phase1"], results["phase2"], results["versions"]
    kind = (
        "**Quick smoke run** (`--quick`): it shows the bench runs end to end; its numbers are not a measurement."
        if results["quick"]
        else f"{options['repeats']} repeats of {options['rounds']} rounds (after {options['warmup']} warm-up rounds "
        f"each); phase 2 in {options['passes']} passes of {options['step_seconds']:.0f} s steps."
    )
    cpu = one["cpu_ms_per_request_per_repeat"]
    both = two["cpu_ms_per_answer_where_both_passed"]
    rates, knees = two["sustainable_rps_per_pass"], two["knee_rps_per_pass"]
    lines = [
        START,
        f"Generated by `bench/asgi_servers.py` on {results['date']} (commit {results['commit']}), Python "
        f"{results['python']}, daphne {versions['daphne']} (Twisted {versions['twisted']}), uvicorn "
        f"{versions['uvicorn']} (uvloop {versions['uvloop']}, httptools {versions['httptools']}, websockets "
        f"{versions['websockets']}), load average {results['load_before'][0]:.2f} before and "
        f"{results['load_after'][0]:.2f} after, {results['cores']} cores.",
        "",
        kind,
        "",
        "Phase 1, concurrency 1 (added = arm minus D; pooled over the repeats, then each repeat's own):",
        "",
        *phase_one_table(results),
        "",
        f"CPU per request at concurrency 1 (each repeat; /v1 calls and websocket turns together): daphne "
        f"{listing(cpu['daphne'], ' ms')}; uvicorn {listing(cpu['uvicorn'], ' ms')}.",
        "",
        *phase_two_table(results),
        "",
        f"Phase 2 adds to D's {cell(two['baseline_ms'])} (p50, one request at a time, same client). Sustainable "
        f"rate per pass (every step up to it within {two['threshold_ms']:.0f} ms p99 added, no errors): "
        f"daphne {listing(rates['daphne'], '/s')}; uvicorn {listing(rates['uvicorn'], '/s')}. Knee per pass (the "
        f"same within {two['knee_ms']:.0f} ms): daphne {listing(knees['daphne'], '/s')}; uvicorn "
        f"{listing(knees['uvicorn'], '/s')}. CPU per answer at the rates both kept below the knee: "
        f"daphne {listing(both['daphne'], ' ms')}; "
        f"uvicorn {listing(both['uvicorn'], ' ms')}.",
        "",
        memory_line(results),
        "",
        *verdict_lines(results),
        "",
        f"Overall: {results['verdict']['overall']} (a measure counts only when one server is better in every "
        "repeat, by more than the noise).",
        END,
    ]
    return "\n".join(lines)


def rewrite_doc(results: dict[str, Any]) -> None:
    replace_marked(DOC, START, END, section(results))
