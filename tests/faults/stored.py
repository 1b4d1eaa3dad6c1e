"""What the mesh stored, per event id, read back through the cost report (`GET /api/v1/costs`).

Each event of the driver carries its own id as a tag value; grouping by that tag over an
hour-aligned range reads the hourly tag rollup, which counts every stored event: an event stored
twice counts 2 there (the raw table, read with FINAL, would hide it), one lost counts 0.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from tests.faults.ingest_driver import IDS_PER_TAG_KEY, IngestRecord
from tests.test_make_run import RunSetup, http

_POLL = 0.5
# Once the count reaches what was accepted, how long it must stay put (late or doubled writes show).
_SETTLE = 3.0


def _window() -> dict[str, str]:
    """Hour-aligned (so the rollups answer), around now: the driver stamps events with its clock."""
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return {
        "since": (hour - timedelta(hours=2)).isoformat(),
        "until": (hour + timedelta(hours=2)).isoformat(),
    }


def _costs(setup: RunSetup, token: str, **params: str) -> dict[str, object]:
    status, body = http("GET", f"{setup.edge}/api/v1/costs?{urlencode({**_window(), **params})}", token)
    assert status == 200, body
    assert isinstance(body, dict), body
    return body


def stored_total(setup: RunSetup, token: str, record: IngestRecord) -> int:
    totals = _costs(setup, token, project=record.label)["totals"]
    assert isinstance(totals, dict)
    return int(totals["events"])


def wait_until_stored(setup: RunSetup, token: str, record: IngestRecord, timeout: float) -> float:
    """Seconds until the stored count reached the accepted count and held still (or `timeout`)."""
    started = time.monotonic()
    expected = len(record.accepted_ids)
    last, since_change = -1, started
    while True:
        total = stored_total(setup, token, record)
        now = time.monotonic()
        if total != last:
            last, since_change = total, now
        if total >= expected and now - since_change >= _SETTLE:
            return since_change - started
        if now - started > timeout:
            return now - started
        time.sleep(_POLL)


def stored_per_id(setup: RunSetup, token: str, record: IngestRecord) -> Counter[str]:
    """How many times each event id of the run is stored (ids never stored are absent)."""
    counts: Counter[str] = Counter()
    for key in record.tag_keys:
        body = _costs(setup, token, group_by=f"tag:{key}", limit=str(IDS_PER_TAG_KEY))
        assert body["truncated"] is False, key
        groups = body["groups"]
        assert isinstance(groups, list)
        for group in groups:
            counts[group["key"][f"tag:{key}"]] += int(group["totals"]["events"])
    return counts
