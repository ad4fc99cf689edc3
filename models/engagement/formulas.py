"""Derived figures: each named, with its formula written out and a version.

They are computed from the raw rollups whenever a dashboard is read, never stored: changing a
formula means a new version here, and every answer from then on is computed by the new one
(the version is part of the dashboard cache's key), so no figure mixes the two.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Ratio:
    """sum(numerator metrics) / sum(denominator metrics), over the same points."""

    name: str
    version: int
    numerator: tuple[str, ...]
    denominator: tuple[str, ...]

    @property
    def formula(self) -> str:
        return f"({' + '.join(self.numerator)}) / {' + '.join(self.denominator)}"

    @property
    def inputs(self) -> tuple[str, ...]:
        return self.numerator + self.denominator

    def of(self, totals: dict[str, float]) -> float | None:
        """The figure from each metric's total; None when the denominator is 0 (no views)."""
        below = sum(totals.get(m, 0.0) for m in self.denominator)
        if not below:
            return None
        return round(sum(totals.get(m, 0.0) for m in self.numerator) / below, 6)


ENGAGEMENT_RATE = Ratio(
    name="engagement_rate",
    version=1,
    numerator=("likes", "comments", "shares"),
    denominator=("views",),
)
DERIVED = (ENGAGEMENT_RATE,)
# Part of the dashboard cache's key: a new version of any formula misses every cached answer.
DERIVED_VERSIONS = ",".join(f"{d.name}@{d.version}" for d in DERIVED)
