"""GitHub webhook intake: verify, record, queue; and the processing of queued deliveries.

Owned by the SuperAgent.
"""
