"""The fuzz run's figures (requests, operations covered, time, failures with their curl) at the end."""

from __future__ import annotations

import pytest

from tests.fuzz.stats import RUNS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for stats in RUNS:
        path = stats.write()
        terminalreporter.section(f"OpenAPI fuzzing ({path})")
        terminalreporter.write_line(stats.summary())
