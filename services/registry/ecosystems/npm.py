"""npm's rules: package names as validate-npm-package-name 7 judges them (scopes, legacy names) and
versions by SemVer 2.0.0 as node-semver orders them.

Versions use `semver` (python-semver 3): a strict SemVer 2.0.0 parser whose precedence is the spec's,
which is node-semver's for the strict (non-loose) versions npm publishes; `univers` also has npm
versions, but wraps another semver library behind a vulnerability-range abstraction we do not need
here. node-semver's ranges (`^1.2`, `1.x || >=3`) are dependency requirements: stored as written,
never evaluated by the registry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import semver

from services.registry.ecosystems.interface import EcosystemRules, InvalidName, InvalidVersion, VersionKey
from shared.messages.artifacts import Ecosystem

MAX_NAME_LENGTH = 214
MAX_VERSION_LENGTH = 256  # node-semver's MAX_LENGTH
MAX_SAFE_INTEGER = 2**53 - 1  # node-semver refuses numeric parts past JavaScript's safe integers

# validate-npm-package-name 7.0.2's builtin-modules.json: Node's core modules (a legacy name if taken).
NODE_BUILTINS = frozenset(
    [
        "_http_agent",
        "_http_client",
        "_http_common",
        "_http_incoming",
        "_http_outgoing",
        "_http_server",
        "_stream_duplex",
        "_stream_passthrough",
        "_stream_readable",
        "_stream_transform",
        "_stream_wrap",
        "_stream_writable",
        "_tls_common",
        "_tls_wrap",
        "assert",
        "assert/strict",
        "async_hooks",
        "buffer",
        "child_process",
        "cluster",
        "console",
        "constants",
        "crypto",
        "dgram",
        "diagnostics_channel",
        "dns",
        "dns/promises",
        "domain",
        "events",
        "fs",
        "fs/promises",
        "http",
        "http2",
        "https",
        "inspector",
        "inspector/promises",
        "module",
        "net",
        "os",
        "path",
        "path/posix",
        "path/win32",
        "perf_hooks",
        "process",
        "punycode",
        "querystring",
        "readline",
        "readline/promises",
        "repl",
        "stream",
        "stream/consumers",
        "stream/promises",
        "stream/web",
        "string_decoder",
        "sys",
        "timers",
        "timers/promises",
        "tls",
        "trace_events",
        "tty",
        "url",
        "util",
        "util/types",
        "v8",
        "vm",
        "wasi",
        "worker_threads",
        "zlib",
        "node:sea",
        "node:sqlite",
        "node:test",
        "node:test/reporters",
    ]
)
EXCLUDED_NAMES = ("node_modules", "favicon.ico")

_SCOPED = re.compile(r"^(?:@([^/]+?)/)?([^/]+?)$")
# What JavaScript's encodeURIComponent leaves as it is.
_URL_SAFE = re.compile(r"^[A-Za-z0-9\-_.!~*'()]*$")
_SPECIAL = re.compile(r"[~'!()*]")
_SIMILAR_PUNCTUATION = re.compile(r"[._-]")


@dataclass(frozen=True, slots=True)
class NameCheck:
    """validate-npm-package-name's verdict: errors make a name invalid; warnings mark a legacy name
    (valid for packages published long ago, refused for new ones)."""

    errors: tuple[str, ...]
    warnings: tuple[str, ...]

    @property
    def valid_for_new_packages(self) -> bool:
        return not self.errors and not self.warnings

    @property
    def valid_for_old_packages(self) -> bool:
        return not self.errors


def check_name(name: str) -> NameCheck:
    """validate-npm-package-name 7.0.2, rule for rule and message for message."""
    errors: list[str] = []
    warnings: list[str] = []
    if not name:
        errors.append("name length must be greater than zero")
    if name.startswith("."):
        errors.append("name cannot start with a period")
    if name.startswith("-"):
        errors.append("name cannot start with a hyphen")
    if name.startswith("_"):
        errors.append("name cannot start with an underscore")
    if name.strip() != name:
        errors.append("name cannot contain leading or trailing spaces")
    errors.extend(f"{e} is not a valid package name" for e in EXCLUDED_NAMES if name.lower() == e)
    if name.lower() in NODE_BUILTINS:
        warnings.append(f"{name} is a core module name")
    if len(name) > MAX_NAME_LENGTH:
        warnings.append(f"name can no longer contain more than {MAX_NAME_LENGTH} characters")
    if name.lower() != name:
        warnings.append("name can no longer contain capital letters")
    if _SPECIAL.search(name.split("/")[-1]):
        warnings.append('name can no longer contain special characters ("~\'!()*")')
    if not _URL_SAFE.match(name):
        scoped = _SCOPED.match(name)  # also matches unscoped names without a slash, as in JS
        if scoped:
            scope, bare = scoped.group(1), scoped.group(2)
            if bare.startswith("."):
                errors.append("name cannot start with a period")
            if scope is not None and _URL_SAFE.match(scope) and _URL_SAFE.match(bare):
                return NameCheck(tuple(errors), tuple(warnings))
        errors.append("name can only contain URL-friendly characters")
    return NameCheck(tuple(errors), tuple(warnings))


def split_scope(name: str) -> tuple[str | None, str]:
    """(`@scope` or None, the name after the scope)."""
    if name.startswith("@") and "/" in name:
        scope, bare = name.split("/", 1)
        return scope, bare
    return None, name


def similarity_key(name: str) -> str:
    """What npmjs compares to refuse a new name "too similar to existing packages": lower case,
    without `.`, `_` and `-` (a guard against typo-squatting and confusion, used by the service)."""
    scope, bare = split_scope(name.lower())
    key = _SIMILAR_PUNCTUATION.sub("", bare)
    return f"{scope}/{key}" if scope else key


def _parse(version: str) -> semver.Version:
    if len(version) > MAX_VERSION_LENGTH:
        raise InvalidVersion(f"version longer than {MAX_VERSION_LENGTH} characters")
    text = version.strip()  # node-semver trims, and its strict form allows a leading `v`
    text = text[1:] if text.startswith("v") else text
    try:
        parsed = semver.Version.parse(text)
    except (ValueError, TypeError):
        raise InvalidVersion(f"{version!r} is not a semantic version (SemVer 2.0.0)") from None
    if max(parsed.major, parsed.minor, parsed.patch) > MAX_SAFE_INTEGER:
        raise InvalidVersion(f"{version!r}: a number past {MAX_SAFE_INTEGER}")
    return parsed


class NpmRules(EcosystemRules):
    ecosystem = Ecosystem.NPM

    def normalize_name(self, name: str) -> str:
        # npm names are case-sensitive (legacy `JSONStream` is not `jsonstream`); new names are lower
        # case by rule, so the name as published is the stored form.
        return name

    def validate_name(self, name: str) -> None:
        """Raises `InvalidName` unless `name` is valid for a new package (what npmjs accepts)."""
        check = check_name(name)
        if not check.valid_for_new_packages:
            raise InvalidName(
                f"{name!r} is not a valid npm package name: " + "; ".join(check.errors + check.warnings)
            )

    def validate_existing_name(self, name: str) -> None:
        """Accepts legacy names too (capitals, core module names, > 214 characters): for reading
        packages that exist upstream, never for publishing new ones."""
        check = check_name(name)
        if not check.valid_for_old_packages:
            raise InvalidName(f"{name!r} is not a valid npm package name: " + "; ".join(check.errors))

    def parse_version(self, version: str) -> VersionKey:
        return _parse(version)

    def normalize_version(self, version: str) -> str:
        """node-semver's canonical form (what `npm publish` sends): no `v`, no build metadata."""
        return str(_parse(version).replace(build=None))

    def is_prerelease(self, version: str) -> bool:
        return _parse(version).prerelease is not None

    def purl_parts(self, name: str) -> tuple[str | None, str]:
        return split_scope(name)


NPM = NpmRules()
