"""`mno scan`, `mno verify` and `mno advisories import`: the supply chain from a terminal or CI,
through the edge (`--url`, else $MNO_EDGE_URL, else the running `mno run`'s, else http.host:port).

`mno scan FILE|DIR` uploads each lockfile or SBOM to `POST /api/v1/supply-chain/scan` (nothing is
stored) with an API key (`--api-key` or $MNO_API_KEY) and exits by the worst finding: 0 none at or
above `--fail-on` (default high), 1 some, 2 bad input or configuration, 3 the edge did not answer.
A finding whose advisory gives no severity counts as `unrated`, which fails at every level unless
`--allow-unrated`: many PyPA advisories carry no score, and silence is not safety.

`mno verify ENVELOPE` checks a DSSE envelope with the public keys the edge publishes
(`GET /api/v1/supply-chain/keys`) or, offline, with `--key` PEM files.

`mno advisories import PATH` (the operator token, as `mno operator`) sends a zip or tar.gz of OSV
records, or a directory (packed here as a tar.gz), to the SupplyChainAgent through the edge.

`mno supply-chain policy` shows the team's download policy (`GET /api/v1/supply-chain/policy`, an API
key with supply_chain:read); with `--block-severity`, `--block-unrated`/`--ignore-unrated` or
`--quarantine-days` it changes what is given and keeps the rest (`PUT`, supply_chain:policy).
`mno supply-chain blocked` lists the versions the policy blocks now (the team's own and upstream
ones), each with the findings that block it. Exit 2 for a refusal or bad input, 1 for the edge's own
failure, 3 when it did not answer.
"""

from __future__ import annotations

import asyncio
import io
import json
import tarfile
from pathlib import Path
from typing import Annotated, Any

import aiohttp
import typer
from rich.console import Console
from rich.table import Table

from mno.local_stack import load_local_settings, read_stack_record
from services.supply_chain import attestations
from services.supply_chain.lockfiles.formats import parser_for
from shared.config import ConfigError

EXIT_FOUND, EXIT_INPUT, EXIT_UNREACHABLE = 1, 2, 3
RATINGS = ["none", "low", "medium", "high", "critical"]
REQUEST_TIMEOUT_SECONDS = 300.0
SBOM_SUFFIXES = (".cdx.json", ".spdx.json", "bom.json", "sbom.json")

console = Console()
errors = Console(stderr=True)

advisories_app = typer.Typer(
    help="The OSV advisories vulnerability scans match against.", no_args_is_help=True
)
supply_chain_app = typer.Typer(
    help="The team's download policy and the versions it blocks.", no_args_is_help=True
)

ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="The YAML configuration.")]
UrlOption = Annotated[str | None, typer.Option("--url", help="The edge's base URL.", envvar="MNO_EDGE_URL")]
ApiKeyOption = Annotated[
    str | None, typer.Option("--api-key", help="An API key with supply_chain:read.", envvar="MNO_API_KEY")
]


def _fail(command: str, message: str, code: int) -> typer.Exit:
    errors.print(f"mno {command}: {message}", soft_wrap=True, markup=False, highlight=False)
    return typer.Exit(code)


def _base_url(command: str, config: Path | None, url: str | None) -> tuple[str, Any]:
    settings = None
    if url is None or config is not None:
        try:
            settings, _ = load_local_settings(config)
        except ConfigError as error:
            raise _fail(command, f"configuration error: {error}", EXIT_INPUT) from error
    if url is None:
        assert settings is not None
        record = read_stack_record(settings.data_dir.resolve())
        url = record.edge_url if record is not None else f"http://{settings.http.host}:{settings.http.port}"
    return url.rstrip("/"), settings


def _request(
    command: str,
    base: str,
    token: str,
    method: str,
    path: str,
    *,
    body: bytes | None = None,
    params: dict[str, str] | None = None,
    json_body: Any = None,
) -> tuple[int, Any]:
    content_type = "application/octet-stream"
    if json_body is not None:
        body, content_type = json.dumps(json_body).encode(), "application/json"

    async def send() -> tuple[int, Any]:
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS)
        async with (
            aiohttp.ClientSession(timeout=timeout) as http,
            http.request(
                method,
                f"{base}{path}",
                data=body,
                params=params,
                headers={"Authorization": f"Bearer {token}", "Content-Type": content_type},
            ) as response,
        ):
            text = await response.text()
            try:
                return response.status, json.loads(text)
            except ValueError:
                return response.status, {"error": {"message": text[:200]}}

    try:
        return asyncio.run(send())
    except (aiohttp.ClientError, TimeoutError, OSError) as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        raise _fail(command, f"cannot reach the edge at {base}: {reason}", EXIT_UNREACHABLE) from error


