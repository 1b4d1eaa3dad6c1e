"""`mno operator ...`: the operator's views of the webhook ledger, subscriptions and installations,
and reprocessing a failed delivery, through the edge's `/api/v1/operator` routes (so the edge's
permission check applies: the operator token, auth.bootstrap_token, is the credential).

Where the edge is: --url, else $MNO_EDGE_URL, else the running `mno run`'s, else http.host:port
of the configuration. The token: --token, else $MNO_OPERATOR_TOKEN, else auth.bootstrap_token.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import aiohttp
import typer
from rich.console import Console
from rich.table import Table

from mno.local_stack import load_local_settings, read_stack_record
from shared.config import ConfigError

operator_app = typer.Typer(
    help="The platform operator's views: webhook deliveries, subscriptions, installations.",
    no_args_is_help=True,
)

# As every `mno` command: 2 bad configuration or credentials, 3 a server did not answer.
EXIT_CONFIG, EXIT_UNREACHABLE = 2, 3
REQUEST_TIMEOUT_SECONDS = 10.0

console = Console()
errors = Console(stderr=True)

ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="The YAML configuration.")]
UrlOption = Annotated[str | None, typer.Option("--url", help="The edge's base URL.", envvar="MNO_EDGE_URL")]
TokenOption = Annotated[
    str | None, typer.Option("--token", help="The operator token.", envvar="MNO_OPERATOR_TOKEN")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the API's JSON answer.")]
LimitOption = Annotated[int, typer.Option("--limit", min=1, max=500, help="Rows per page.")]
BeforeOption = Annotated[
    int | None, typer.Option("--before", min=1, help="The next_before of the previous page.")
]


def _fail(message: str, code: int) -> typer.Exit:
    errors.print(f"mno operator: {message}", soft_wrap=True, markup=False, highlight=False)
    return typer.Exit(code)


def _edge(config: Path | None, url: str | None, token: str | None) -> tuple[str, str]:
    """The edge's base URL and the operator token."""
    if url is None or token is None:
        try:
            settings, _ = load_local_settings(config)
        except ConfigError as error:
            raise _fail(f"configuration error: {error}", EXIT_CONFIG) from error
        if url is None:
            record = read_stack_record(settings.data_dir.resolve())
            url = (
                record.edge_url if record is not None else f"http://{settings.http.host}:{settings.http.port}"
            )
        if token is None and settings.auth.bootstrap_token is not None:
            token = settings.auth.bootstrap_token.get_secret_value()
    if not token:
        raise _fail(
            "no operator token: set auth.bootstrap_token (MNO_BOOTSTRAP_TOKEN) for the edge and pass it "
            "with --token or MNO_OPERATOR_TOKEN",
            EXIT_CONFIG,
        )
    return url.rstrip("/"), token


