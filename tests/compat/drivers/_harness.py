"""What every compatibility driver shares (run inside a compat venv: imports no project code).

A driver sets up instrumentation libraries (one at a time, each undone before the next, its
patches checked gone) with the real OTLP/HTTP exporter pointed at the edge
(`OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_HEADERS`), makes each call shape it is asked for
through the real provider SDK against the stand-in provider, and flushes the exporter after each
call, so each call is one export. Every span gets the `mno.tag.compat_row` attribute naming the call
(the test groups its costs by that tag). Every answer of the edge is kept (the `requests` transport
is the exporter's), and the driver prints one JSON document: per row, the exports' HTTP status and
OTLP `partial_success`, and the error when the call itself failed.
"""

from __future__ import annotations

import inspect
import json
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import requests
from opentelemetry.context import Context
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

TAG = "mno.tag.compat_row"
_current = {"row": ""}
_answers: list[dict[str, Any]] = []
# (row tag, span name) of every span that ended, for drivers whose library ends spans after the call.
_ended: list[tuple[str, str]] = []
_span_ended = threading.Condition()
_send = requests.Session.send


def _recording_send(self: requests.Session, request: requests.PreparedRequest, **kwargs: Any) -> Any:
    # Every OTLP exporter of these libraries posts through `requests`: the edge's answer is kept here.
    response = _send(self, request, **kwargs)
    url = request.url or ""
    if url.endswith(("/v1/traces", "/v1/metrics", "/v1/logs")):
        answer: dict[str, Any] = {
            "row": _current["row"],
            "path": url.rsplit("/", 2)[-2:],
            "status": response.status_code,
        }
        if url.endswith("/v1/traces") and response.ok and response.content:
            decoded = ExportTraceServiceResponse()
            if "json" in response.headers.get("Content-Type", ""):
                body = response.json().get("partialSuccess") or {}
                answer["rejected"] = int(body.get("rejectedSpans", 0))
                answer["message"] = body.get("errorMessage", "")
            else:
                decoded.ParseFromString(response.content)
                answer["rejected"] = decoded.partial_success.rejected_spans
                answer["message"] = decoded.partial_success.error_message
        elif not response.ok:
            answer["body"] = response.text[:500]
        _answers.append(answer)
    return response


requests.Session.send = _recording_send  # type: ignore[method-assign]


class RowTagger(SpanProcessor):
    """Stamps the current row's name on every span as it starts (and, with COMPAT_DUMP_SPANS set,
    writes every finished span's scope and attributes to stderr: what a library really sends)."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        if _current["row"]:
            span.set_attribute(TAG, _current["row"])

    def on_end(self, span: ReadableSpan) -> None:
        with _span_ended:
            _ended.append((str((span.attributes or {}).get(TAG, "")), span.name))
            _span_ended.notify_all()
        if os.environ.get("COMPAT_DUMP_SPANS"):
            scope = span.instrumentation_scope
            seen = {"scope": scope.name if scope else None, "version": scope.version if scope else None}
            attributes = {k: v for k, v in (span.attributes or {}).items() if not isinstance(v, tuple)}
            print(json.dumps({**seen, "name": span.name, "attributes": attributes}), file=sys.stderr)


def wait_for_span(name: str, timeout: float = 10.0) -> None:
    """Until a span `name` of the current row has ended (or `timeout` s: the row then fails on its
    missing event, with the edge's answers)."""
    if not _current["row"]:
        return
    wanted = (_current["row"], name)
    deadline = time.monotonic() + timeout
    with _span_ended:
        while wanted not in _ended and time.monotonic() < deadline:
            _span_ended.wait(deadline - time.monotonic())


# What instrumentors patch: the provider SDKs (and their HTTP client).
PATCHED_PACKAGES = ("openai", "anthropic", "google.genai", "httpx")
Patches = dict[tuple[str, str, str], object]


def patchable(packages: Iterable[str] = PATCHED_PACKAGES) -> Patches:
    """Every function, method and property of the loaded modules of `packages` (and their classes)."""
    found: Patches = {}
    prefixes = tuple(packages)
    for module_name, module in list(sys.modules.items()):
        if module is None or not (
            module_name in prefixes or module_name.startswith(tuple(p + "." for p in prefixes))
        ):
            continue
        for name, value in list(vars(module).items()):
            if _patchable(name, value):
                found[(module_name, "", name)] = value
            if inspect.isclass(value) and value.__module__ == module_name:
                for attribute, member in list(vars(value).items()):
                    if _patchable(attribute, member):
                        found[(module_name, name, attribute)] = member
    return found


def _patchable(name: str, value: object) -> bool:
    if name.startswith("__"):
        return False
    return (
        _wrapped(value)
        or inspect.isfunction(value)
        or isinstance(value, (staticmethod, classmethod, property))
    )


def _wrapped(value: object) -> bool:
    # Every instrumentation here patches with wrapt; its proxies are what an unpatch must remove.
    return type(value).__module__.startswith("wrapt")


def leftover_patches(before: Patches, after: Patches) -> list[str]:
    """What an uninstrument left behind: members changed since `before`, or wrapt proxies still on."""
    return sorted(
        ".".join(part for part in key if part)
        for key, value in after.items()
        if (key in before and before[key] is not value) or (key not in before and _wrapped(value))
    )


@dataclass
class Part:
    """One library's share of a driver process: its rows, how to instrument it and how to undo that
    (`instrument` returns the undo, or None when the library cannot be undone: it must run last)."""

    library: str
    rows: list[str]
    calls: Callable[[], dict[str, Callable[[], Any]]]
    instrument: Callable[[], Callable[[], Any] | None] = lambda: None
    leaks: list[str] = field(default_factory=list)


def run_parts(parts: list[Part], flush: Callable[[], Any]) -> None:
    """Each library in turn: instrument, make its calls (flushing after each), flush, uninstrument and
    check its patches are gone (else the next library's rows would carry its spans too); print what the
    edge answered, the failed calls and any patch an uninstrument left."""
    errors: dict[str, str] = {}
    leaks: dict[str, list[str]] = {}
    for part in parts:
        before = patchable()
        uninstrument = part.instrument()
        errors.update(_calls(part.library, part.rows, part.calls(), flush))
        flush()
        # A library whose uninstrument leaves patches may only run last (rows.py says which).
        if uninstrument is not None and part is not parts[-1]:
            uninstrument()
            left = leftover_patches(before, patchable())
            if left:
                leaks[part.library] = left
    flush()
    json.dump({"answers": _answers, "errors": errors, "leaks": leaks}, sys.stdout)


def _calls(
    library: str, rows: list[str], calls: dict[str, Callable[[], Any]], flush: Callable[[], Any]
) -> dict[str, str]:
    errors: dict[str, str] = {}
    for row in rows:
        _current["row"] = f"{library}:{row}"
        try:
            calls[row]()
        except Exception:
            errors[_current["row"]] = traceback.format_exc()[-2000:]
        flush()
        _current["row"] = ""
    return errors


def run(library: str, rows: list[str], calls: dict[str, Callable[[], Any]], flush: Callable[[], Any]) -> None:
    """One library's calls, as `run_parts` does them."""
    run_parts([Part(library, rows, lambda: calls)], flush)
