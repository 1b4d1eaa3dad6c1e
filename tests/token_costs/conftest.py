"""The token-cost tests call the shared migrated chdb fixture `clickhouse`."""

from __future__ import annotations

import pytest

from shared.db.clickhouse import ClickHouse


@pytest.fixture
def clickhouse(analytics: ClickHouse) -> ClickHouse:
    return analytics
