"""The `mno` command line."""

from __future__ import annotations

import asyncio
import importlib
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from shared.config import ConfigError, Settings, load_settings
from shared.messages.agents import AgentName

app = typer.Typer(
    help="MachineNativeOps: an AI-operations platform as a mesh of agents over NATS.", no_args_is_help=True
)
config_app = typer.Typer(help="Work with the configuration file.", no_args_is_help=True)
app.add_typer(config_app, name="config")
audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
docs_app = typer.Typer(help="Documentation generated from the code.", no_args_is_help=True)
app.add_typer(docs_app, name="docs")

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
    try:
        return load_settings(config)
    except ConfigError as error:
        errors.print(f"[red]configuration error[/red]: {error}", markup=True, highlight=False)
        raise typer.Exit(2) from error


@app.command()
def run(config: ConfigOption = None) -> None:
    """Start the whole mesh on the embedded local stack and print where to look (Ctrl-C stops it)."""
    from mno.supervisor import run as run_mesh

    raise typer.Exit(run_mesh(_settings(config)))


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
        from shared.db.postgres import create_pool

        pool = await create_pool(settings.postgres.dsn, min_size=1, max_size=2, command_timeout=120)
        try:
            applied: dict[str, Any] = dict(await migrate_all(pool))
        finally:
            await pool.close()
        if settings.clickhouse.engine == "server":
            from shared.db.clickhouse import create_clickhouse
            from shared.db.clickhouse.migrations import apply_migrations

            clickhouse = create_clickhouse("server", chdb_path=None, url=settings.clickhouse.url)
            try:
                applied["clickhouse"] = await apply_migrations(clickhouse)
            finally:
                await clickhouse.close()
        return applied

    applied = asyncio.run(apply())
    for schema, versions in applied.items():
        console.print(f"{schema}: {'applied ' + ', '.join(map(str, versions)) if versions else 'up to date'}")
    if settings.clickhouse.engine == "chdb":
        console.print("clickhouse (chdb): migrated by the monitoring agent at start; it owns the engine")


@app.command()
def status(config: ConfigOption = None, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every agent's health and request statistics, asked through the mesh ($SRV.INFO and $SRV.STATS)."""
    settings = _settings(config)
    from mno.status import mesh_status

    try:
        report = asyncio.run(mesh_status(settings))
    except Exception as error:
        errors.print(f"cannot reach the mesh at {', '.join(settings.nats.servers)}: {error}")
        raise typer.Exit(1) from error
    if as_json:
        print(json.dumps(report, indent=2, default=str))
    else:
        table = Table(title="MachineNativeOps mesh")
        for column in ("agent", "instances", "version", "requests", "errors", "avg ms", "state"):
            table.add_column(column)
        for row in report["agents"]:
            table.add_row(
                row["agent"],
                str(row["instances"]),
                row["version"] or "-",
                str(row["requests"]),
                str(row["errors"]),
                f"{row['average_ms']:.3f}",
                "[green]up[/green]" if row["instances"] else "[red]down[/red]",
            )
        console.print(table)
    if any(not row["instances"] for row in report["agents"]):
        raise typer.Exit(1)


@audit_app.command("verify")
def audit_verify(config: ConfigOption = None) -> None:
    """Check every team's audit hash chain; exit 1 if an entry was altered or removed, 2 if unchecked."""
    from services.audit.cli import verify_command

    raise typer.Exit(verify_command(_settings(config).postgres.dsn))


@docs_app.command("permissions")
def docs_permissions() -> None:
    """Print the role x permission matrix (docs/PERMISSIONS.md is this output)."""
    from mno.docs import permission_matrix

    print(permission_matrix(), end="")


@config_app.command("check")
def config_check(file: Annotated[Path, typer.Argument(help="The YAML file to check.")]) -> None:
    """Load FILE with the current environment and report every problem, naming its key."""
    settings = _settings(file)
    console.print(
        f"{file}: ok (environment {settings.environment}, NATS {', '.join(settings.nats.servers)}, "
        f"ClickHouse {settings.clickhouse.engine}, storage {settings.storage.backend})"
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
