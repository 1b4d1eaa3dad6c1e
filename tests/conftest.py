"""Real servers, started once per test session, shared by every test package."""

pytest_plugins = [
    "tests.fixtures.stack",
    "tests.fixtures.s3",
    "tests.fixtures.mesh",
    "tests.fixtures.fake_github",
    "tests.fixtures.clickhouse",
]
