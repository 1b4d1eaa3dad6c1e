"""GitHub Marketplace subscriptions: webhook payload models, the subscription state machine and
plan entitlements. Pure logic, no I/O: the SuperAgent persists what these functions return.

Owned by the SuperAgent.
"""
