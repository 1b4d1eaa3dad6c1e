"""`mno audit verify`: check every team's audit chain and say which, if any, was tampered with.

Exit codes: 0 every chain intact (or no audit entries at all), 1 at least one chain has a problem,
2 the check could not run (database unreachable, audit tables not migrated).
"""

from __future__ import annotations

import asyncio

import asyncpg
from rich.console import Console
from rich.table import Table
from rich.text import Text

from services.audit.store import VerifyReport, verify_all

__all__ = [
    "EXIT_CANNOT_VERIFY",
    "EXIT_INTACT",
    "EXIT_TAMPERED",
    "render_reports",
    "run_verify",
    "verify_command",
]

EXIT_INTACT = 0
EXIT_TAMPERED = 1
EXIT_CANNOT_VERIFY = 2

_CONNECT_TIMEOUT_SECONDS = 10.0


def verify_command(dsn: str, *, console: Console | None = None) -> int:
    """Connect to `dsn`, verify every team's chain, print a table; the process exit code."""
    return asyncio.run(run_verify(dsn, console=console))


async def run_verify(dsn: str, *, console: Console | None = None) -> int:
    """`verify_command` for callers that already run an event loop."""
    out = console or Console()
    try:
        conn = await asyncpg.connect(dsn, timeout=_CONNECT_TIMEOUT_SECONDS)
    except (OSError, TimeoutError, asyncpg.PostgresError) as error:
        out.print(Text(f"cannot connect to PostgreSQL: {type(error).__name__}: {error}", style="red"))
        return EXIT_CANNOT_VERIFY
    try:
        reports = await verify_all(conn)
    except asyncpg.UndefinedTableError:
        out.print(Text("the audit tables do not exist: run `mno migrate` first", style="red"))
        return EXIT_CANNOT_VERIFY
    finally:
        await conn.close()
    render_reports(reports, out)
    return EXIT_INTACT if all(report.ok for report in reports) else EXIT_TAMPERED


def render_reports(reports: list[VerifyReport], console: Console) -> None:
    """The verdicts as a table, then a one-line summary."""
    if not reports:
        console.print("No audit entries yet: nothing to verify.")
        return
    table = Table(title="Audit log verification")
    table.add_column("team", no_wrap=True, min_width=36)
    table.add_column("entries", justify="right")
    table.add_column("status")
    table.add_column("first problem", overflow="fold")
    for report in reports:
        if report.ok:
            status = Text("intact", style="green")
            first = Text("")
        else:
            plural = "s" if report.problem_count != 1 else ""
            status = Text(f"TAMPERED ({report.problem_count} problem{plural})", style="bold red")
            problem = report.problems[0]
            first = Text(f"{problem.kind.value}: {problem.message}")
        table.add_row(report.team_id, str(report.entries_checked), status, first)
    console.print(table)
    bad = sum(1 for report in reports if not report.ok)
    entries = sum(report.entries_checked for report in reports)
    summary = f"{len(reports)} teams, {entries} entries checked: "
    if bad:
        console.print(Text(summary + f"{bad} chain(s) with problems", style="bold red"))
    else:
        console.print(Text(summary + "every chain intact", style="green"))