def _error_text(body: Any) -> str:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        details = error.get("details") or []
        kind = f" ({details[0].get('type')})" if details and isinstance(details[0], dict) else ""
        return f"{error.get('message', '')}{kind}"
    return str(body)[:200]


# --- mno scan ---------------------------------------------------------------------------------------


def scannable_files(target: Path) -> list[Path]:
    """A file as given; in a directory, every lockfile and SBOM `mno scan` reads (not in .git or
    node_modules), in a stable order."""
    if target.is_file():
        return [target]
    found = []
    for path in sorted(target.rglob("*")):
        if not path.is_file() or {".git", "node_modules", ".venv"} & set(path.parts):
            continue
        if parser_for(path.name) is not None or path.name.endswith(SBOM_SUFFIXES):
            found.append(path)
    return found


def scan(
    target: Annotated[Path, typer.Argument(help="A lockfile, an SBOM (CycloneDX/SPDX JSON) or a directory.")],
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    fail_on: Annotated[
        str,
        typer.Option("--fail-on", help="Exit 1 on a finding at or above: none, low, medium, high, critical."),
    ] = "high",
    allow_unrated: Annotated[
        bool, typer.Option("--allow-unrated", help="Findings without a severity do not fail the scan.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's answers as JSON.")] = False,
    config: ConfigOption = None,
) -> None:
    """Scan lockfiles or SBOMs against the stored advisories (nothing is stored); exit code by severity."""
    if fail_on not in RATINGS:
        raise _fail("scan", f"--fail-on must be one of {', '.join(RATINGS)}", EXIT_INPUT)
    base, _ = _base_url("scan", config, url)
    if not api_key:
        raise _fail("scan", "no API key: pass --api-key or set MNO_API_KEY", EXIT_INPUT)
    if not target.exists():
        raise _fail("scan", f"{target} does not exist", EXIT_INPUT)
    files = scannable_files(target)
    if not files:
        raise _fail("scan", f"no lockfile or SBOM found in {target}", EXIT_INPUT)
    results = []
    for path in files:
        status, body = _request(
            "scan",
            base,
            api_key,
            "POST",
            "/api/v1/supply-chain/scan",
            body=path.read_bytes(),
            params={"filename": path.name},
        )
        if status >= 400:
            raise _fail("scan", f"{path}: {status} {_error_text(body)}", EXIT_INPUT if status < 500 else 1)
        results.append((path, body))
    findings = [(path, f) for path, body in results for f in body["findings"]]
    threshold = RATINGS.index(fail_on)
    failing = [
        f
        for _, f in findings
        if (f["severity"]["rating"] is None and not allow_unrated)
        or (f["severity"]["rating"] is not None and RATINGS.index(f["severity"]["rating"]) >= threshold)
    ]
    if as_json:
        console.print_json(json.dumps([{"file": str(p), **b} for p, b in results]))
    else:
        _print_findings(findings, results)
    raise typer.Exit(EXIT_FOUND if failing else 0)


def _print_findings(findings: list[tuple[Path, dict[str, Any]]], results: list[tuple[Path, Any]]) -> None:
    table = Table(title="Vulnerabilities")
    for column in ("severity", "score", "package", "version", "advisory", "aliases", "fixed in", "file"):
        table.add_column(column)
    for path, f in findings:
        severity = f["severity"]
        table.add_row(
            severity["rating"] or "unrated",
            "" if severity["score"] is None else f"{severity['score']:.1f}",
            f["package"],
            f["version"],
            f["advisory_id"],
            ", ".join(f["aliases"]),
            ", ".join(f["fixed_versions"]) or "-",
            path.name,
        )
    console.print(table)
    components = sum(b["components"] for _, b in results)
    skipped = sum(len(b["skipped"]) for _, b in results)
    console.print(
        f"{len(findings)} findings in {components} components of {len(results)} files"
        + (f"; {skipped} entries skipped (not pinned to one version)" if skipped else ""),
        markup=False,
    )


