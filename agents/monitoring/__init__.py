"""The monitoring agent: token events (ClickHouse), costs, budgets and alerts. It alone opens the
embedded ClickHouse engine; other agents ask it over NATS."""
