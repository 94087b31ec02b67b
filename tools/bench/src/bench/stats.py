"""Latency samples and their percentiles, and the counting of answers into "ok", "expected" and
errors by kind. Pure functions: the unit tests pin them down."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """The nearest-rank percentile of already sorted values (p in 0..100): the smallest value that
    at least p% of the samples are less than or equal to. That is what HdrHistogram and wrk report,
    and it is always a value that was measured (no interpolation between two samples)."""
    if not sorted_values:
        return math.nan
    if not 0 <= p <= 100:
        raise ValueError(f"percentile must be within 0..100, not {p}")
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass(frozen=True)
class Latency:
    """Milliseconds."""

    count: int
    p50: float
    p95: float
    p99: float
    max: float
    mean: float

    @classmethod
    def of(cls, samples_ms: Iterable[float]) -> Latency:
        values = sorted(samples_ms)
        if not values:
            return cls(0, math.nan, math.nan, math.nan, math.nan, math.nan)
        return cls(
            len(values),
            percentile(values, 50),
            percentile(values, 95),
            percentile(values, 99),
            values[-1],
            sum(values) / len(values),
        )

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass
class Answers:
    """What the load generator got back. `expected` statuses are answers the scenario counts as
    correct (a 409 COUPON_SOLD_OUT in a flood); everything else that is not 2xx is an error, kept by
    kind: the status code, or a transport failure (connect, read, write, timeout)."""

    statuses: Counter[int] = field(default_factory=Counter)
    transport: Counter[str] = field(default_factory=Counter)

    def add_status(self, status: int, n: int = 1) -> None:
        self.statuses[status] += n

    def add_transport(self, kind: str, n: int = 1) -> None:
        if n:
            self.transport[kind] += n

    def merge(self, other: Answers) -> None:
        self.statuses.update(other.statuses)
        self.transport.update(other.transport)

    @property
    def total(self) -> int:
        return sum(self.statuses.values()) + sum(self.transport.values())

    def ok(self, expected: Iterable[int] = ()) -> int:
        allowed = set(expected)
        return sum(n for s, n in self.statuses.items() if 200 <= s < 300 or s in allowed)

    def errors(self, expected: Iterable[int] = ()) -> dict[str, int]:
        """Errors by kind, e.g. {"500": 3, "timeout": 1}; an expected status is not an error."""
        allowed = set(expected)
        found = {str(s): n for s, n in sorted(self.statuses.items()) if not (200 <= s < 300 or s in allowed)}
        found.update({k: n for k, n in sorted(self.transport.items()) if n})
        return found

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {
            "statuses": {str(s): n for s, n in sorted(self.statuses.items())},
            "transport": dict(sorted(self.transport.items())),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Mapping[str, int]]) -> Answers:
        answers = cls()
        for status, n in data.get("statuses", {}).items():
            answers.add_status(int(status), int(n))
        for kind, n in data.get("transport", {}).items():
            answers.add_transport(kind, int(n))
        return answers


def format_errors(errors: Mapping[str, int]) -> str:
    """{"500": 3, "timeout": 1} -> "500:3 timeout:1"; no errors -> "-"."""
    return " ".join(f"{kind}:{n}" for kind, n in errors.items()) or "-"
