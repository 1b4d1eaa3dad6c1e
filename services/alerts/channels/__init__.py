"""Alert channels: one module per kind behind `AlertChannel` (interface.py); `build_channel` makes
the right one from a stored channel."""

from services.alerts.channels.factory import ChannelDependencies, build_channel
from services.alerts.channels.interface import AlertChannel

__all__ = ["AlertChannel", "ChannelDependencies", "build_channel"]
