"""The LearningAgent's evaluation endpoints: a prompt's test set, and runs of a candidate version
against it. A run answers at once (`running`) and goes on in the background: a test set of up to
1,000 cases at a model's seconds per call outlasts any request deadline, and a caller that gave up
would not stop the calls it paid for. Its status and cases are read back by id; the promotion gate
reads its outcome. A run outliving its deadline (its agent stopped mid-run) is marked `failed` when
next read, so no replica waits on another's run."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import structlog
from pydantic import ValidationError

from mno_wire.usage import Usage
from services.prompts import evaluation_store as runs_store
from services.prompts import store
from services.prompts.evaluation import TestSet
from services.prompts.evaluation_runs import RunOutcome, deadline_seconds, run_test_set
from services.prompts.model import PromptDocument
from services.prompts.model_calls import ChatModel
from services.prompts.rendering import PromptVersion
from services.prompts.service import _resolver, actor
from shared.bus.codec import validation_details
from shared.bus.context import MessageContext
from shared.bus.errors import AgentError, BusError
from shared.db.inbox import Connection
from shared.messages.envelope import ErrorCode
from shared.messages.permissions import Permission
from shared.messages.prompt_evaluations import (
    AssertionResultInfo,
    EvaluationCaseInfo,
    EvaluationList,
    EvaluationRef,
    EvaluationRunInfo,
    ListEvaluations,
    PriceQuote,
    PriceQuoteRequest,
    PutTestSet,
    StartEvaluation,
    TestSetBody,
    TestSetInfo,
    TestSetRef,
)
from shared.principals import team_with

log = structlog.get_logger(__name__)

# Asks the MonitoringAgent for a price (the registry's PRICE_QUOTE through the bus), as the caller.
Quoter = Callable[[PriceQuoteRequest, MessageContext], Any]


def _not_found(what: str, loc: str = "name") -> AgentError:
    return AgentError(ErrorCode.NOT_FOUND, f"{what} does not exist", [{"loc": loc, "type": "not_found"}])


def _test_set_info(name: str, row: runs_store.TestSetRow) -> TestSetInfo:
    return TestSetInfo(
        name=name,
        revision=row.revision,
        updated_by=row.updated_by,
        updated_at=row.updated_at,
        test_set=TestSetBody.model_validate(row.test_set),
    )


def _run_info(name: str, row: runs_store.RunRow, cases: list[runs_store.CaseRow]) -> EvaluationRunInfo:
    costs = [c.cost_usd for c in cases if c.cost_usd is not None]
    return EvaluationRunInfo(
        id=row.id,
        name=name,
        version=row.version,
        status=row.status,
        model=row.model,
        passed=row.passed,
        pass_rate=row.pass_rate,
        min_pass_rate=row.min_pass_rate,
        cases_total=row.cases_total,
        started_by=row.started_by,
        started_at=row.started_at,
        finished_at=row.finished_at,
        error=row.error,
        cost_usd=sum(costs, Decimal(0)) if costs else None,
        cases=[
            EvaluationCaseInfo(
                case_id=c.case_id,
                passed=c.passed,
                output=c.output,
                latency_ms=c.latency_ms,
                cost_usd=c.cost_usd,
                input_tokens=c.input_tokens,
                output_tokens=c.output_tokens,
                error=c.error,
                assertions=[AssertionResultInfo.model_validate(a) for a in c.assertions],
            )
            for c in cases
        ],
    )


def case_rows(outcome: RunOutcome) -> list[runs_store.CaseRow]:
    rows = []
    for judged in outcome.result.cases:
        ran = outcome.cases.get(judged.case_id)
        usage = None if ran is None else ran.usage
        rows.append(
            runs_store.CaseRow(
                case_id=judged.case_id,
                passed=judged.passed,
                output="" if ran is None else ran.observation.output,
                latency_ms=None if ran is None else ran.observation.latency_ms,
                cost_usd=None if ran is None else ran.cost_usd,
                input_tokens=None if usage is None else usage.total_input_tokens,
                output_tokens=None if usage is None else usage.output_tokens + usage.reasoning_tokens,
                error=judged.error,
                assertions=[
                    {"type": a.type, "passed": a.passed, "reason": a.reason} for a in judged.assertions
                ],
            )
        )
    return rows


class Evaluations:
    def __init__(
        self,
        pool: Any,
        chat: ChatModel | None,
        quote: Quoter,
        *,
        provider: str,
        call_timeout: float,
        concurrency: int,
    ) -> None:
        self._pool = pool
        self._chat = chat
        self._quote = quote
        self._provider = provider
        self._call_timeout = call_timeout
        self._concurrency = concurrency
        self._running: dict[str, asyncio.Task[None]] = {}

    async def _prompt(self, conn: Connection, team_id: str, name: str) -> store.PromptRow:
        found = await store.prompt(conn, team_id, name)
        if found is None:
            raise _not_found(f"prompt {name}")
        return found

    async def put_test_set(self, request: PutTestSet, ctx: MessageContext) -> TestSetInfo:
        principal = ctx.principal
        team_id = team_with(principal, Permission.PROMPTS_WRITE)
        document = request.model_dump(mode="json", by_alias=True, exclude={"name"})
        try:
            TestSet.model_validate(document)
        except ValidationError as error:
            raise AgentError(
                ErrorCode.VALIDATION_FAILED, "the test set is not valid", validation_details(error)
            ) from None
        async with self._pool.acquire() as conn:
            prompt = await self._prompt(conn, team_id, request.name)
            row = await runs_store.put_test_set(conn, team_id, prompt.id, document, actor(principal))
        return _test_set_info(request.name, row)

    async def get_test_set(self, request: TestSetRef, ctx: MessageContext) -> TestSetInfo:
        team_id = team_with(ctx.principal, Permission.PROMPTS_READ)
        async with self._pool.acquire() as conn:
            prompt = await self._prompt(conn, team_id, request.name)
            row = await runs_store.test_set(conn, team_id, prompt.id)
        if row is None:
            raise _not_found(f"the test set of {request.name}", "test_set")
        return _test_set_info(request.name, row)

    async def start(self, request: StartEvaluation, ctx: MessageContext) -> EvaluationRunInfo:
        principal = ctx.principal
        team_id = team_with(principal, Permission.PROMPTS_WRITE)
        if self._chat is None:
            raise AgentError(
                ErrorCode.UNAVAILABLE,
                "evaluations need a model API: set evaluations.base_url in the configuration",
                [{"loc": "evaluations.base_url", "type": "evaluations_not_configured"}],
            )
        async with self._pool.acquire() as conn:
            prompt = await self._prompt(conn, team_id, request.name)
            row = await store.version(conn, team_id, request.name, request.version)
            if row is None:
                raise _not_found(f"{request.name}@v{request.version}", "version")
            stored = await runs_store.test_set(conn, team_id, prompt.id)
            if stored is None:
                raise AgentError(
                    ErrorCode.CONFLICT,
                    f"{request.name} has no test set: PUT /api/v1/prompts/{request.name}/test-set first",
                    [{"loc": "test_set", "type": "test_set_missing"}],
                )
            document = PromptDocument.model_validate(row.document)
            model = request.model or document.config.get("model")
            if not isinstance(model, str) or not model:
                raise AgentError(
                    ErrorCode.VALIDATION_FAILED,
                    f"{request.name}@v{request.version} names no model (config.model): give `model`",
                    [{"loc": "model", "type": "model_missing"}],
                )
            test_set = TestSet.model_validate(stored.test_set)
            root = PromptVersion(row.name, row.version, document)
            resolve = await _resolver(conn, team_id, root)
            deadline = deadline_seconds(len(test_set.cases), self._concurrency, self._call_timeout)
            run = await runs_store.start_run(
                conn,
                team_id,
                prompt.id,
                request.version,
                model=model,
                min_pass_rate=test_set.min_pass_rate,
                cases_total=len(test_set.cases),
                test_set_revision=stored.revision,
                started_by=actor(principal),
                deadline_seconds=deadline,
            )
        task = asyncio.get_running_loop().create_task(
            self._execute(run.id, test_set, root, resolve, model, ctx, deadline)
        )
        self._running[run.id] = task
        task.add_done_callback(lambda _: self._running.pop(run.id, None))
        return _run_info(request.name, run, [])

    async def _execute(
        self,
        run_id: str,
        test_set: TestSet,
        root: PromptVersion,
        resolve: Any,
        model: str,
        ctx: MessageContext,
        deadline: float,
    ) -> None:
        chat = self._chat
        assert chat is not None

        async def price(answered: str, usage: Usage) -> Decimal | None:
            return await self._price(answered, usage, ctx)

        try:
            async with asyncio.timeout(deadline):
                outcome = await run_test_set(test_set, root, resolve, model, chat, price, self._concurrency)
        except TimeoutError:
            await self._fail(run_id, f"the run passed its deadline ({deadline:.0f} s)")
            return
        except asyncio.CancelledError:
            await asyncio.shield(self._fail(run_id, runs_store.INTERRUPTED))
            raise
        except Exception as error:  # a defect: the run must not stay `running`
            log.exception("evaluation run failed", run_id=run_id)
            await self._fail(run_id, f"the run failed: {type(error).__name__}")
            return
        async with self._pool.acquire() as conn, conn.transaction():
            await runs_store.finish_run(
                conn, run_id, outcome.result.passed, outcome.result.pass_rate, case_rows(outcome)
            )
        log.info(
            "evaluation run finished",
            run_id=run_id,
            passed=outcome.result.passed,
            pass_rate=outcome.result.pass_rate,
        )

    async def _fail(self, run_id: str, error: str) -> None:
        async with self._pool.acquire() as conn:
            await runs_store.fail_run(conn, run_id, error)

    async def _price(self, model: str, usage: Usage, ctx: MessageContext) -> Decimal | None:
        """The team's price of the call; None (the case's max_cost_usd fails, saying so) when the
        model has no price or the MonitoringAgent cannot be asked."""
        request = PriceQuoteRequest(
            provider=self._provider,
            model=model,
            at=datetime.now(UTC),
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            cache_write_1h_tokens=usage.cache_write_1h_tokens,
            reasoning_tokens=usage.reasoning_tokens,
        )
        try:
            quote: PriceQuote = await self._quote(request, ctx)
        except BusError as error:
            log.warning("evaluation call not priced", model=model, error=str(error))
            return None
        return quote.total_usd

    async def get(self, request: EvaluationRef, ctx: MessageContext) -> EvaluationRunInfo:
        team_id = team_with(ctx.principal, Permission.PROMPTS_READ)
        async with self._pool.acquire() as conn:
            prompt = await self._prompt(conn, team_id, request.name)
            await runs_store.expire_runs(conn, team_id)
            run = await runs_store.run(conn, team_id, prompt.id, request.run_id)
            if run is None:
                raise _not_found(f"evaluation run {request.run_id}", "run_id")
            cases = await runs_store.cases(conn, team_id, run.id)
        return _run_info(request.name, run, cases)

    async def list_runs(self, request: ListEvaluations, ctx: MessageContext) -> EvaluationList:
        team_id = team_with(ctx.principal, Permission.PROMPTS_READ)
        async with self._pool.acquire() as conn:
            prompt = await self._prompt(conn, team_id, request.name)
            await runs_store.expire_runs(conn, team_id)
            rows = await runs_store.runs(conn, team_id, prompt.id, request.version)
        return EvaluationList(items=[_run_info(request.name, r, []) for r in rows])

    async def close(self) -> None:
        """At shutdown: runs in flight stop and are marked failed (interrupted)."""
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._chat is not None:
            await self._chat.close()
