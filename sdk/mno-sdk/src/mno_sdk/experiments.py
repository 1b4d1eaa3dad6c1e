"""Prompt experiments assigned locally: the definition (`GET /api/v1/experiments/{id}`) is fetched
once and cached with a TTL as prompts are (served at once after it, revalidated in the background,
the last good copy kept while the edge is down); each `assign` then runs `mno_wire.assignment`, the
function the server checks exposures with, with no request. The first assignment of a unit logs
its exposure (`POST .../exposures`) in the background, once per (experiment, unit) in this process
(the server keeps the first one too). A variant the edge answers 409 `variant_stopped` for (a
guardrail stopped it) is served as the control from then on, as are units outside the
experiment's coverage and every unit of an experiment that is not running; none of those is an
exposure, and their assignments carry no tags.

Exposures are sent in batches (`POST .../exposures/batch`, up to `EXPOSURE_BATCH` units of one
experiment a call, each answered on its own): a batch goes when `EXPOSURE_BATCH` wait, else at the
latest `EXPOSURE_INTERVAL` seconds after the first one queued, or at once on `flush`/`close`.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from mno_sdk.background import Background
from mno_sdk.errors import MnoApiError, MnoUnavailable
from mno_sdk.prompts import transient
from mno_sdk.protocol import error_of
from mno_sdk.transport import ConnectionPool
from mno_wire.assignment import Experiment, Variant, assign

log = logging.getLogger("mno_sdk")

EXPERIMENTS_PATH = "/api/v1/experiments"
# Units remembered as logged per process; past it the memory starts afresh (the server dedups).
MAX_LOGGED_UNITS = 1_000_000
EXPOSURE_BATCH = 1_000  # the batch route's limit
EXPOSURE_INTERVAL = 0.25  # seconds an exposure waits at most for others to share its request


@dataclass(frozen=True)
class ExperimentAssignment:
    """What to serve a unit: `variant`'s prompt `version`.

    `in_experiment` is False (and `variant` the control) when the unit is outside the coverage,
    its variant was stopped, or the experiment is not running: no exposure is logged for it.
    """

    experiment_id: str
    unit_id: str
    prompt: str
    variant: str
    version: int
    in_experiment: bool

    @property
    def tags(self) -> dict[str, str]:
        """The token-event tags that count the call for its variant (`record(..., tags=...)`)."""
        if not self.in_experiment:
            return {}
        return {"experiment": self.experiment_id, "variant": self.variant, "unit": self.unit_id}


@dataclass(frozen=True)
class Definition:
    id: str
    prompt: str
    status: str
    control: str
    versions: Mapping[str, int]
    stopped: frozenset[str]
    experiment: Experiment


def definition_of(data: Any) -> Definition:
    """A `Definition` from the edge's JSON (ExperimentInfo); ValueError when it is not that shape."""
    try:
        variants = data["variants"]
        experiment = Experiment(
            str(data["seed"]),
            tuple(Variant(str(v["key"]), float(v["weight"])) for v in variants),
            float(data.get("coverage", 1.0)),
        )
        return Definition(
            id=str(data["id"]),
            prompt=str(data["prompt"]),
            status=str(data["status"]),
            control=experiment.keys[0],
            versions={str(v["key"]): int(v["version"]) for v in variants},
            stopped=frozenset(str(v["key"]) for v in variants if v.get("stopped")),
            experiment=experiment,
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"the answer is not an experiment: {error}") from None


def decide(
    definition: Definition, unit_id: str, stopped: frozenset[str] | set[str] = frozenset()
) -> tuple[str, bool]:
    """(variant to serve, whether the unit is in the experiment) for one unit: pure."""
    if definition.status != "running":
        return definition.control, False
    variant = assign(definition.experiment, unit_id).variant
    if variant is None or variant in definition.stopped or variant in stopped:
        return definition.control, False
    return variant, True


@dataclass
class _Entry:
    definition: Definition | None = None
    checked_at: float = 0.0
    refreshing: bool = False
    error: str | None = None
    refused: MnoApiError | None = None