# --- mno verify -------------------------------------------------------------------------------------


def verify(
    envelope: Annotated[Path, typer.Argument(help="A DSSE envelope (JSON) of an attestation.")],
    key: Annotated[
        list[Path] | None,
        typer.Option("--key", help="A public (or private) Ed25519 PEM key file; repeatable."),
    ] = None,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    config: ConfigOption = None,
) -> None:
    """Verify an attestation's signature: 0 verified, 1 not (tampered or signed by an unknown key)."""
    if key:
        from services.supply_chain.signing import InvalidSigningKey, trusted_key

        try:
            trusted = [trusted_key(str(path)) for path in key]
        except InvalidSigningKey as error:
            raise _fail("verify", str(error), EXIT_INPUT) from error
    else:
        base, _ = _base_url("verify", config, url)
        if not api_key:
            raise _fail("verify", "no API key (or --key): pass --api-key or set MNO_API_KEY", EXIT_INPUT)
        status, body = _request("verify", base, api_key, "GET", "/api/v1/supply-chain/keys")
        if status >= 400:
            raise _fail("verify", f"the edge's keys: {status} {_error_text(body)}", EXIT_INPUT)
        trusted = [attestations.load_public_key(k["pem"]) for k in body["keys"]]
    try:
        content = envelope.read_bytes()
    except OSError as error:
        raise _fail("verify", f"cannot read {envelope}: {error.strerror}", EXIT_INPUT) from error
    try:
        verified = attestations.verify(content, trusted)
    except attestations.InvalidAttestation as error:
        raise _fail("verify", f"NOT verified: {error}", EXIT_FOUND) from error
    subjects = ", ".join(
        f"{s.get('name')} sha256:{s.get('digest', {}).get('sha256')}" for s in verified.statement["subject"]
    )
    console.print(
        f"verified: signed by key {verified.key_id}; {verified.statement['predicateType']} about {subjects}",
        markup=False,
        soft_wrap=True,
    )


# --- mno advisories import --------------------------------------------------------------------------


def _archive(path: Path) -> bytes:
    if path.is_file():
        return path.read_bytes()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for file in sorted(path.rglob("*")):
            if file.is_file() and file.name.endswith((".json", ".yaml", ".yml")):
                archive.add(file, arcname=str(file.relative_to(path)))
    return buffer.getvalue()


@advisories_app.command("import")
def import_advisories(
    path: Annotated[Path, typer.Argument(help="A directory, zip or tar.gz of OSV records (JSON or YAML).")],
    source: Annotated[str | None, typer.Option("--source", help="What to call it in the ledger.")] = None,
    url: UrlOption = None,
    token: Annotated[
        str | None, typer.Option("--token", help="The operator token.", envvar="MNO_OPERATOR_TOKEN")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's JSON answer.")] = False,
    config: ConfigOption = None,
) -> None:
    """Import OSV advisories incrementally; stored SBOMs naming the packages are re-scanned."""
    base, settings = _base_url("advisories import", config, url)
    if token is None and settings is not None and settings.auth.bootstrap_token is not None:
        token = settings.auth.bootstrap_token.get_secret_value()
    if not token:
        raise _fail(
            "advisories import", "no operator token: pass --token or set MNO_OPERATOR_TOKEN", EXIT_INPUT
        )
    if not path.exists():
        raise _fail("advisories import", f"{path} does not exist", EXIT_INPUT)
    status, body = _request(
        "advisories import",
        base,
        token,
        "POST",
        "/api/v1/operator/advisories/import",
        body=_archive(path),
        params={"source": source or path.name},
    )
    if status >= 400:
        raise _fail("advisories import", f"{status} {_error_text(body)}", EXIT_INPUT if status < 500 else 1)
    if as_json:
        console.print_json(json.dumps(body))
        return
    console.print(
        f"{body['files']} files: {body['new']} new, {body['modified']} modified, {body['withdrawn']} "
        "withdrawn, "
        f"{body['unchanged']} unchanged, {body['error_count']} unreadable; {body['findings_changed']} "
        "findings "
        f"changed in {body['sboms_rescanned']} SBOMs re-scanned",
        markup=False,
    )


# --- mno supply-chain policy|blocked ----------------------------------------------------------------

KeyOption = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        help="An API key (supply_chain:read; changing the policy: supply_chain:policy).",
        envvar="MNO_API_KEY",
    ),
]


