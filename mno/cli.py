"""The `mno` command line."""

from __future__ import annotations

import asyncio
import importlib
import json
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from mno.demo import demo_app
from mno.local_stack import load_local_settings
from mno.operator import operator_app
from mno.prompts import prompts_app
from mno.reach import ServerUnavailable, connect_postgres
from mno.supply_chain import advisories_app, scan, supply_chain_app, verify
from shared.config import ConfigError, Settings
from shared.config.urls import redacted_url
from shared.messages.agents import AgentName

T = TypeVar("T")

# A server the command needs did not answer (0 ok; 1 the command's own "no"; 2 bad configuration).
EXIT_UNREACHABLE = 3

app = typer.Typer(
    help="MachineNativeOps: an AI-operations platform as a mesh of agents over NATS.", no_args_is_help=True
)
config_app = typer.Typer(help="Work with the configuration file.", no_args_is_help=True)
app.add_typer(config_app, name="config")
audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
docs_app = typer.Typer(help="Documentation generated from the code.", no_args_is_help=True)
app.add_typer(docs_app, name="docs")
app.add_typer(operator_app, name="operator")
app.add_typer(demo_app, name="demo")
app.add_typer(prompts_app, name="prompts")
app.add_typer(advisories_app, name="advisories")
app.add_typer(supply_chain_app, name="supply-chain")
app.command("scan")(scan)
app.command("verify")(verify)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="The YAML configuration (default: $MNO_CONFIG or config/machine-native-ops.yaml).",
    ),
]

console = Console()
errors = Console(stderr=True)


def _settings(config: Path | None) -> Settings:
    """The settings, with the addresses of the `mno run` of this data directory when the
    environment names none (so commands run next to `make run` reach its stack)."""
    try:
        settings, _ = load_local_settings(config)
    except ConfigError as error:
        errors.print(f"[red]configuration error[/red]: {error}", markup=True, highlight=False)
        raise typer.Exit(2) from error
    return settings


def _fail(command: str, message: str, code: int) -> typer.Exit:
    """Print one line (never wrapped) to stderr; the Exit to raise."""
    errors.print(f"mno {command}: {message}", soft_wrap=True, markup=False, highlight=False)
    return typer.Exit(code)


def _reaching_servers(command: str, work: Coroutine[Any, Any, T], *, code: int = EXIT_UNREACHABLE) -> T:
    """Run `work`; a server it cannot reach ends the command with one line and exit `code`."""
    try:
        return asyncio.run(work)
    except ServerUnavailable as error:
        raise _fail(command, str(error), code) from error


@app.command()
def run(config: ConfigOption = None) -> None:
    """Start the whole mesh on the embedded local stack and print where to look (Ctrl-C stops it)."""
    from mno.supervisor import run as run_mesh

    try:
        # Its own servers, not a record of an earlier run; the local key is made if none is set.
        settings, environment = load_local_settings(config, make_key=True, use_stack_record=False)
    except ConfigError as error:
        errors.print(f"[red]configuration error[/red]: {error}", markup=True, highlight=False)
        raise typer.Exit(2) from error
    raise typer.Exit(run_mesh(settings, environment, config))


@app.command()
def agent(
    name: Annotated[AgentName, typer.Argument(help="Which agent process to run.")],
    config: ConfigOption = None,
) -> None:
    """Run one agent process (what each Kubernetes pod runs)."""
    module = importlib.import_module(f"agents.{name.value}.agent")
    from shared.runtime import run_agent

    raise typer.Exit(run_agent(name, module.setup, config))


@app.command()
def migrate(config: ConfigOption = None) -> None:
    """Apply PostgreSQL migrations for every agent's schema (and ClickHouse's, on a server engine)."""
    settings = _settings(config)

    async def apply() -> dict[str, Any]:
        from shared.db.migrations import migrate_all

        pool = await connect_postgres(settings.postgres.dsn)
        try:
            applied: dict[str, Any] = dict(await migrate_all(pool))
        finally:
            await pool.close()
        if settings.clickhouse.engine == "server":
            from shared.db.clickhouse import ClickHouseError, QueryError, create_clickhouse
            from shared.db.clickhouse.migrations import apply_migrations

            url = settings.clickhouse.url
            clickhouse = create_clickhouse("server", chdb_path=None, url=url)
            try:
                applied["clickhouse"] = await apply_migrations(clickhouse)
            except (OSError, ClickHouseError) as error:
                if isinstance(error, QueryError):
                    raise
                raise ServerUnavailable("ClickHouse", url or "", error) from error
            finally:
                await clickhouse.close()
        return applied

    applied = _reaching_servers("migrate", apply())
    for schema, versions in applied.items():
        console.print(f"{schema}: {'applied ' + ', '.join(map(str, versions)) if versions else 'up to date'}")
    if settings.clickhouse.engine == "chdb":
        console.print("clickhouse (chdb): migrated by the monitoring agent at start; it owns the engine")


