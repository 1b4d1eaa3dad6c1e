"""Wiring of the learning agent: its subjects and consumers."""

from agents.learning.evaluations_wiring import wire_evaluations
from services.prompts.experiments import Experiments
from services.prompts.service import Prompts, answers
from services.prompts.store import purge_teams
from shared.mesh import install_mesh
from shared.messages.agents import AgentName
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
)
from shared.runtime import AgentRuntime

AGENT = AgentName.LEARNING


async def setup(runtime: AgentRuntime) -> None:
    pool = await runtime.open_postgres()
    mesh = install_mesh(runtime, pool)
    mesh.purge.register(purge_teams)
    prompts = Prompts(pool)
    service = runtime.service
    service.add(PROMPT_SAVE, answers(prompts.save))
    service.add(PROMPT_IMPORT_FILE, answers(prompts.import_file))
    service.add(PROMPT_LIST, answers(prompts.list_prompts))
    service.add(PROMPT_VERSIONS, answers(prompts.versions))
    service.add(PROMPT_GET, answers(prompts.get))
    service.add(PROMPT_RENDER, answers(prompts.render))
    service.add(PROMPT_DIFF, answers(prompts.diff))
    service.add(PROMPT_MOVE_LABEL, answers(prompts.move))
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
