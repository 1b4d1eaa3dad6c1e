"""Reading an uploaded document as JSON within bounds: its size, and a nesting depth no SBOM needs."""

from __future__ import annotations

import json
from typing import Any

from services.supply_chain.sbom.graph import SbomError

MAX_SBOM_BYTES = 50 * 1024 * 1024
"""Far above real SBOMs (a 10,000-component CycloneDX BOM is ~10 MB), below what a worker should hold."""


def load_json(content: str | bytes, *, max_bytes: int = MAX_SBOM_BYTES) -> dict[str, Any]:
    size = len(content.encode("utf-8")) if isinstance(content, str) else len(content)
    if size > max_bytes:
        raise SbomError(f"the document is {size} bytes, more than the {max_bytes} an SBOM may have")
    try:
        document = json.loads(content)
    except RecursionError as error:
        raise SbomError("the document nests too deeply to be an SBOM") from error
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError both are
        raise SbomError(f"not JSON: {error}") from error
    if not isinstance(document, dict):
        raise SbomError("an SBOM is a JSON object")
    return document
