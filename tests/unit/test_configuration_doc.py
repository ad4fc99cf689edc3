"""docs/configuration.md names every variable config/settings.py reads, and no other."""

from __future__ import annotations

import re

from tests.servers import ROOT


def variables_read() -> set[str]:
    source = (ROOT / "config" / "settings.py").read_text()
    body = source[source.index("def load_settings(") :]
    return set(re.findall(r'\(\s*e,\s*"([A-Z][A-Z0-9_]*)"', body))


def variables_documented() -> set[str]:
    documented = set()
    for line in (ROOT / "docs" / "configuration.md").read_text().splitlines():
        if line.startswith("| `"):
            first_cell = line.split("|")[1]
            documented.update(re.findall(r"`([A-Z][A-Z0-9_]*)`", first_cell))
    return documented


def test_the_configuration_table_matches_the_settings() -> None:
    read = variables_read()
    assert len(read) > 40  # the pattern still finds them
    assert sorted(read - variables_documented()) == []  # read, but not in the table
    assert sorted(variables_documented() - read) == []  # in the table, but never read
