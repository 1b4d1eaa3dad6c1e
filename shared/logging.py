"""structlog configured for JSON lines on stdout, with context variables merged into every record."""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog


def configure_logging(
    *, level: str = "INFO", fmt: Literal["json", "console"] = "json", **static_fields: str
) -> None:
    """Configure structlog and route the standard library's loggers (aiohttp, nats) through it."""
    shared_processors: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_static(static_fields),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            *shared_processors,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level]),
        # One write() per record, newline included (PrintLogger's print() writes the line and its
        # newline apart): a stdlib record written between the two glued two JSON lines into one
        # that no log shipper, nor the mesh test reading an agent's log, could parse.
        logger_factory=structlog.WriteLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
            foreign_pre_chain=[*shared_processors, structlog.stdlib.add_logger_name],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING if level == "DEBUG" else level)
    # aiohttp's access log is replaced by our own middleware's structured record.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def _add_static(fields: dict[str, str]) -> structlog.types.Processor:
    def processor(
        _logger: object, _name: str, event_dict: structlog.types.EventDict
    ) -> structlog.types.EventDict:
        for key, value in fields.items():
            event_dict.setdefault(key, value)
        return event_dict

    return processor