class Experiments:
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
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._stopped: dict[str, set[str]] = {}  # variants the edge answered `variant_stopped` for
        self._ended: set[str] = set()  # experiments the edge answered `not_running` for
        self._logged: set[tuple[str, str]] = set()
        self._unlogged = 0  # exposures not logged for want of an answer (logged 1st, 1001st, ...)
        self._pending: list[tuple[str, str, str]] = []  # (experiment, unit, variant) not sent yet
        self._timer = False  # a background task waits to send `_pending`
        self._wake = threading.Event()  # set: that task sends now

    def assign(self, experiment_id: str, unit_id: str, ttl: float | None = None) -> ExperimentAssignment:
        if not unit_id:
            raise ValueError("a unit id (user or session) is required")
        definition = self._definition(experiment_id, self._ttl if ttl is None else ttl)
        with self._lock:
            stopped = frozenset(self._stopped.get(experiment_id, ()))
            ended = experiment_id in self._ended
        variant, inside = (definition.control, False) if ended else decide(definition, unit_id, stopped)
        unit = (experiment_id, unit_id)
        log_it = False
        if inside:
            with self._lock:
                log_it = unit not in self._logged
                if log_it:
                    if len(self._logged) >= MAX_LOGGED_UNITS:
                        self._logged.clear()
                    self._logged.add(unit)
        if log_it:
            self._queue(experiment_id, unit_id, variant)
        return ExperimentAssignment(
            experiment_id, unit_id, definition.prompt, variant, definition.versions[variant], inside
        )

    # ---- the definition ----------------------------------------------------------------------

    def _definition(self, experiment_id: str, ttl: float) -> Definition:
        now = self._clock()
        with self._lock:
            entry = self._entries.get(experiment_id)
            if entry is not None and entry.refused is not None:
                del self._entries[experiment_id]
                raise entry.refused
            if entry is not None and entry.definition is not None:
                if now - entry.checked_at >= ttl and not entry.refreshing:
                    entry.refreshing = True
                    if not self._background.submit(lambda: self._refresh(experiment_id)):
                        entry.refreshing = False
                return entry.definition
            if entry is not None and entry.error is not None and now - entry.checked_at < ttl:
                raise MnoUnavailable(f"experiment {experiment_id}: {entry.error}")
        definition, error, refused = self._get(experiment_id)
        with self._lock:
            entry = self._entries.setdefault(experiment_id, _Entry())
            entry.checked_at = self._clock()
            if definition is not None:
                entry.definition, entry.error = definition, None
                return definition
            if refused is not None:
                del self._entries[experiment_id]
                raise refused
            entry.error = error
        log.warning("mno_sdk: experiment %s: %s; no definition yet", experiment_id, error)
        raise MnoUnavailable(f"experiment {experiment_id}: {error}")

    def _get(self, experiment_id: str) -> tuple[Definition | None, str | None, MnoApiError | None]:
        """(definition, transient error, other error): exactly one is set."""
        try:
            answer = self._pool.request("GET", f"{EXPERIMENTS_PATH}/{quote(experiment_id, safe='')}")
        except (OSError, http.client.HTTPException) as failure:  # no answer came
            return None, f"the edge could not be reached: {failure!r}", None
        if transient(answer.status):
            return None, str(error_of(answer.status, answer.body, answer.request_id)), None
        if answer.status != 200:
            return None, None, error_of(answer.status, answer.body, answer.request_id)
        try:
            return definition_of(json.loads(answer.body)), None, None
        except ValueError as bad:
            return None, None, MnoApiError(answer.status, "unexpected_response", str(bad))

    def _refresh(self, experiment_id: str) -> None:
        definition, error, refused = self._get(experiment_id)
        with self._lock:
            entry = self._entries.get(experiment_id)
            if entry is None:
                return
            entry.refreshing = False
            entry.checked_at = self._clock()
            was_down = entry.error is not None
            entry.error, entry.refused = error, refused
            if definition is not None:
                entry.definition = definition
        if error is not None and not was_down:
            log.warning(
                "mno_sdk: experiment %s: %s; assigning with the last good definition", experiment_id, error
            )
        if refused is not None:
            log.warning("mno_sdk: experiment %s: %s", experiment_id, refused)

    # ---- exposures ---------------------------------------------------------------------------

    def _queue(self, experiment_id: str, unit_id: str, variant: str) -> None:
        with self._lock:
            self._pending.append((experiment_id, unit_id, variant))
            full = len(self._pending) >= EXPOSURE_BATCH
            start_timer = not self._timer
            if start_timer:
                self._timer = True
                self._wake.clear()
        if full and not self._background.submit(self._send_pending):
            self._drop_pending()
        if start_timer and not self._background.submit(self._send_later):
            with self._lock:
                self._timer = False
            self._drop_pending()

    def flush(self) -> None:
        """Send the queued exposures now (the waiting task wakes up; `Background.wait_idle` waits)."""
        self._wake.set()

    def _drop_pending(self) -> None:
        """Not queued (the background is closed or full): forgotten, the next assignment logs again."""
        with self._lock:
            dropped, self._pending = self._pending, []
            for experiment_id, unit_id, _ in dropped:
                self._logged.discard((experiment_id, unit_id))

    def _send_later(self) -> None:
        self._wake.wait(EXPOSURE_INTERVAL)
        with self._lock:
            self._timer = False
        self._send_pending()

    def _send_pending(self) -> None:
        with self._lock:
            taken, self._pending = self._pending, []
        by_experiment: dict[str, list[tuple[str, str]]] = {}
        for experiment_id, unit_id, variant in taken:
            by_experiment.setdefault(experiment_id, []).append((unit_id, variant))
        for experiment_id, items in by_experiment.items():
            for start in range(0, len(items), EXPOSURE_BATCH):
                self._expose(experiment_id, items[start : start + EXPOSURE_BATCH])

    def _expose(self, experiment_id: str, items: list[tuple[str, str]]) -> None:
        body = json.dumps({"exposures": [{"unit_id": u, "variant": v} for u, v in items]}).encode()
        path = f"{EXPERIMENTS_PATH}/{quote(experiment_id, safe='')}/exposures/batch"
        try:
            answer = self._pool.request("POST", path, body)
        except (OSError, http.client.HTTPException) as failure:
            # No answer: forgotten, so the units' next assignments log them again.
            self._forget(experiment_id, items, f"the edge could not be reached: {failure!r}")
            return
        if answer.status == 200:
            try:
                outcomes = json.loads(answer.body)["items"]
            except (ValueError, KeyError, TypeError):
                outcomes = []
            for outcome in outcomes:
                if isinstance(outcome, dict) and outcome.get("status") == "refused":
                    self._refused(experiment_id, outcome)
            return
        error = error_of(answer.status, answer.body, answer.request_id)
        if transient(answer.status):
            self._forget(experiment_id, items, str(error))
            return
        kind = str(error.details[0].get("type")) if error.details else ""
        if answer.status == 409 and kind == "not_running":
            with self._lock:
                self._ended.add(experiment_id)
            log.info("mno_sdk: experiment %s is not running; serving the control", experiment_id)
        else:
            log.warning(
                "mno_sdk: experiment %s: %d exposures were refused: %s", experiment_id, len(items), error
            )

    def _refused(self, experiment_id: str, outcome: Mapping[str, Any]) -> None:
        variant, reason = str(outcome.get("variant")), outcome.get("reason")
        if reason == "variant_stopped":
            with self._lock:
                known = variant in self._stopped.setdefault(experiment_id, set())
                self._stopped[experiment_id].add(variant)
            if not known:
                log.info(
                    "mno_sdk: experiment %s: variant %s was stopped; serving the control",
                    experiment_id,
                    variant,
                )
        else:
            log.warning(
                "mno_sdk: experiment %s: the exposure of %s was refused: %s (%s)",
                experiment_id,
                outcome.get("unit_id"),
                reason,
                outcome.get("message"),
            )

    def _forget(self, experiment_id: str, items: list[tuple[str, str]], error: str) -> None:
        with self._lock:
            for unit_id, _ in items:
                self._logged.discard((experiment_id, unit_id))
            before = self._unlogged
            self._unlogged += len(items)
            count = self._unlogged
        if before // 1000 != count // 1000 or before == 0:
            log.warning(
                "mno_sdk: experiment %s: %d exposures are not logged yet (%d so far): %s",
                experiment_id,
                len(items),
                count,
                error,
            )
