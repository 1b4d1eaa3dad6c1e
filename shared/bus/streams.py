"""The JetStream streams of the mesh: one for durable events, one dead-letter stream."""

from __future__ import annotations

import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig

from shared.config.models import JetStreamSettings
from shared.messages.registry import DLQ_PREFIX, EVENTS_PREFIX

DAY_SECONDS = 86_400


def stream_configs(settings: JetStreamSettings) -> list[StreamConfig]:
    common = {
        "retention": RetentionPolicy.LIMITS,
        "storage": StorageType.FILE,
        "num_replicas": settings.replicas,
        "duplicate_window": float(settings.duplicate_window_seconds),
        # Refusing new events when full is better than silently dropping the oldest unprocessed ones.
        "discard": DiscardPolicy.NEW,
    }
    return [
        StreamConfig(
            name=settings.events_stream,
            subjects=[f"{EVENTS_PREFIX}.>"],
            max_age=float(settings.max_age_days * DAY_SECONDS),
            description="Durable domain events of the mesh.",
            **common,  # type: ignore[arg-type]
        ),
        StreamConfig(
            name=settings.dlq_stream,
            subjects=[f"{DLQ_PREFIX}.>"],
            max_age=float(settings.dlq_max_age_days * DAY_SECONDS),
            description="Events a consumer could not process, with the reason in headers.",
            **common,  # type: ignore[arg-type]
        ),
    ]


async def ensure_streams(js: JetStreamContext, settings: JetStreamSettings) -> None:
    """Create the streams, or bring an existing one's configuration up to date. Safe to race:
    every agent calls it at start."""
    for config in stream_configs(settings):
        try:
            await js.add_stream(config)
        except nats.js.errors.BadRequestError:
            # Exists with another configuration (e.g. a changed max_age): update it in place.
            await js.update_stream(config)
