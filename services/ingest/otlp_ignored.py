"""OTLP/HTTP metrics and logs: accepted and ignored (pure).

Exporters such as OpenLIT's send metrics (``gen_ai.client.token.usage``, cost histograms) and logs
(prompt/completion events) to the same endpoint as traces, and log every 404 as a failed export.
Token events come from the spans alone (a histogram of tokens cannot be priced per call, and would
count the calls its spans report again), so ``/v1/metrics`` and ``/v1/logs`` answer the OTLP success
shape — an empty ``Export{Metrics,Logs}ServiceResponse`` in the request's encoding — and store
nothing. The body is not decoded: nothing in it is used.
"""

from __future__ import annotations

import json
from enum import StrEnum

from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse

from services.ingest.otlp_decode import PROTOBUF, response_content_type


class IgnoredSignal(StrEnum):
    METRICS = "metrics"
    LOGS = "logs"


def encode_ignored_response(signal: IgnoredSignal, content_type: str) -> tuple[bytes, str]:
    """The success answer to an export of `signal` in the request's encoding, and its content type.

    Raises `UnsupportedMediaType` (415) for a content type OTLP/HTTP does not use.
    """
    answer_type = response_content_type(content_type)
    response: Message = (
        ExportMetricsServiceResponse() if signal is IgnoredSignal.METRICS else ExportLogsServiceResponse()
    )
    if answer_type == PROTOBUF:
        encoded: bytes = response.SerializeToString()
        return encoded, answer_type
    return json.dumps(json_format.MessageToDict(response)).encode(), answer_type
