"""Anomalies of each team's hourly spend and token rate, per model, against their own seasonal
baseline (`services.forecasting.anomaly`): found by a periodic job, stored, alerted, listed.

Owned by the MonitoringAgent.
"""
