"""Driver of the `openlit` venv (OpenLIT pins openai<3 and an older anthropic): `openlit.init()` as
its docs show it, sending traces, metrics and logs to the OTLP endpoint of the environment.

argv: stand-in provider URL, row names (see tests/compat/rows.py).
"""

from __future__ import annotations

import sys

import openlit
from _calls import calls_for
from _harness import RowTagger, run
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider


def main() -> None:
    provider, *rows = sys.argv[1:]
    # OTEL_EXPORTER_OTLP_ENDPOINT / _HEADERS name the edge: OpenLIT builds its exporters from them.
    openlit.init(application_name="compat", environment="compat", collect_gpu_stats=False)
    tracer_provider = trace.get_tracer_provider()
    assert isinstance(tracer_provider, TracerProvider), tracer_provider
    tracer_provider.add_span_processor(RowTagger())
    run("openlit", rows, calls_for(rows, provider), tracer_provider.force_flush)
    tracer_provider.shutdown()


if __name__ == "__main__":
    main()
