"""Proxy mode: LLM calls sent through the edge to their provider, their usage recorded on the way.

Owned by the SuperAgent edge (`agents/super_agent/routes/proxy.py`): a client points its SDK's
`base_url` at `/proxy/<provider>/...`, the edge forwards the call to the configured upstream with the
caller's own provider key (passed through, never stored or logged), streams the answer back as it
arrives, and records the call's usage through the same ingest path as `POST /api/v1/token-events`.
The pure parts (SSE parsing, usage extraction, request rewriting, provider error shapes) are apart
from the I/O (`forward`, `budget_precheck`), and tested without HTTP.
"""
