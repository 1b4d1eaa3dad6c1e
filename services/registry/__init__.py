"""The artifact registry: per-team package indexes for Python and npm (Go, Maven and Cargo later) on
one ecosystem-neutral core: names and versions by each ecosystem's rules, safe archive inspection,
metadata, storage and search.

Owned by the ArtifactManagerAgent.
"""