@app.command()
def status(config: ConfigOption = None, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every agent's health and request statistics, asked through the mesh ($SRV.INFO and $SRV.STATS)."""
    settings = _settings(config)
    from mno.status import mesh_status

    report = _reaching_servers("status", mesh_status(settings))
    if as_json:
        print(json.dumps(report, indent=2, default=str))
    else:
        table = Table(title="MachineNativeOps mesh")
        for column in ("agent", "instances", "version", "requests", "errors", "avg ms", "restarts", "state"):
            table.add_column(column)
        for row in report["agents"]:
            restarts = row.get("restarts")
            table.add_row(
                row["agent"],
                str(row["instances"]),
                row["version"] or "-",
                str(row["requests"]),
                str(row["errors"]),
                f"{row['average_ms']:.3f}",
                "-" if restarts is None else str(restarts),
                "[green]up[/green]" if row["instances"] else "[red]down[/red]",
            )
        console.print(table)
        for name, server in report.get("servers", {}).items():
            console.print(f"{name}: {server['state']}, restarted {server['restarts']} times by `mno run`")
    if any(not row["instances"] for row in report["agents"]):
        raise typer.Exit(1)


@audit_app.command("verify")
def audit_verify(config: ConfigOption = None) -> None:
    """Check every team's audit hash chain; exit 1 if an entry was altered or removed, 2 if unchecked."""
    from services.audit.cli import EXIT_CANNOT_VERIFY, verify_command

    dsn = _settings(config).postgres.dsn

    async def reachable() -> None:
        pool = await connect_postgres(dsn)
        await pool.close()

    # Checked here first so that an unreachable database is one line on stderr like elsewhere.
    _reaching_servers("audit verify", reachable(), code=EXIT_CANNOT_VERIFY)
    raise typer.Exit(verify_command(dsn))


@docs_app.command("permissions")
def docs_permissions() -> None:
    """Print the role x permission matrix (docs/PERMISSIONS.md is this output)."""
    from mno.docs import permission_matrix

    print(permission_matrix(), end="")


@config_app.command("check")
def config_check(
    file: Annotated[Path, typer.Argument(help="The YAML file to check.")],
    plans_seen: Annotated[
        bool,
        typer.Option(
            "--plans-seen",
            help="Also list the paid Marketplace plans seen on subscriptions (in PostgreSQL) that "
            "accounts.marketplace_plans does not map (their accounts get the default plan); exit 1 if any.",
        ),
    ] = False,
) -> None:
    """Load FILE with the current environment and report every problem, naming its key."""
    settings = _settings(file)
    nats_servers = ", ".join(map(redacted_url, settings.nats.servers))
    console.print(
        f"{file}: ok (environment {settings.environment}, NATS {nats_servers}, "
        f"PostgreSQL {redacted_url(settings.postgres.dsn)}, ClickHouse {settings.clickhouse.engine}, "
        f"storage {settings.storage.backend})",
        soft_wrap=True,
    )
    if plans_seen:
        _check_plans_seen(settings)


def _check_plans_seen(settings: Settings) -> None:
    """Paid Marketplace plans on record that the mapping misses: one stderr line each, exit 1."""
    from services.identity.subscriptions import unmapped_plan_ids
    from services.marketplace.entitlements import UnmappedPlan

    mapping: dict[int | str, str] = {key: value for key, value in settings.accounts.marketplace_plans.items()}

    async def seen() -> list[UnmappedPlan] | None:
        pool = await connect_postgres(settings.postgres.dsn)
        try:
            async with pool.acquire() as conn:
                if await conn.fetchval("SELECT to_regclass('super_agent.subscriptions')") is None:
                    return None
                return await unmapped_plan_ids(conn, mapping)
        finally:
            await pool.close()

    unmapped = _reaching_servers("config check", seen())
    if unmapped is None:
        console.print("Marketplace plans seen: none (no subscriptions table: run `mno migrate`)")
    elif not unmapped:
        console.print("Marketplace plans seen: every paid plan is mapped")
    for plan in unmapped or ():
        errors.print(
            f"accounts.marketplace_plans: paid Marketplace plan {plan.plan_id} ({plan.name!r}) is not "
            f"mapped: its accounts get the default plan {settings.accounts.default_plan!r}",
            soft_wrap=True,
            markup=False,
            highlight=False,
        )
    if unmapped:
        raise typer.Exit(1)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
