"""Ingest of LLM-call usage at the edge: our JSON batches and OpenTelemetry GenAI spans (OTLP/HTTP).

Owned by the SuperAgent.
"""
