"""The unpriced-model alert: once per team and model, in the background, retried after a failure."""

from __future__ import annotations

import asyncio

from services.token_costs.unpriced_alerts import UnpricedModelAlerts, dedup_key
from shared.messages.alerts import Alert, AlertKind


class Sink:
    """An alert sink that records what it is given (the dispatcher's contract: dedup by key)."""

    def __init__(self, failures: int = 0) -> None:
        self.raised: list[tuple[str, Alert]] = []
        self.failures = failures

    async def raise_alert(self, team_id: str, alert: Alert) -> bool:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("database away")
        self.raised.append((team_id, alert))
        return True


async def test_each_team_is_alerted_once_per_unpriced_model() -> None:
    """Many sightings of two models by two teams raise one alert per (team, model), keyed by model."""
    sink = Sink()
    alerts = UnpricedModelAlerts(sink)
    for _ in range(3):
        alerts.seen("t1", [("acme", "a-1", "no price"), ("acme", "a-1", "no price"), ("acme", "a-2", "x")])
        alerts.seen("t2", [("acme", "a-1", "no price")])
    await alerts.close()
    keys = sorted((team, alert.dedup_key) for team, alert in sink.raised)
    assert keys == [
        ("t1", "unpriced_model:acme/a-1"),
        ("t1", "unpriced_model:acme/a-2"),
        ("t2", "unpriced_model:acme/a-1"),
    ]
    assert {alert.kind for _, alert in sink.raised} == {AlertKind.UNPRICED_MODEL}
    assert sink.raised[0][1].details["model"] == "a-1"


async def test_a_failed_alert_is_tried_again_at_the_next_sighting() -> None:
    """When raising fails, the model is not remembered: the next unpriced call raises it again."""
    sink = Sink(failures=1)
    alerts = UnpricedModelAlerts(sink)
    alerts.seen("t1", [("acme", "a-1", "no price")])
    await alerts.close()
    assert sink.raised == []
    alerts.seen("t1", [("acme", "a-1", "no price")])
    await asyncio.wait_for(alerts.close(), 5)
    assert [alert.dedup_key for _, alert in sink.raised] == ["unpriced_model:acme/a-1"]


def test_long_model_names_get_a_bounded_dedup_key() -> None:
    """A 256-character model name is keyed by its digest, within the alert key's 300 characters."""
    key = dedup_key("p" * 64, "m" * 256)
    assert len(key) <= 300
    assert key != dedup_key("p" * 64, "m" * 255 + "n")
