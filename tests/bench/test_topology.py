"""The topology bench's rules: what a sustainable step is, where the step-up stops, target 2, scaling."""

from __future__ import annotations

import time
from typing import Any

from bench.topology_parts import cpu, report, rules
from bench.topology_parts.load import Step, error_code


def step(rate: float, *, p99: float | None = 50.0, refused: int = 0, errors: int = 0, answered: int | None = None):
    sent = int(rate * 10)
    return {
        "offered_rps": rate,
        "seconds": 10.0,
        "sent": sent,
        "answered": sent - refused - errors if answered is None else answered,
        "answered_rps": rate,
        "refused": refused,
        "refusal_codes": {"overloaded": refused} if refused else {},
        "errors": {"ClientTimeout": errors} if errors else {},
        "added_p50_ms": p99,
        "added_p99_ms": p99,
        "refusal_p50_ms": 5.0 if refused else None,
        "refusal_p99_ms": 8.0 if refused else None,
    }


def test_the_sustainable_rate_is_the_last_step_that_held_with_every_lower_one_holding() -> None:
    steps = [step(5), step(10), step(15, p99=1200.0), step(20)]
    assert rules.sustainable(steps) == 10
    assert rules.sustainable([step(5, refused=1), step(10)]) == 0


def test_a_step_with_a_refusal_an_error_or_fewer_than_98_percent_answered_does_not_hold() -> None:
    assert rules.holds(step(10))
    assert not rules.holds(step(10, refused=1))
    assert not rules.holds(step(10, errors=1))
    assert not rules.holds(step(100, answered=979))  # 1,000 sent
    assert rules.holds(step(100, answered=980))
    assert not rules.holds(step(10, p99=None))


def test_the_step_up_stops_once_enough_steps_failed_to_hold() -> None:
    steps = [step(5), step(10, p99=1500.0)]
    assert not rules.should_stop(steps, past_knee=2)
    assert rules.should_stop([*steps, step(15, refused=3)], past_knee=2)


def test_target_two_compares_with_three_times_the_concurrency_one_p99() -> None:
    met = rules.targets(20.0, step(8, p99=59.0), [step(20, p99=60.0, refused=40)])
    assert met["ttft_bound_ms"] == 60.0
    assert met["below_ttft_within_bound"]
    assert met["above_ttft_within_bound"]
    assert met["above_refused_any"]
    assert met["above_refusal_within_limit"]
    missed = rules.targets(20.0, step(8, p99=61.0), [step(20, p99=900.0)])
    assert missed["below_ttft_within_bound"] is False
    assert missed["above_refused_any"] is False  # latency grew instead of the excess being refused
    unmeasured = rules.targets(20.0, None, [])
    assert unmeasured["below_ttft_within_bound"] is None
    assert unmeasured["above_ttft_within_bound"] is None


def test_at_2x_every_run_must_meet_the_bound() -> None:
    runs = [step(20, p99=55.0, refused=40), step(20, p99=64.0, refused=40), step(20, p99=58.0, refused=40)]
    goal = rules.targets(20.0, step(8), runs)
    assert goal["above_ttft_met"] == [True, False, True]
    assert goal["above_ttft_within_bound"] is False
    assert rules.targets(20.0, step(8), [runs[0], runs[2]])["above_ttft_within_bound"] is True
    assert rules.targets(20.0, step(8), [runs[0], step(20, p99=None)])["above_ttft_within_bound"] is None
    one_refused_nothing = rules.targets(20.0, step(8), [runs[0], step(20, p99=40.0)])
    assert one_refused_nothing["above_refused_any"] is False


def test_a_row_subtracts_the_model_alone_and_rates_answers_over_the_whole_step() -> None:
    measured = Step(10, 2.0, sent=20, ttft_ms=[30.0] * 18, refusal_ms=[4.0, 6.0], elapsed=2.5)
    row = rules.row(measured, baseline_ms=20.0)
    assert (row["added_p50_ms"], row["added_p99_ms"], row["answered_rps"]) == (10.0, 10.0, 7.2)
    assert (row["refused"], row["refusal_p99_ms"]) == (2, 6.0)


