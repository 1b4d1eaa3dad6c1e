"""The simple repository API's media types and PEP 691's content negotiation (pure).

The ArtifactManagerAgent answers a page in the media type negotiated here, and the edge keys its
cache of pages by the same negotiation (services/registry/python/simple.py builds the pages).
"""

from __future__ import annotations

API_VERSION = "1.1"
JSON_V1 = "application/vnd.pypi.simple.v1+json"
HTML_V1 = "application/vnd.pypi.simple.v1+html"
TEXT_HTML = "text/html"
# What we answer for each media type a client may ask for; `latest` names mean v1 (PEP 691).
_OFFERED = {
    JSON_V1: JSON_V1,
    "application/vnd.pypi.simple.latest+json": JSON_V1,
    HTML_V1: HTML_V1,
    "application/vnd.pypi.simple.latest+html": HTML_V1,
    TEXT_HTML: TEXT_HTML,
}


def negotiate(accept: str | None) -> str | None:
    """The media type to answer with for an `Accept` header (PEP 691's rules: highest q wins, ties
    go to the earlier entry); None when nothing offered is acceptable (406). No header: HTML."""
    if not accept or not accept.strip():
        return TEXT_HTML
    best: tuple[float, int, str] | None = None
    for position, entry in enumerate(accept.split(",")):
        media, _, params = entry.strip().partition(";")
        media = media.strip().lower()
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media in ("*/*", "text/*", "application/*"):
            candidate = TEXT_HTML if media != "application/*" else JSON_V1
        else:
            candidate = _OFFERED.get(media, "")
        if not candidate or quality <= 0:
            continue
        if best is None or quality > best[0]:
            best = (quality, position, candidate)
    return best[2] if best else None


def is_json(media_type: str) -> bool:
    return media_type == JSON_V1
