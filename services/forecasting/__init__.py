"""Spend forecasting, budget exhaustion and anomaly detection over in-memory series (pure, no I/O).

`series` turns sparse (timestamp, amount) rows into a `RegularSeries`; `forecast` projects it with
prediction intervals (statsmodels ETS, with fallbacks for short histories); `exhaustion` answers
whether and when a budget runs out; `anomaly` flags points that depart from the series' own
seasonal baseline.

Owned by the MonitoringAgent.
"""

from services.forecasting.anomaly import Anomaly, AnomalyConfig, Direction, LatestCheck, check_latest, scan
from services.forecasting.exhaustion import Exhaustion, budget_exhaustion
from services.forecasting.forecast import Forecast, ForecastMethod, ForecastPoint, forecast
from services.forecasting.series import DAY, HOUR, RegularSeries, floor_to_bucket, regularize

__all__ = [
    "DAY",
    "HOUR",
    "Anomaly",
    "AnomalyConfig",
    "Direction",
    "Exhaustion",
    "Forecast",
    "ForecastMethod",
    "ForecastPoint",
    "LatestCheck",
    "RegularSeries",
    "budget_exhaustion",
    "check_latest",
    "floor_to_bucket",
    "forecast",
    "regularize",
    "scan",
]
