"""One `mno run` per fault module; the long profile only when asked for; the fault table at the end."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.report import RESULTS, table, write_json
from tests.fixtures.supervised import supervised_run
from tests.test_make_run import MakeRun

FULL = "faults_full"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The full fault suite (minutes) runs only when selected by marker (`make test-faults`)."""
    if config.getoption("markexpr"):
        return
    long_ones = [item for item in items if item.get_closest_marker(FULL)]
    if long_ones:
        config.hook.pytest_deselected(items=long_ones)
        items[:] = [item for item in items if not item.get_closest_marker(FULL)]


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
