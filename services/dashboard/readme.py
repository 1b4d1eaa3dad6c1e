"""A package's readme as safe HTML, rendered the way PyPI renders it.

`readme_renderer` is PyPA's own (Warehouse uses it): Markdown (GFM or CommonMark, by the content
type's `variant`), reStructuredText and plain text, its output sanitised with nh3 (an allow-list:
no script, no event handler attribute, no `javascript:` URL). We pick the renderer by the declared
content type as Warehouse does, and fall back to plain text when a renderer gives up (invalid reST),
so a readme is always shown and never shown unsanitised.
"""

from __future__ import annotations

import re
import warnings
from email.message import Message
from html import unescape

from markupsafe import Markup, escape

# Imported with warnings silenced: readme_renderer warns at import time when its Markdown extra is
# missing; we depend on `readme-renderer[md]`, so a missing extra is caught by the tests instead.
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from readme_renderer import markdown, rst, txt

# Two rewrites of the sanitised output, whose shape is nh3's serialisation (every attribute value
# double-quoted, `"` escaped), so these patterns match whole tags and nothing else:
# - headings' empty self-links (`<a href="#user-content-x"></a>`, a hover icon on PyPI) would be
#   links without a name on our page (an accessibility failure) and of no use: dropped;
# - images: the page's CSP loads none from elsewhere (badges would show broken), and PyPI proxies
#   them through its own camo server, which we do not run: an image becomes its alt text.
_ATTRIBUTES = r'((?:\s+[\w:.-]+(?:="[^"]*")?)*)\s*/?'
_EMPTY_LINK = re.compile(r"<a" + _ATTRIBUTES + r"></a>")
_IMAGE = re.compile(r"<img" + _ATTRIBUTES + r">")
_ALT = re.compile(r'\salt="([^"]*)"')
MAX_README_CHARS = 512_000  # larger readmes are cut (a page is no place for a 5 MB manual)


def _content_type(declared: str | None) -> tuple[str, dict[str, str]]:
    message = Message()
    message["Content-Type"] = declared or "text/x-rst"
    kind = message.get_content_type()
    found = message.get_params() or []
    params = {str(k).lower(): str(v) for k, v in found[1:]}
    # An empty or unknown type is read as Warehouse reads it: None/"" as reST, others as text.
    return (kind if declared else "text/x-rst"), params


def render(description: str | None, content_type: str | None) -> Markup | None:
    """The readme as sanitised HTML, or None when the version has none."""
    if not description or not description.strip():
        return None
    text = description[:MAX_README_CHARS]
    kind, params = _content_type(content_type)
    rendered: str | None
    if kind == "text/markdown":
        variant = params.get("variant", "GFM")
        rendered = markdown.render(text, variant=variant if variant in ("GFM", "CommonMark") else "GFM")
    elif kind == "text/x-rst":
        rendered = rst.render(text)
    else:
        rendered = None
    if rendered is None:
        # Plain text: escaped and its line breaks kept, which cannot fail.
        rendered = txt.render(text) or ""
    # Safe by construction: every branch above is readme_renderer's nh3-sanitised output, and the
    # rewrites only remove tags or put escaped text in their place.
    return Markup(_IMAGE.sub(_image_text, _EMPTY_LINK.sub("", rendered)))


def _image_text(found: re.Match[str]) -> str:
    alt = _ALT.search(found[1])
    if alt is None or not unescape(alt[1]).strip():
        return ""
    return f'<span class="readme-image">[image: {escape(unescape(alt[1]).strip())}]</span>'
