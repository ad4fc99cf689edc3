"""Reading a Prometheus scrape the way Prometheus does: prometheus-client's own text parser."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(body: str) -> tuple[set[str], Samples]:
    """The family names and every sample (name, labels) -> value of an exposition."""
    names: set[str] = set()
    samples: Samples = {}
    for family in text_string_to_metric_families(body):
        names.add(family.name)
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return names, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """A sample's value (0 when the scrape does not have it)."""
    return samples.get((name, frozenset(labels.items())), 0.0)
