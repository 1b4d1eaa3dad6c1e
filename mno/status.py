"""What `mno status` shows: each agent's instances and request statistics, from the micro protocol."""

from __future__ import annotations

from typing import Any

import nats

from services.gateway.discovery import SERVICE_NAMES, gather_replies
from shared.config import Settings
from shared.messages.agents import ALL_AGENTS


async def mesh_status(settings: Settings) -> dict[str, Any]:
    cfg = settings.nats
    nc = await nats.connect(
        servers=cfg.servers,
        connect_timeout=cfg.connect_timeout_seconds,
        max_reconnect_attempts=0,
        user=cfg.user.get_secret_value() if cfg.user else None,
        password=cfg.password.get_secret_value() if cfg.password else None,
        token=cfg.token.get_secret_value() if cfg.token else None,
    )
    try:
        stats = await gather_replies(nc, "$SRV.STATS", quiet=0.1, deadline=2.0)
    finally:
        await nc.close()
    rows: dict[str, dict[str, Any]] = {
        agent.value: {
            "agent": agent.value,
            "instances": 0,
            "version": None,
            "requests": 0,
            "errors": 0,
            "processing_ns": 0,
        }
        for agent in ALL_AGENTS
    }
    for entry in stats:
        agent = SERVICE_NAMES.get(str(entry.get("name")))
        if agent is None:
            continue
        row = rows[agent.value]
        row["instances"] += 1
        row["version"] = entry.get("version")
        for endpoint in entry.get("endpoints") or []:
            # Our service reports its own figures under `data` (see shared.bus.service).
            data = endpoint.get("data") or {}
            row["requests"] += int(data.get("handled", 0))
            row["errors"] += int(data.get("errors", 0))
            row["processing_ns"] += int(data.get("processing_ns", 0))
    for row in rows.values():
        row["average_ms"] = row["processing_ns"] / row["requests"] / 1e6 if row["requests"] else 0.0
        del row["processing_ns"]
    return {"agents": list(rows.values())}
