"""Prompts from the edge (`GET /api/v1/prompts/{name}?label=|version=`) behind a TTL cache.

Within the TTL a prompt is served from memory (no request). After it, the cached copy is served at
once and one background revalidation asks the edge with If-None-Match (304 keeps the copy, 200
replaces it: a label moved). When the edge cannot be reached or answers 5xx (or 408/429), the last
good copy keeps being served, marked `stale` (and logged once); a caller's `fallback` is served only
while there has never been a good copy. Any other error (404: no such prompt, label or version;
401/403) is raised, also when a revalidation gets it: the cache never hides it.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Optional, Union
from urllib.parse import quote, urlencode

from mno_sdk.background import Background
from mno_sdk.errors import MnoApiError, MnoUnavailable
from mno_sdk.protocol import error_of
from mno_sdk.transport import ConnectionPool, HttpAnswer

log = logging.getLogger("mno_sdk")

PROMPTS_PATH = "/api/v1/prompts"
DEFAULT_LABEL = "production"
# A caller's stand-in for a prompt the edge never served: a text template, or a prompt document
# as the edge stores it ({"type": "chat", "messages": [...], "config": {...}}).
Fallback = Union[str, Mapping[str, Any]]
_Key = tuple[str, Optional[str], Optional[int]]


def transient(status: int) -> bool:
    """Answers that say nothing about the prompt, only about the edge's health right now."""
    return status in (408, 429) or status >= 500


@dataclass(frozen=True)
class Prompt:
    """One version of a prompt as the edge answered it (or the caller's fallback).

    `stale`: the edge could not be reached or answered 5xx when last asked: this is the last good
    copy. `fallback`: the edge never answered for this prompt: this is the caller's `fallback`
    (`version` is None). `error` says what went wrong in both cases.
    """

    name: str
    version: int | None
    type: str
    document: Mapping[str, Any]
    labels: tuple[str, ...] = ()
    content_hash: str | None = None
    stale: bool = False
    fallback: bool = False
    error: str | None = None

    @property
    def template(self) -> str | None:
        """A text prompt's template."""
        value = self.document.get("template")
        return value if isinstance(value, str) else None

    @property
    def messages(self) -> list[dict[str, Any]] | None:
        """A chat prompt's messages (role and content templates)."""
        value = self.document.get("messages")
        return list(value) if isinstance(value, list) else None

    @property
    def config(self) -> dict[str, Any]:
        value = self.document.get("config")
        return dict(value) if isinstance(value, dict) else {}

    @property
    def variables(self) -> dict[str, Any]:
        value = self.document.get("variables")
        return dict(value) if isinstance(value, dict) else {}


@dataclass(frozen=True)
class RenderedPrompt:
    """A version rendered by the edge: includes resolved, variables type-checked. Pass it as
    `prompt=` when recording the call: its content hash travels with the token event as the tag
    `prompt_hash`, with its name and version."""

    name: str
    version: int
    type: str
    text: str | None
    messages: list[dict[str, str]] | None
    config: dict[str, Any]
    content_hash: str
    includes: list[dict[str, Any]]


def prompt_of(data: Any) -> Prompt:
    """A `Prompt` from the edge's JSON (PromptVersionInfo); ValueError when it is not that shape."""
    try:
        document = data["document"]
        if not isinstance(document, dict):
            raise TypeError("document")
        return Prompt(
            name=str(data["name"]),
            version=int(data["version"]),
            type=str(data["type"]),
            document=document,
            labels=tuple(str(label) for label in data.get("labels", ())),
            content_hash=data.get("content_hash"),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"the answer is not a prompt version: {error}") from None


def fallback_prompt(name: str, fallback: Fallback, error: str) -> Prompt:
    document: dict[str, Any] = (
        {"name": name, "type": "text", "template": fallback}
        if isinstance(fallback, str)
        else {"name": name, **fallback}
    )
    kind = str(document.get("type") or ("chat" if "messages" in document else "text"))
    return Prompt(name=name, version=None, type=kind, document=document, fallback=True, error=error)


def lookup_path(name: str, label: str | None, version: int | None) -> str:
    query = {"version": str(version)} if version is not None else {"label": label or DEFAULT_LABEL}
    return f"{PROMPTS_PATH}/{quote(name, safe='')}?{urlencode(query)}"


def _describe(answer: HttpAnswer) -> str:
    return str(error_of(answer.status, answer.body, answer.request_id))


@dataclass
class _Entry:
    prompt: Prompt | None = None  # the last good copy
    etag: str | None = None
    checked_at: float = 0.0  # when the edge last answered (or failed to) for this key
    refreshing: bool = False
    error: str | None = None  # why the last try failed, while the edge is down
    refused: MnoApiError | None = None  # a revalidation's non-transient error: raised at the next get


