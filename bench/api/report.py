"""The tables run.py prints: figures per target, CPU per request, and the issue's ratios.

Every figure is the median over the rounds with the smallest and largest beside it. A
ratio between two targets is taken round by round (both ran in the same round, under the
same noise) and then summarised the same way. Pure functions over the samples.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Figures:
    """What wrk printed for one run."""

    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: str
    requests: int = 0  # the total wrk made in the run


@dataclass(frozen=True, slots=True)
class CpuUse:
    """CPU seconds spent during one wrk run, by whom; None where it cannot be told."""

    wall_s: float
    server_s: float
    server_cores_busy_s: float  # everything the server cores did: ours, the kernel's, other people's
    client_cores_busy_s: float
    redis_s: float | None = None  # used_cpu_sys + used_cpu_user of a private Redis
    script_calls: int | None = None  # EVALSHA (and friends) calls, from INFO commandstats
    script_usec: int | None = None  # the time Redis spent in them, from INFO commandstats
    postgres_s: float | None = None  # a private cluster's postmaster and backends


@dataclass(frozen=True, slots=True)
class Sample:
    round: int
    target: str
    connections: int
    figures: Figures
    load: float  # 1-minute load average just before the run
    cpu: CpuUse


@dataclass(frozen=True, slots=True)
class Goal:
    """One of the issue's targets: a figure, how it is computed per round, and its bound."""

    label: str
    unit: str
    compute: Callable[[dict[tuple[str, int], Sample]], float | None]
    bound: float | None = None
    at_least: bool = True


def figures_table(samples: Sequence[Sample], names: dict[str, str]) -> list[str]:
    lines = [
        "| target | conns | req/s | p50 ms | p99 ms | load (1 min) | errors |",
        "|---|---:|---|---|---|---|---|",
    ]
    for (target, connections), runs in _groups(samples):
        errors = "; ".join(sorted({run.figures.errors for run in runs if run.figures.errors}))
        lines.append(
            f"| {names[target]} | {connections} "
            f"| {spread([run.figures.requests_per_second for run in runs], '{:,.0f}')} "
            f"| {spread([run.figures.p50_ms for run in runs], '{:.3f}')} "
            f"| {spread([run.figures.p99_ms for run in runs], '{:.2f}')} "
            f"| {spread([run.load for run in runs], '{:.1f}')} | {errors} |"
        )
    return lines


def cpu_table(
    samples: Sequence[Sample], names: dict[str, str], server_cores: int, client_cores: int
) -> list[str]:
    lines = [
        "| target | conns | server µs/req | Redis µs/req (used_cpu) | read script µs/call (commandstats) "
        "| script calls/req | PostgreSQL µs/req | server cores busy | wrk core busy |",
        "|---|---:|---|---|---|---|---|---|---|",
    ]
    for (target, connections), runs in _groups(samples):
        lines.append(
            f"| {names[target]} | {connections} "
            f"| {spread(_per_request(runs, lambda cpu: cpu.server_s), '{:,.0f}')} "
            f"| {spread(_per_request(runs, lambda cpu: cpu.redis_s), '{:.1f}')} "
            f"| {spread(_script_per_call(runs), '{:.1f}')} "
            f"| {spread(_script_calls_per_request(runs), '{:.2f}')} "
            f"| {spread(_per_request(runs, lambda cpu: cpu.postgres_s), '{:,.0f}')} "
            f"| {spread(_busy(runs, lambda cpu: cpu.server_cores_busy_s, server_cores), '{:.0f}', ' %')} "
            f"| {spread(_busy(runs, lambda cpu: cpu.client_cores_busy_s, client_cores), '{:.0f}', ' %')} |"
        )
    return lines


def goals_table(samples: Sequence[Sample], goals: Sequence[Goal]) -> list[str]:
    rounds: dict[int, dict[tuple[str, int], Sample]] = {}
    for sample in samples:
        rounds.setdefault(sample.round, {})[(sample.target, sample.connections)] = sample
    lines = ["| figure | median (min–max over rounds) | target | met |", "|---|---|---|---|"]
    for goal in goals:
        values = [value for runs in rounds.values() if (value := goal.compute(runs)) is not None]
        if not values:
            continue
        fmt = "{:.1f}" if goal.unit == "%" else "{:.2f}"
        if goal.bound is None:
            bound, met = "", ""
        else:
            median = statistics.median(values)
            bound = f"{'≥' if goal.at_least else '≤'} {goal.bound:g} {goal.unit}"
            met = "yes" if (median >= goal.bound if goal.at_least else median <= goal.bound) else "**no**"
        lines.append(f"| {goal.label} | {spread(values, fmt, f' {goal.unit}')} | {bound} | {met} |")
    return lines