def _answer(command: str, status: int, body: Any) -> Any:
    if status >= 400:
        raise _fail(command, f"{status} {_error_text(body)}", EXIT_INPUT if status < 500 else 1)
    return body


def _edge(command: str, config: Path | None, url: str | None, api_key: str | None) -> tuple[str, str]:
    base, _ = _base_url(command, config, url)
    if not api_key:
        raise _fail(command, "no API key: pass --api-key or set MNO_API_KEY", EXIT_INPUT)
    return base, api_key


@supply_chain_app.command("policy")
def policy(
    block_severity: Annotated[
        str | None,
        typer.Option(
            "--block-severity",
            help="Refuse downloads of versions with an open finding at or above: none (off), low, medium, "
            "high, critical.",
        ),
    ] = None,
    quarantine_days: Annotated[
        int | None,
        typer.Option(
            "--quarantine-days", help="Hide upstream versions younger than this many days (0 is off).", min=0
        ),
    ] = None,
    block_unrated: Annotated[
        bool | None,
        typer.Option(
            "--block-unrated/--ignore-unrated",
            help="Whether open findings whose advisory gives no severity block too (while --block-severity "
            "is not none).",
        ),
    ] = None,
    url: UrlOption = None,
    api_key: KeyOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's JSON answer.")] = False,
    config: ConfigOption = None,
) -> None:
    """Show the team's download policy; with an option, change that part of it (audited)."""
    command = "supply-chain policy"
    if block_severity is not None and block_severity not in RATINGS:
        raise _fail(command, f"--block-severity must be one of {', '.join(RATINGS)}", EXIT_INPUT)
    base, token = _edge(command, config, url, api_key)
    current = _answer(command, *_request(command, base, token, "GET", "/api/v1/supply-chain/policy"))
    if block_severity is not None or quarantine_days is not None or block_unrated is not None:
        wanted = {
            "block_severity": block_severity if block_severity is not None else current["block_severity"],
            "quarantine_days": quarantine_days if quarantine_days is not None else current["quarantine_days"],
            "block_unrated": block_unrated
            if block_unrated is not None
            else current.get("block_unrated", False),
        }
        current = _answer(
            command,
            *_request(command, base, token, "PUT", "/api/v1/supply-chain/policy", json_body=wanted),
        )
    if as_json:
        console.print_json(json.dumps(current))
        return
    changed = (
        f"{current['updated_at']} by {current['updated_by']}"
        if current.get("updated_at")
        else "never (the defaults apply)"
    )
    console.print(
        f"block_severity: {current['block_severity']}\n"
        f"block_unrated: {str(current.get('block_unrated', False)).lower()}\n"
        f"quarantine_days: {current['quarantine_days']}\n"
        f"changed: {changed}",
        markup=False,
        highlight=False,
    )


@supply_chain_app.command("blocked")
def blocked(
    url: UrlOption = None,
    api_key: KeyOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's JSON answer.")] = False,
    config: ConfigOption = None,
) -> None:
    """List the versions the download policy blocks now, with the findings that block each."""
    command = "supply-chain blocked"
    base, token = _edge(command, config, url, api_key)
    found = _answer(command, *_request(command, base, token, "GET", "/api/v1/supply-chain/blocked"))
    if as_json:
        console.print_json(json.dumps(found))
        return
    if not found["items"]:
        console.print("no version is blocked", markup=False)
        return
    table = Table(title="Blocked versions")
    for column in ("ecosystem", "package", "version", "severity", "advisory", "in", "triage", "finding"):
        table.add_column(column)
    for item in found["items"]:
        for f in item["findings"]:
            table.add_row(
                item["ecosystem"],
                item["name"],
                item["version"],
                f["severity"] or "unrated",
                f["advisory_id"],
                f["package"],
                f["triage_status"],
                f["finding_id"],
            )
    console.print(table)
    console.print(
        f"{len(found['items'])} versions blocked; let one through with a triage "
        "(POST /api/v1/vulnerabilities/{id}/triage) or an override (the dashboard's Supply chain page)",
        markup=False,
    )
