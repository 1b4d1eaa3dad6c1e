"""Plain data crossing process boundaries: the envelope, payload models and the subject registry.

This package imports nothing else from the project (an import-linter contract holds it to that).
"""
