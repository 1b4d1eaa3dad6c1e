"""The MonitoringAgent's token costs: price accepted events, store them in ClickHouse, answer queries.

`rows` turns events into priced rows (pure), `queries` builds cost-report SQL (pure), `store` is the
ClickHouse adapter, `writer` coalesces concurrent batches into one deduplicated insert, and
`handlers` wires these to the bus.

Owned by the MonitoringAgent.
"""
