"""Wiring of the learning agent: its subjects and consumers."""

from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from agents.learning.evaluations_wiring import wire_evaluations
from services.prompts.experiments import Experiments
from services.prompts.service import Prompts, answers
from services.prompts.store import purge_teams
from shared.bus.context import MessageContext
from shared.mesh import install_mesh
from shared.messages.agents import AgentName
from shared.messages.envelope import Principal
from shared.messages.prompts import PromptsChanged
from shared.messages.registry import (
    EXPERIMENT_CREATE,
    EXPERIMENT_EXPOSURE,
    EXPERIMENT_EXPOSURE_BATCH,
    EXPERIMENT_GET,
    EXPERIMENT_LIST,
    EXPERIMENT_RESULTS,
    EXPERIMENT_SCORE,
    EXPERIMENT_START,
    EXPERIMENT_STOP,
    PROMPT_APPROVE,
    PROMPT_CONFIG_SCHEMA,
    PROMPT_CONFIG_SCHEMA_SET,
    PROMPT_DIFF,
    PROMPT_GET,
    PROMPT_IMPACT,
    PROMPT_IMPORT_FILE,
    PROMPT_LIST,
    PROMPT_MOVE_LABEL,
    PROMPT_POLICY,
    PROMPT_POLICY_SET,
    PROMPT_RENDER,
    PROMPT_SAVE,
    PROMPT_VERSIONS,
    PROMPTS_CHANGED,
)
from shared.runtime import AgentRuntime

AGENT = AgentName.LEARNING

log = structlog.get_logger("mno.learning")


def announcing(
    runtime: AgentRuntime,
    handler: Callable[[Any, MessageContext], Awaitable[Any]],
    changed: Callable[[Any], str | None],
) -> Callable[[Any, MessageContext], Awaitable[Any]]:
    """`handler`, then a `PROMPTS_CHANGED` notice for the prompt `changed` names in its answer (None:
    nothing a read answers changed). The change is committed by then: a notice that cannot be sent
    is logged, not raised, and the edges' cache expiry bounds how long they answer the older read."""

    async def handle(request: Any, ctx: MessageContext) -> Any:
        answer = await handler(request, ctx)
        name = changed(answer)
        if name is not None and ctx.principal is not None and ctx.principal.team_id is not None:
            notice = PromptsChanged(team_id=ctx.principal.team_id, name=name)
            try:
                await runtime.bus.notify(
                    PROMPTS_CHANGED, notice, MessageContext(principal=Principal.system())
                )
            except Exception as error:  # the bus is down; the change itself stands
                log.warning("prompts_changed notice not sent", prompt=name, error=repr(error))
        return answer

    return handle


async def setup(runtime: AgentRuntime) -> None:
    pool = await runtime.open_postgres()
    mesh = install_mesh(runtime, pool)
    mesh.purge.register(purge_teams)
    prompts = Prompts(pool)
    service = runtime.service
    saved = announcing(runtime, answers(prompts.save), lambda a: a.prompt.name if a.created else None)
    service.add(PROMPT_SAVE, saved)
    imported = announcing(
        runtime, answers(prompts.import_file), lambda a: a.prompt.name if a.created else None
    )
    service.add(PROMPT_IMPORT_FILE, imported)
    service.add(PROMPT_LIST, answers(prompts.list_prompts))
    service.add(PROMPT_VERSIONS, answers(prompts.versions))
    service.add(PROMPT_GET, answers(prompts.get))
    service.add(PROMPT_RENDER, answers(prompts.render))
    service.add(PROMPT_DIFF, answers(prompts.diff))
    service.add(
        PROMPT_MOVE_LABEL, announcing(runtime, answers(prompts.move), lambda a: a.name if a.changed else None)
    )
    service.add(PROMPT_APPROVE, answers(prompts.approve))
    service.add(PROMPT_IMPACT, answers(prompts.impact))
    service.add(PROMPT_POLICY, answers(prompts.policy))
    service.add(PROMPT_POLICY_SET, answers(prompts.set_policy))
    service.add(PROMPT_CONFIG_SCHEMA, answers(prompts.config_schema))
    service.add(PROMPT_CONFIG_SCHEMA_SET, answers(prompts.set_config_schema))
    wire_evaluations(runtime, pool)
    experiments = Experiments(pool, runtime.bus)
    service.add(EXPERIMENT_CREATE, experiments.create)
    service.add(EXPERIMENT_LIST, experiments.list)
    service.add(EXPERIMENT_GET, experiments.get)
    service.add(EXPERIMENT_START, experiments.start)
    service.add(EXPERIMENT_STOP, experiments.stop)
    service.add(EXPERIMENT_EXPOSURE, experiments.expose)
    service.add(EXPERIMENT_EXPOSURE_BATCH, experiments.expose_batch)
    service.add(EXPERIMENT_SCORE, experiments.score)
    service.add(EXPERIMENT_RESULTS, experiments.results)
    # Guardrails hold while nobody reads the results (reading applies them too).
    runtime.every(
        "experiment-guardrails",
        runtime.settings.experiments.guardrail_check_interval_seconds,
        experiments.check_guardrails,
    )
