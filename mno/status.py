"""What `mno status` shows: each agent's instances and request statistics, from the micro protocol,
and, beside a `mno run`, how often its supervisor restarted each process (from its stack record)."""

from __future__ import annotations

from typing import Any

from mno.local_stack import read_stack_record
from mno.reach import connect_nats
from services.gateway.discovery import SERVICE_NAMES, gather_replies
from shared.config import Settings
from shared.messages.agents import ALL_AGENTS


async def mesh_status(settings: Settings) -> dict[str, Any]:
    nc = await connect_nats(settings)
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
    report: dict[str, Any] = {"agents": list(rows.values())}
    record = read_stack_record(settings.data_dir.resolve())
    if record is not None:
        # None: not a process of this `mno run` (e.g. a replica started by hand).
        for row in rows.values():
            row["restarts"] = record.processes.get(row["agent"], {}).get("restarts")
        report["servers"] = {name: process for name, process in record.processes.items() if name not in rows}
    return report