def _call(
    edge: tuple[str, str], method: str, path: str, query: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One request; an error answer or an unreachable edge ends the command with one line."""
    base, token = edge
    params = {k: str(v) for k, v in (query or {}).items() if v is not None}

    async def send() -> tuple[int, Any]:
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS)
        async with (
            aiohttp.ClientSession(timeout=timeout) as http,
            http.request(
                method, f"{base}{path}", params=params, headers={"Authorization": f"Bearer {token}"}
            ) as response,
        ):
            text = await response.text()
            try:
                return response.status, json.loads(text)
            except ValueError:
                return response.status, {"error": {"message": text[:200]}}

    try:
        status, body = asyncio.run(send())
    except (aiohttp.ClientError, TimeoutError, OSError) as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        raise _fail(f"cannot reach the edge at {base}: {reason}", EXIT_UNREACHABLE) from error
    if status >= 400:
        message = body.get("error", {}).get("message", "") if isinstance(body, dict) else ""
        raise _fail(f"{method} {path}: {status} {message}", 1)
    assert isinstance(body, dict)
    return body


def _print_json(body: dict[str, Any]) -> None:
    console.print_json(json.dumps(body))


def _table(title: str, rows: list[dict[str, Any]], columns: list[str], next_before: int | None) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row[c]) for c in columns))
    console.print(table)
    if next_before is not None:
        console.print(f"more: --before {next_before}")


@operator_app.command("deliveries")
def deliveries(
    event: Annotated[str | None, typer.Option(help="Only this X-GitHub-Event.")] = None,
    action: Annotated[str | None, typer.Option(help="Only this action.")] = None,
    status: Annotated[str | None, typer.Option(help="received, processed, ignored or failed.")] = None,
    endpoint: Annotated[str | None, typer.Option(help="app or marketplace.")] = None,
    limit: LimitOption = 50,
    before: BeforeOption = None,
    as_json: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
    config: ConfigOption = None,
) -> None:
    """Webhook deliveries received, newest first."""
    query = {"event": event, "action": action, "status": status, "endpoint": endpoint}
    body = _call(
        _edge(config, url, token),
        "GET",
        "/api/v1/operator/webhook-deliveries",
        {**query, "limit": limit, "before": before},
    )
    if as_json:
        _print_json(body)
        return
    columns = ["id", "received_at", "endpoint", "event", "action", "status", "attempt", "replays"]
    _table("webhook deliveries", body["deliveries"], columns, body.get("next_before"))


@operator_app.command("delivery")
def delivery(
    delivery_id: Annotated[int, typer.Argument(help="The delivery's id.")],
    url: UrlOption = None,
    token: TokenOption = None,
    config: ConfigOption = None,
) -> None:
    """One webhook delivery with its payload (JSON)."""
    _print_json(_call(_edge(config, url, token), "GET", f"/api/v1/operator/webhook-deliveries/{delivery_id}"))


@operator_app.command("reprocess")
def reprocess(
    delivery_id: Annotated[int, typer.Argument(help="The id of a failed delivery.")],
    url: UrlOption = None,
    token: TokenOption = None,
    config: ConfigOption = None,
) -> None:
    """Queue a new processing attempt of a failed webhook delivery."""
    body = _call(
        _edge(config, url, token), "POST", f"/api/v1/operator/webhook-deliveries/{delivery_id}/reprocess"
    )
    console.print(f"delivery {body['delivery_id']} requeued (attempt {body['attempt']})")


@operator_app.command("subscriptions")
def subscriptions(
    status: Annotated[str | None, typer.Option(help="Only subscriptions in this status.")] = None,
    plan: Annotated[str | None, typer.Option(help="Only this configured plan key.")] = None,
    limit: LimitOption = 50,
    before: BeforeOption = None,
    as_json: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
    config: ConfigOption = None,
) -> None:
    """Marketplace subscriptions of every account."""
    body = _call(
        _edge(config, url, token),
        "GET",
        "/api/v1/operator/subscriptions",
        {"status": status, "plan_key": plan, "limit": limit, "before": before},
    )
    if as_json:
        _print_json(body)
        return
    columns = ["account_github_id", "account_login", "status", "plan_key", "next_due_at", "updated_at"]
    _table("subscriptions", body["subscriptions"], columns, body.get("next_before"))


@operator_app.command("subscription")
def subscription(
    account_github_id: Annotated[int, typer.Argument(help="The GitHub account id.")],
    url: UrlOption = None,
    token: TokenOption = None,
    config: ConfigOption = None,
) -> None:
    """One account's subscription with its state and history (JSON)."""
    _print_json(
        _call(_edge(config, url, token), "GET", f"/api/v1/operator/subscriptions/{account_github_id}")
    )


@operator_app.command("installations")
def installations(
    status: Annotated[str | None, typer.Option(help="active, suspended or deleted.")] = None,
    limit: LimitOption = 50,
    before: BeforeOption = None,
    as_json: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
    config: ConfigOption = None,
) -> None:
    """GitHub App installations of every account."""
    body = _call(
        _edge(config, url, token),
        "GET",
        "/api/v1/operator/installations",
        {"status": status, "limit": limit, "before": before},
    )
    if as_json:
        _print_json(body)
        return
    columns = ["github_id", "account_login", "target_type", "status", "repositories", "updated_at"]
    _table("installations", body["installations"], columns, body.get("next_before"))
