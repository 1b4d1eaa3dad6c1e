"""One `mno run` per fault module; the fault table at the end. The full profile (`faults_full`) runs
only when selected by marker (tests/conftest.py, `make test-faults`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.report import RESULTS, table, write_json
from tests.fixtures.supervised import supervised_run
from tests.test_make_run import MakeRun


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not RESULTS:
        return
    profile = "+".join(sorted({result.profile for result in RESULTS}))
    path = write_json(RESULTS, profile)
    terminalreporter.section(f"fault table ({profile}; {path})")
    terminalreporter.write_line(table(RESULTS))


@pytest.fixture(scope="module")
def faults_run() -> Iterator[MakeRun]:
    """`mno run` on a fresh data dir and free ports, shared by the faults of one module in turn."""
    with supervised_run("mno-faults-") as run:
        yield run
