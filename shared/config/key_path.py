"""Key paths: where in the config tree a value lives, written the way operators read it."""

from collections.abc import Iterable

# A mapping key is a str; a list index is an int.
KeyPath = tuple[str | int, ...]


def format_key_path(path: Iterable[str | int]) -> str:
    """Render ("github", "webhook_secrets", 0) as "github.webhook_secrets[0]"."""
    rendered = ""
    for part in path:
        if isinstance(part, int):
            rendered += f"[{part}]"
        else:
            rendered += f".{part}" if rendered else part
    return rendered
