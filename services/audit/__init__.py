"""The audit log: who did what to which resource, when and from where, with the before and after
of the change; append-only and tamper-evident (a hash chain per team). See store.py for how to
record, query, export, verify and purge.

Owned by the SuperAgent.
"""
