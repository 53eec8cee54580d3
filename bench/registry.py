"""The benchmark registry: a benchmark is a function registered under a name.

    @benchmark("queries", title="Query counts and server time", columns=[...])
    def queries(ctx: Context) -> Outcome:
        ...
        return Outcome(rows=[Row("detail", {"p95_ms": 12.3}, targets=[Target("p95_ms", "<", 20)])])

A benchmark never asserts: it measures and reports. Targets are compared when the table is
rendered, so a missed goal shows up as "no" in the table, never as a failed test.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


@dataclass
class Target:
    """A goal for one value of a row, e.g. ``Target("p95_ms", "<", 20)``."""

    key: str
    op: str
    limit: float
    unit: str = ""

    def met(self, value: Any) -> bool | None:
        """True or False when measured; None when the value is missing."""
        if not isinstance(value, int | float):
            return None
        return OPS[self.op](float(value), self.limit)

    def label(self, header: str = "") -> str:
        """E.g. ``p95 < 20 ms``."""
        unit = f" {self.unit}" if self.unit else ""
        return f"{header or self.key} {self.op} {self.limit:,g}{unit}"


@dataclass
class Row:
    """One measured case: its values keyed like the benchmark's columns, and its goals."""

    case: str
    values: dict[str, Any]
    targets: list[Target] = field(default_factory=list)
    note: str = ""

    def status(self) -> bool | None:
        """All goals met (True), one missed (False), or no goal / not measured (None)."""
        results = [t.met(self.values.get(t.key)) for t in self.targets]
        if not results or any(r is None for r in results):
            return None
        return all(results)


@dataclass
class Outcome:
    """What a benchmark returns: table rows, free-form details for the JSON file, notes."""

    rows: list[Row] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    available: bool = True

    @classmethod
    def unavailable(cls, reason: str) -> Outcome:
        """A benchmark that cannot run yet (e.g. a dependency is not built): said, not faked."""
        return cls(available=False, notes=[f"not yet available: {reason}"])

    def to_json(self) -> dict[str, Any]:
        return {
            "available": self.available,
            "rows": [
                {**asdict(r), "met": r.status()}  # the verdict, stored for readers of the JSON
                for r in self.rows
            ],
            "details": self.details,
            "notes": self.notes,
        }


@dataclass
class Context:
    """What a benchmark gets: where the dataset is and how to reach it."""

    engine: str  # "sqlite" or "postgres"
    size: str  # "small", "medium", "large" or a number
    customers: int  # customers in the dataset
    database_url: str
    env: dict[str, str]  # environment for subprocesses (database URL, var dir, rate limit off)
    repo: Path  # the source checkout (bench/ lives here)
    workdir: Path  # a scratch directory removed after the run
    duration: float = 30.0  # seconds of load per API phase
    samples: int = 200  # requests per case for the in-process measurements
    users: int = 16  # concurrent simulated clients for the API load
    seed: int = 42
    options: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)  # shared between benchmarks (tokens ...)


@dataclass
class Benchmark:
    """A registered benchmark."""

    name: str
    title: str
    func: Callable[[Context], Outcome]
    columns: list[tuple[str, str]]  # (value key, column header)
    order: int = 100


REGISTRY: dict[str, Benchmark] = {}


def benchmark(
    name: str, *, title: str, columns: list[tuple[str, str]], order: int = 100
) -> Callable[[Callable[[Context], Outcome]], Callable[[Context], Outcome]]:
    """Register ``func`` as the benchmark ``name`` (the name ``--only`` selects)."""

    def register(func: Callable[[Context], Outcome]) -> Callable[[Context], Outcome]:
        if name in REGISTRY and REGISTRY[name].func is not func:
            raise ValueError(f"benchmark {name!r} is registered twice")
        REGISTRY[name] = Benchmark(name, title, func, columns, order)
        return func

    return register


def registered() -> list[Benchmark]:
    """All benchmarks, in run order."""
    return sorted(REGISTRY.values(), key=lambda b: (b.order, b.name))
