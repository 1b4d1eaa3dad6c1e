"""Server-sent events, parsed incrementally as a stream's bytes arrive (pure, no I/O).

A proxied stream is forwarded chunk by chunk; the parser sees the same bytes and yields each event
once its terminating blank line has arrived, with its raw bytes (so a forwarder that must drop one
event can pass the others on exactly as they were).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SseEvent:
    event: str | None  # the `event:` field, None when absent (the default "message" type)
    data: str  # the `data:` lines joined with "\n"
    raw: bytes  # the event as received (line endings normalised to "\n"), blank line included


class SseParser:
    """Feed it chunks; it returns the event blocks each chunk completes (comment-only blocks too, so a
    forwarder that re-emits events keeps the stream's keep-alives)."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[SseEvent]:
        # CRLF and LF both end lines; a CR split from its LF across chunks is rejoined here first.
        self._buffer = (self._buffer + chunk).replace(b"\r\n", b"\n")
        events: list[SseEvent] = []
        while True:
            end = self._buffer.find(b"\n\n")
            if end < 0:
                return events
            raw, self._buffer = self._buffer[: end + 2], self._buffer[end + 2 :]
            events.append(parse_event(raw))

    def close(self) -> list[SseEvent]:
        """The last event of a stream that ended without its blank line."""
        rest, self._buffer = self._buffer, b""
        return [parse_event(rest + b"\n\n")] if rest.strip() else []


def parse_event(raw: bytes) -> SseEvent:
    """One event block (a block of comments only, a keep-alive such as ': ping', has no data)."""
    name: str | None = None
    data: list[str] = []
    for line in raw.decode("utf-8", errors="replace").split("\n"):
        if not line or line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)
    return SseEvent(event=name, data="\n".join(data), raw=raw)