class PromptCache:
    """Thread-safe; the lock is never held during I/O."""

    def __init__(
        self,
        pool: ConnectionPool,
        background: Background,
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pool = pool
        self._background = background
        self._ttl = ttl
        self._clock = clock
        self._entries: dict[_Key, _Entry] = {}
        self._lock = threading.Lock()

    def get(
        self,
        name: str,
        label: str | None,
        version: int | None,
        fallback: Fallback | None = None,
        ttl: float | None = None,
    ) -> Prompt:
        key: _Key = (name, None if version is not None else (label or DEFAULT_LABEL), version)
        ttl = self._ttl if ttl is None else ttl
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.refused is not None:
                refused = entry.refused
                del self._entries[key]
                raise refused
            if entry is not None and entry.prompt is not None:
                if now - entry.checked_at >= ttl and not entry.refreshing:
                    entry.refreshing = True
                    if not self._background.submit(lambda: self._revalidate(key)):
                        entry.refreshing = False
                if entry.error is None:
                    return entry.prompt
                return dataclasses.replace(entry.prompt, stale=True, error=entry.error)
            if entry is not None and entry.error is not None and now - entry.checked_at < ttl:
                # The edge failed moments ago and never answered for this prompt: no new try yet.
                return self._no_copy(name, fallback, entry.error)
        return self._fetch(key, fallback)

    def _fetch(self, key: _Key, fallback: Fallback | None) -> Prompt:
        try:
            answer = self._pool.request("GET", lookup_path(*key))
        except (OSError, http.client.HTTPException) as error:  # no answer came
            return self._failed_first(key, fallback, f"the edge could not be reached: {error!r}")
        if transient(answer.status):
            return self._failed_first(key, fallback, _describe(answer))
        if answer.status != 200:
            raise error_of(answer.status, answer.body, answer.request_id)
        prompt = self._parse(answer)
        with self._lock:
            self._entries[key] = _Entry(prompt, answer.etag, self._clock())
        return prompt

    def _failed_first(self, key: _Key, fallback: Fallback | None, error: str) -> Prompt:
        with self._lock:
            entry = self._entries.setdefault(key, _Entry())
            entry.error, entry.checked_at = error, self._clock()
        log.warning("mno_sdk: prompt %s: %s; no good copy yet", key[0], error)
        return self._no_copy(key[0], fallback, error)

    @staticmethod
    def _no_copy(name: str, fallback: Fallback | None, error: str) -> Prompt:
        if fallback is None:
            raise MnoUnavailable(f"prompt {name}: {error} (and no fallback was given)")
        return fallback_prompt(name, fallback, error)

    def _parse(self, answer: HttpAnswer) -> Prompt:
        try:
            return prompt_of(json.loads(answer.body))
        except ValueError as error:
            raise MnoApiError(
                answer.status, "unexpected_response", str(error), request_id=answer.request_id
            ) from None

    def _revalidate(self, key: _Key) -> None:
        with self._lock:
            entry = self._entries.get(key)
            etag = entry.etag if entry is not None else None
        headers = {"If-None-Match": etag} if etag else {}
        error: str | None = None
        refused: MnoApiError | None = None
        prompt: Prompt | None = None
        new_etag: str | None = None
        try:
            answer = self._pool.request("GET", lookup_path(*key), headers=headers)
        except (OSError, http.client.HTTPException) as failure:  # no answer came
            error = f"the edge could not be reached: {failure!r}"
        else:
            if transient(answer.status):
                error = _describe(answer)
            elif answer.status == 200:
                try:
                    prompt, new_etag = self._parse(answer), answer.etag
                except MnoApiError as bad:
                    refused = bad
            elif answer.status != 304:
                refused = error_of(answer.status, answer.body, answer.request_id)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return
            entry.refreshing = False
            entry.checked_at = self._clock()
            was_down = entry.error is not None
            entry.error = error
            entry.refused = refused
            if prompt is not None:
                entry.prompt, entry.etag = prompt, new_etag
        if error is not None and not was_down:
            log.warning("mno_sdk: prompt %s: %s; serving the last good copy", key[0], error)
        elif error is None and was_down:
            log.info("mno_sdk: prompt %s: the edge answers again", key[0])
        if refused is not None:
            log.warning("mno_sdk: prompt %s: %s", key[0], refused)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def render_body(label: str | None, version: int | None, variables: Mapping[str, Any]) -> bytes:
    body: dict[str, Any] = {"variables": dict(variables)}
    if version is not None:
        body["version"] = version
    else:
        body["label"] = label or DEFAULT_LABEL
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def rendered_of(data: Any) -> RenderedPrompt:
    try:
        messages: Sequence[Any] | None = data.get("messages")
        return RenderedPrompt(
            name=str(data["name"]),
            version=int(data["version"]),
            type=str(data["type"]),
            text=data.get("text"),
            messages=None if messages is None else [dict(m) for m in messages],
            config=dict(data.get("config") or {}),
            content_hash=str(data["content_hash"]),
            includes=[dict(i) for i in data.get("includes") or ()],
        )
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        raise ValueError(f"the answer is not a rendered prompt: {error}") from None
