"""Draw phase 2 (p99 added time to first token against offered rate, one line per arm) as a PNG.

Run by the bench with the python of its own virtualenv, where matplotlib lives (the project
does not depend on it): `python chart.py <results.json> <chart.png>`. Imports nothing of the project.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

LABELS = {"F": "F pass-through (aiohttp)", "L": "L LiteLLM proxy", "O": "O ChatPresets /v1"}


def draw(results: dict, out: Path) -> None:
    phase = results["phase2"]
    figure, axes = plt.subplots(figsize=(7, 4.2), dpi=110)
    for arm in sorted({row["arm"] for row in phase["steps"]}):
        rows = sorted((r for r in phase["steps"] if r["arm"] == arm), key=lambda r: r["offered_rps"])
        axes.plot(
            [r["offered_rps"] for r in rows],
            [r["added_p99_ms"] for r in rows],
            marker="o",
            label=f"{LABELS.get(arm, arm)}: {phase['sustainable_rps'][arm]} rps",
        )
    axes.axhline(phase["threshold_ms"], color="grey", linestyle="--", linewidth=1, label="threshold")
    axes.set_ylim(bottom=0)
    axes.set_xlabel("offered rate (requests/s, open loop)")
    axes.set_ylabel("p99 added time to first token (ms)")
    kind = "QUICK SMOKE RUN, not a measurement" if results["quick"] else "full run"
    axes.set_title(f"Added latency over the model, {results['date'][:10]} ({kind})", fontsize=10)
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out)


if __name__ == "__main__":
    draw(json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2]))
