"""The HTTP edge's machinery: the route table model, request decoding, errors, OpenAPI, discovery.
Which routes exist is declared by the SuperAgent (`agents.super_agent.routes`).

Owned by the SuperAgent.
"""
