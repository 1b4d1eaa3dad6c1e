"""Budgets: limits on spend per scope and period, counted when events are accepted.

`periods` and `planning` are pure (period bounds; which events fit; which thresholds were crossed),
`store` is the PostgreSQL adapter, `service` puts them together for the bus handlers.

Owned by the MonitoringAgent.
"""
