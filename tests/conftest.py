"""Real servers, started once per test session, shared by every test package; the suites that take
minutes only when asked for."""

import pytest

pytest_plugins = [
    "tests.fixtures.stack",
    "tests.fixtures.s3",
    "tests.fixtures.mesh",
    "tests.fixtures.fake_github",
    "tests.fixtures.clickhouse",
]

# Markers whose tests `make test` leaves out (each starts whole stacks again and again, or runs for
# minutes): they run when a -m expression selects them (`make test-faults`, `make test-long`).
ON_REQUEST = ("faults_full", "long")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("markexpr"):
        return
    left_out = [item for item in items if any(item.get_closest_marker(name) for name in ON_REQUEST)]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        chosen = set(left_out)
        items[:] = [item for item in items if item not in chosen]
