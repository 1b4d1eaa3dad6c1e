"""Alert delivery: per-team channels (e-mail, Slack, signed webhooks), an egress guard, retries
with backoff, and a delivery history in PostgreSQL (schema `monitoring`).

The MonitoringAgent builds one `AlertDispatcher` and calls `raise_alert` when something crosses a
line, and `deliver_due` periodically so retries owed after a crash still happen.

Owned by the MonitoringAgent.
"""
