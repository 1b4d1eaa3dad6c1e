"""dist-tags (`npm dist-tag add/rm/ls`): named pointers to versions, `latest` the one installs follow.

A tag that node-semver would read as a version range is refused, as the npm CLI refuses it: `npm
install pkg@1.x` means the range, so a tag named `1.x` could never be installed by name.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

from services.registry.ecosystems.interface import NotFound, RegistryError
from services.registry.ecosystems.npm import NPM

LATEST = "latest"
MAX_TAG_LENGTH = 128


class InvalidTag(RegistryError):
    def __init__(self, message: str) -> None:
        super().__init__("invalid_tag", message)


class ProtectedTag(RegistryError):
    def __init__(self, message: str) -> None:
        super().__init__("protected_tag", message)


# node-semver 7's strict (non-loose) range grammar, enough to answer `semver.validRange(tag) != null`.
_NUM = r"(?:0|[1-9]\d*)"
_XID = rf"(?:{_NUM}|[xX*])"
_PRE_ID = rf"(?:{_NUM}|\d*[a-zA-Z-][a-zA-Z0-9-]*)"
_PRE = rf"(?:-{_PRE_ID}(?:\.{_PRE_ID})*)"
_BUILD = r"(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)"
_XPLAIN = rf"[v=\s]*{_XID}(?:\.{_XID}(?:\.{_XID}{_PRE}?{_BUILD}?)?)?"
# A plain x-range must not put a number after an x (`x.1`, `1.x.3` are not ranges); ~ and ^ may.
_X = r"[xX*]"
_TAIL = rf"{_PRE}?{_BUILD}?"
_FULL = rf"v?{_NUM}\.{_NUM}\.{_NUM}{_TAIL}"  # a whole version keeps its prefix: only `v` is allowed
_XORDERED = (
    rf"(?:{_FULL}|[v=\s]*(?:{_NUM}\.{_NUM}(?:\.{_X}{_TAIL})?"
    rf"|{_NUM}(?:\.{_X}(?:\.{_X}{_TAIL})?)?|{_X}(?:\.{_X}(?:\.{_X}{_TAIL})?)?))"
)
_HYPHEN_SIDE = rf"(?:{_FULL}|[v=\s]*(?!{_NUM}\.{_NUM}\.{_NUM}){_XID}(?:\.{_XID}(?:\.{_XID}{_TAIL})?)?)"
_COMPARATOR = re.compile(rf"(?:(?:<|>)?=?\s*{_XORDERED}|~>?{_XPLAIN}|\^{_XPLAIN})")
_HYPHEN = re.compile(rf"\s*{_HYPHEN_SIDE}\s+-\s+{_HYPHEN_SIDE}\s*")
_OPERATOR_SPACE = re.compile(r"(<=|>=|<|>|=|~>?|\^)\s+")
_BUILD_ANYWHERE = re.compile(_BUILD)  # node-semver strips build metadata from ranges first
_STAR = re.compile(r"(?:<|>)?=?\s*\*")  # ... and removes the first `*` of what is left unparsed
_FULL_COMPARATOR = re.compile(rf"(?:<|>)?=?\s*v?{_NUM}\.{_NUM}\.{_NUM}{_PRE}?{_BUILD}?")


def is_semver_range(text: str) -> bool:
    """Whether node-semver's `validRange(text)` is non-null (`""` and `*` are ranges: any version)."""
    raw = " ".join(text.split())
    return all(_valid_comparator_set(part.strip()) for part in raw.split("||"))


def _valid_comparator_set(text: str) -> bool:
    text = _BUILD_ANYWHERE.sub("", text)
    if _HYPHEN.fullmatch(text):
        return True
    return all(_valid_comparator(token) for token in _OPERATOR_SPACE.sub(r"\1", text).split(" "))


def _valid_comparator(token: str) -> bool:
    if not token or _COMPARATOR.fullmatch(token):
        return True
    rest = _STAR.sub("", token.strip(), count=1)
    return not rest or bool(_FULL_COMPARATOR.fullmatch(rest))


def validate_tag(tag: str) -> None:
    """Refuses a tag npm could not use: a semver range, empty, too long, or not URL-friendly (tags
    travel in URL paths: `/-/package/<name>/dist-tags/<tag>`)."""
    if is_semver_range(tag):
        raise InvalidTag(f"tag {tag!r} must not be a valid semver range")
    if len(tag) > MAX_TAG_LENGTH:
        raise InvalidTag(f"tag longer than {MAX_TAG_LENGTH} characters")
    if not re.fullmatch(r"[A-Za-z0-9\-_.~]+", tag):
        raise InvalidTag(f"tag {tag!r} may hold only letters, digits, '-', '_', '.' and '~'")


def add_tag(tags: Mapping[str, str], tag: str, version: str, versions: Collection[str]) -> dict[str, str]:
    """The tags after `npm dist-tag add name@version tag` (the version must be published)."""
    validate_tag(tag)
    canonical = NPM.normalize_version(version)
    if canonical not in versions:
        raise NotFound(f"version {canonical} is not published")
    return {**tags, tag: canonical}


def remove_tag(tags: Mapping[str, str], tag: str) -> dict[str, str]:
    """The tags after `npm dist-tag rm name tag`; `latest` stays (installs without a version follow it)."""
    if tag == LATEST:
        raise ProtectedTag("the 'latest' tag cannot be removed")
    if tag not in tags:
        raise NotFound(f"no dist-tag {tag!r}")
    return {t: v for t, v in tags.items() if t != tag}


def list_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """`npm dist-tag ls`: latest first, then by name."""
    return dict(sorted(tags.items(), key=lambda item: (item[0] != LATEST, item[0])))


def retarget_after_unpublish(
    tags: Mapping[str, str], removed: str, remaining: Collection[str]
) -> dict[str, str]:
    """As libnpmpublish does when a version goes: tags pointing at it are dropped, and if it was
    `latest`, `latest` moves to the highest remaining version (none left: no tags)."""
    kept = {t: v for t, v in tags.items() if v != removed}
    if tags.get(LATEST) == removed and remaining:
        kept[LATEST] = max(remaining, key=NPM.parse_version)
    return list_tags(kept)
