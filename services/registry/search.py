"""Full-text search queries, pure: user text to a PostgreSQL `tsquery` of prefix terms.

The search document (store.refresh_package) weighs the name A, keywords and summary B, the
description C. Each word of the query must match (AND), as a prefix, so `reque` finds `requests`.
Words are reduced to letters and digits before they reach `to_tsquery`, whose own syntax
(`&|!():*`) must never come from a user.

Only packages matching in their head (name, keywords, summary: the generated `head_document`, GIN
indexed) are ranked; description-only matches follow in name order. Ranking every match made a
common word cost a pass over a team's every package (issue 15: p95 over 100,000 versions).
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[0-9A-Za-z\u00c0-\uffff]+")
MAX_TERMS = 8


def tsquery_of(text: str | None, weights: str = "") -> str | None:
    """`word1:* & word2:*` for the words of `text`, or None when it has none (no text filter).
    `weights` (e.g. "A") restricts every word to lexemes of those weights: `word1:*A`."""
    if not text:
        return None
    words = [w.lower() for w in _WORD.findall(text)][:MAX_TERMS]
    if not words:
        return None
    return " & ".join(f"{w}:*{weights}" for w in words)
