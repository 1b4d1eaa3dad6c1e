"""The demo team `mno run` seeds on a fresh data directory (the SuperAgent's API is its only way in).

Owned by no agent: `mno` (mno/demo.py) sends what `events.py` generates through the edge's API.
"""