def test_scaling_is_over_one_process_and_the_report_names_every_topology() -> None:
    scale = rules.scaling({1: 20.0, 2: 30.0, 4: 30.0}, {1: 25.0, 2: 40.0, 4: 38.0})
    assert scale["sustainable_over_one"] == {"1": 1.0, "2": 1.5, "4": 1.5}
    assert scale["sustainable_per_process"] == {"1": 20.0, "2": 15.0, "4": 7.5}
    topology: dict[str, Any] = {
        "concurrency_one": {"direct_ttft_p50_ms": 21.0, "added_p50_ms": 10.0, "added_p99_ms": 20.0},
        "steps": [
            step(10) | {"cpu_ms_per_s": {"web": 210, "postgresql": 15, "load generator": 60}},
            step(20, p99=1500.0),
        ],
        "sustainable_rps": 10,
        "knee_reached": True,
        "load_average": [1.0, 1.5],
        "peak_answered_rps": 20.0,
        "at_80_percent": step(8),
        "at_2x": [step(20, refused=30) | {"machine_busy_percent": 97.5, "load_generator_cpu_percent": 41.0}],
        "targets": rules.targets(20.0, step(8), [step(20, refused=30)]),
    }
    repeated = topology | {
        "at_2x": [step(20, p99=55.0, refused=30), step(20, p99=70.0, refused=30)],
        "targets": rules.targets(20.0, step(8), [step(20, p99=55.0, refused=30), step(20, p99=70.0, refused=30)]),
    }
    results = {
        "quick": True,
        "date": "2026-12-02 18:00 UTC",
        "commit": "abc1234",
        "python": "3.11",
        "cores": 2,
        "load_before": [1.0],
        "load_after": [2.0],
        "fake_model": {"ttft_s": 0.02, "tokens": 20, "token_delay_s": 0.01},
        "fake_model_ceiling_rps": 120.0,
        "options": {"step_seconds": 3.0, "sequential": 20},
        "topologies": {"1": topology, "2": topology, "4": repeated},
        "scaling": rules.scaling({1: 10, 2: 10, 4: 10}, {1: 20.0, 2: 20.0, 4: 20.0}),
    }
    text = report.section(results)
    assert text.startswith(report.START)
    assert text.endswith(report.END)
    assert "| 2 | 2x | 20/s |" in text
    assert "| 97.5% | 41.0% | no |" in text  # the 2x step's machine and load generator CPU
    assert "| - | - | yes |" in text  # a step measured without them
    assert "N=2: sustainable 1x" in text
    assert "| 4 | 2x, run 2 | 20/s |" in text
    assert "55.0, 70.0 ms (**not met**; met in 1 of 2)" in text
    # 210 ms of the web processes' CPU a second over 10 answers a second: 21 ms a turn
    assert (
        "| 1 | 10/s | 21.0 ms | 0.0 ms | 1.5 ms | 0.0 ms | 0.0 ms | 0.0 ms | 0.0 ms | 6.0 ms | 0.0 ms | 22.5 ms |"
        in text
    )


def test_a_refusal_is_counted_by_its_code_and_reason() -> None:
    body = b'{"error": {"code": "overloaded", "details": {"reason": "admission_limit", "retry_after": 2}}}'
    assert error_code(body) == "overloaded/admission_limit"
    assert error_code(b'{"error": {"code": "service_unavailable", "details": {}}}') == "service_unavailable"
    assert error_code(b"<html>Bad Gateway</html>") == "?"


def test_the_cpu_meter_sees_the_load_generators_own_work_and_the_machines() -> None:
    with cpu.measured() as usage:
        ends = time.process_time() + 0.2
        while time.process_time() < ends:  # a fifth of a second of this process's CPU, nothing else
            pass
    own, machine = usage["load_generator_cpu_percent"], usage["machine_busy_percent"]
    assert own is not None
    assert 10 <= own <= 105, own  # all of one core at best; less when the machine is shared
    assert machine is not None
    assert 0 < machine <= 100, machine
    # the same CPU read from /proc/<pid>/stat, in ticks of 10 ms: within two ticks over the 0.2 s
    assert abs(usage["cpu_ms_per_s"]["load generator"] - 10 * own) <= 150, (usage["cpu_ms_per_s"], own)


def test_each_process_counts_for_its_part_of_the_topology() -> None:
    assert (
        cpu.part("/srv/.venv/bin/python /srv/.venv/bin/daphne -b 127.0.0.1 -p 8001 chatpresets.asgi:application")
        == "web"
    )
    assert cpu.part("postgres: 15/main: postgres chatpresets 127.0.0.1(5432) idle") == "postgresql"
    assert cpu.part("nginx: worker process") == "nginx"
    assert cpu.part("/usr/bin/python3 -m celery -A chatpresets worker -Q summaries") == "celery"
    assert cpu.part("/usr/lib/erlang/erts-13.1.5/bin/beam.smp -W w -- -s rabbit boot") == "rabbitmq"
    assert cpu.part("") == "other"  # a kernel thread


def test_a_process_that_started_during_a_step_counts_whole_and_one_that_ended_not_at_all() -> None:
    before = {1: ("web", 10.0), 2: ("web", 5.0), 3: ("redis", 1.0)}
    after = {1: ("web", 10.5), 3: ("redis", 1.25), 4: ("web", 0.5)}  # 2 ended, 4 started
    assert cpu.parts_used(before, after) == {"web": 1.0, "redis": 0.25}
    # a reused pid is a new process
    assert cpu.parts_used({5: ("celery", 9.0)}, {5: ("web", 0.5)}) == {"web": 0.5}
