"""A channel implementation for a stored channel."""

from __future__ import annotations

from dataclasses import dataclass

from services.alerts.channels.email import EmailChannel
from services.alerts.channels.interface import AlertChannel
from services.alerts.channels.slack import SlackChannel
from services.alerts.channels.webhook import WebhookChannel
from services.alerts.http import HttpPoster
from services.alerts.models import StoredChannel
from shared.email import EmailSender
from shared.messages.alerts import ChannelKind


@dataclass(frozen=True)
class ChannelDependencies:
    email: EmailSender
    http: HttpPoster


def build_channel(channel: StoredChannel, deps: ChannelDependencies) -> AlertChannel:
    if channel.kind is ChannelKind.EMAIL:
        return EmailChannel(deps.email, channel.settings["recipients"])
    if channel.kind is ChannelKind.SLACK:
        return SlackChannel(deps.http, channel.secrets["webhook_url"])
    if channel.kind is ChannelKind.WEBHOOK:
        return WebhookChannel(deps.http, channel.settings["url"], channel.secrets["signing_secret"])
    raise ValueError(f"unknown channel kind {channel.kind!r}")