def issue_goals() -> list[Goal]:
    """The figures the read path's targets are stated in (None where the targets were not measured)."""

    def rate(runs: dict[tuple[str, int], Sample], target: str, connections: int) -> float | None:
        run = runs.get((target, connections))
        return None if run is None else run.figures.requests_per_second

    def ratio(top: str, bottom: str, connections: int, scale: float = 1.0) -> Callable[..., float | None]:
        def compute(runs: dict[tuple[str, int], Sample]) -> float | None:
            high, low = rate(runs, top, connections), rate(runs, bottom, connections)
            return None if high is None or not low else scale * high / low

        return compute

    def latency(target: str, connections: int, p99: bool) -> Callable[..., float | None]:
        def compute(runs: dict[tuple[str, int], Sample]) -> float | None:
            run = runs.get((target, connections))
            return None if run is None else (run.figures.p99_ms if p99 else run.figures.p50_ms)

        return compute

    def redis_used(runs: dict[tuple[str, int], Sample]) -> float | None:
        values = _per_request([run] if (run := runs.get(("list", 64))) else [], lambda cpu: cpu.redis_s)
        return values[0] if values else None

    def script(runs: dict[tuple[str, int], Sample]) -> float | None:
        values = _script_per_call([run] if (run := runs.get(("list", 64))) else [])
        return values[0] if values else None

    return [
        Goal("list page 1 ÷ hello ceiling, req/s at 64 conns", "%", ratio("list", "hello", 64, 100.0), 15),
        Goal("list page 1 ÷ Dify-style reference, req/s at 64 conns", "×", ratio("list", "dify", 64), 50),
        Goal("list page 1 ÷ Dify-style reference, req/s at 1 conn", "×", ratio("list", "dify", 1)),
        Goal("list page 1, p50 at 1 conn", "ms", latency("list", 1, p99=False), 0.25, at_least=False),
        Goal("list page 1, p99 at 64 conns", "ms", latency("list", 64, p99=True), 20, at_least=False),
        Goal("Redis CPU per list request at 64 conns, used_cpu ÷ requests", "µs", redis_used, 40, False),
        Goal("Redis CPU per list request at 64 conns, read script µs/call", "µs", script, 40, False),
        Goal("list with the rate limit on ÷ off, req/s at 64 conns", "×", ratio("list-limited", "list", 64)),
        Goal("list with the rate limit on ÷ off, req/s at 1 conn", "×", ratio("list-limited", "list", 1)),
        Goal("describe ÷ list page 1, req/s at 64 conns", "×", ratio("describe", "list", 64), 1),
        Goal("describe ÷ list page 1, req/s at 1 conn", "×", ratio("describe", "list", 1), 1),
        Goal("sessions ÷ list page 1, req/s at 64 conns", "×", ratio("sessions", "list", 64), 1),
        Goal("sessions ÷ list page 1, req/s at 1 conn", "×", ratio("sessions", "list", 1), 1),
    ]


def spread(values: Sequence[float], fmt: str, unit: str = "") -> str:
    """`median<unit> (min-max)` (an en dash in the output), or the one value, or empty when
    there is none."""
    if not values:
        return ""
    median = fmt.format(statistics.median(values)) + unit
    if len(values) == 1:
        return median
    return f"{median} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def _groups(samples: Iterable[Sample]) -> list[tuple[tuple[str, int], list[Sample]]]:
    """Samples by (target, connections), in the order each first ran."""
    groups: dict[tuple[str, int], list[Sample]] = {}
    for sample in samples:
        groups.setdefault((sample.target, sample.connections), []).append(sample)
    return list(groups.items())


def _per_request(runs: Iterable[Sample], seconds: Callable[[CpuUse], float | None]) -> list[float]:
    """µs of CPU per request, for the runs where the CPU was measured and requests were made."""
    return [
        1e6 * spent / run.figures.requests
        for run in runs
        if (spent := seconds(run.cpu)) is not None and run.figures.requests
    ]


def _busy(runs: Iterable[Sample], seconds: Callable[[CpuUse], float], cores: int) -> list[float]:
    """How busy `cores` cores were during each run, in % of what they could give."""
    return [100 * seconds(run.cpu) / run.cpu.wall_s / cores for run in runs]


def _script_per_call(runs: Iterable[Sample]) -> list[float]:
    return [
        run.cpu.script_usec / run.cpu.script_calls
        for run in runs
        if run.cpu.script_usec is not None and run.cpu.script_calls
    ]


def _script_calls_per_request(runs: Iterable[Sample]) -> list[float]:
    return [
        run.cpu.script_calls / run.figures.requests
        for run in runs
        if run.cpu.script_calls is not None and run.figures.requests
    ]
