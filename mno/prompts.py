"""`mno prompts push|pull|status|diff FOLDER`: a folder of `prompts/*.yaml` files kept in step with the
team's prompts through the edge (`--url`, else $MNO_EDGE_URL, else the running `mno run`'s, else
http.host:port) with an API key (`--api-key` or $MNO_API_KEY).

Files are compared by content hash (`services.prompts.documents.content_hash`: key order, quoting,
comments, tags and commit messages are not content), so `push` makes a version only for a file that
changed, and running it twice makes none the second time. `status` and `diff` exit 1 when the folder
and the server's latest versions differ (drift), 0 when they agree; 2 is bad input or configuration,
3 an edge that did not answer. The server is asked first, so an unreachable edge is one line.

`lock` writes `prompts.lock` in the folder: the version each include by label resolves to on the
server now, with its content hash (`services.prompts.lockfile`); `pull` rewrites it when present.
`push --locked` saves every prompt with its label includes pinned to the locked versions (what was
reviewed is what renders) and refuses a lock that no longer matches the files' includes (exit 2).
`status` counts a prompt in sync when the server's latest equals the file, or the file as pinned by
the lock, and reports lock drift (exit 1) when a locked label now resolves to another version.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import aiohttp
import typer
import yaml
from rich.console import Console

from mno.local_stack import load_local_settings, read_stack_record
from services.prompts import lockfile
from services.prompts.diff import diff_versions
from services.prompts.documents import content_hash, parse_document, parse_folder
from services.prompts.model import PromptDocument
from services.prompts.problems import PromptError
from shared.config import ConfigError

EXIT_DRIFT, EXIT_INPUT, EXIT_UNREACHABLE = 1, 2, 3
REQUEST_TIMEOUT_SECONDS = 60.0
SUFFIXES = (".yaml", ".yml")

console = Console()
errors = Console(stderr=True)

prompts_app = typer.Typer(
    help="Prompts as code: sync a folder of prompts/*.yaml files.", no_args_is_help=True
)

FolderArgument = Annotated[Path, typer.Argument(help="The folder of prompt files (one prompt per file).")]
ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="The YAML configuration.")]
UrlOption = Annotated[str | None, typer.Option("--url", help="The edge's base URL.", envvar="MNO_EDGE_URL")]
ApiKeyOption = Annotated[
    str | None,
    typer.Option("--api-key", help="An API key (prompts:read; push: prompts:write).", envvar="MNO_API_KEY"),
]


def _fail(command: str, message: str, code: int) -> typer.Exit:
    errors.print(f"mno prompts {command}: {message}", soft_wrap=True, markup=False, highlight=False)
    return typer.Exit(code)


class _Edge:
    def __init__(self, command: str, config: Path | None, url: str | None, api_key: str | None) -> None:
        self.command = command
        if url is None:
            try:
                settings, _ = load_local_settings(config)
            except ConfigError as error:
                raise _fail(command, f"configuration error: {error}", EXIT_INPUT) from error
            record = read_stack_record(settings.data_dir.resolve())
            url = (
                record.edge_url if record is not None else f"http://{settings.http.host}:{settings.http.port}"
            )
        if not api_key:
            raise _fail(command, "no API key: pass --api-key or set MNO_API_KEY", EXIT_INPUT)
        self.base = url.rstrip("/")
        self.token = api_key

    def call(self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None) -> Any:
        """One request's JSON answer; an error answer or an unreachable edge ends the command."""

        async def send() -> tuple[int, Any]:
            timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS)
            async with (
                aiohttp.ClientSession(timeout=timeout) as http,
                http.request(
                    method,
                    f"{self.base}{path}",
                    json=body,
                    params=params,
                    headers={"Authorization": f"Bearer {self.token}"},
                ) as response,
            ):
                text = await response.text()
                try:
                    return response.status, json.loads(text)
                except ValueError:
                    return response.status, {"error": {"message": text[:200]}}

        try:
            status, answer = asyncio.run(send())
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            reason = " ".join(str(error).split()) or type(error).__name__
            raise _fail(
                self.command, f"cannot reach the edge at {self.base}: {reason}", EXIT_UNREACHABLE
            ) from error
        if status >= 400:
            raise _fail(self.command, f"{method} {path}: {status} {_error_text(answer)}", EXIT_INPUT)
        return answer


def _error_text(body: Any) -> str:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        details = [d for d in error.get("details") or [] if isinstance(d, dict)]
        where = "; ".join(f"{d.get('loc', '')}: {d.get('type', '')}" for d in details[:5])
        return f"{error.get('message', '')}" + (f" [{where}]" if where else "")
    return str(body)[:200]


def _local(command: str, folder: Path) -> dict[str, PromptDocument]:
    files = [folder] if folder.is_file() else sorted(p for p in folder.iterdir() if p.suffix in SUFFIXES)
    try:
        return parse_folder({path.name: path.read_text(encoding="utf-8") for path in files})
    except PromptError as error:
        raise _fail(
            command, "; ".join(f"{p.path}: {p.code}: {p.message}" for p in error.problems), EXIT_INPUT
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise _fail(command, f"cannot read {folder}: {error}", EXIT_INPUT) from None


def _server(edge: _Edge) -> dict[str, dict[str, Any]]:
    """The team's prompts by name, with their latest version and its content hash."""
    return {item["name"]: item for item in edge.call("GET", "/api/v1/prompts")["items"]}


def _drift(
    local: dict[str, PromptDocument], server: dict[str, dict[str, Any]], lock: lockfile.Lock | None = None
) -> dict[str, str]:
    """Each prompt's state: `in sync`, `changed`, `new` (only in the folder), `server only`. With a
    lock, the file as pinned by it counts as in sync too (what `push --locked` saved)."""
    states = {}
    for name, document in local.items():
        remote = server.get(name)
        hashes = {content_hash(document)}
        if lock is not None:
            hashes.add(content_hash(lockfile.pinned(document, lock)))
        if remote is None:
            states[name] = "new"
        elif remote["latest_content_hash"] in hashes:
            states[name] = "in sync"
        else:
            states[name] = "changed"
    for name in server.keys() - local.keys():
        states[name] = "server only"
    return dict(sorted(states.items()))


def _lock_path(folder: Path) -> Path:
    return (folder if folder.is_dir() else folder.parent) / lockfile.LOCK_FILE


def _read_lock(command: str, folder: Path) -> lockfile.Lock | None:
    path = _lock_path(folder)
    if not path.is_file():
        return None
    try:
        return lockfile.read(path.read_text(encoding="utf-8"))
    except PromptError as error:
        raise _fail(
            command, "; ".join(f"{path.name}: {p.path}: {p.message}" for p in error.problems), EXIT_INPUT
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise _fail(command, f"cannot read {path}: {error}", EXIT_INPUT) from None


def _write_lock(command: str, edge: _Edge, folder: Path, server: dict[str, dict[str, Any]]) -> lockfile.Lock:
    """Resolve every include by label of the folder's files on the server and write the lock."""
    local = _local(command, folder)
    names = {i.name for d in local.values() for i in lockfile.label_includes(d).values()}
    resolved = {}
    for name in sorted(names & server.keys()):
        versions = edge.call("GET", f"/api/v1/prompts/{name}/versions")
        resolved[name] = lockfile.ServerPrompt(
            labels=versions["labels"], hashes={v["version"]: v["content_hash"] for v in versions["items"]}
        )
    try:
        lock = lockfile.build(local, resolved)
    except PromptError as error:
        raise _fail(
            command, "; ".join(f"{p.path}: {p.message}" for p in error.problems), EXIT_INPUT
        ) from None
    _lock_path(folder).write_text(lockfile.dump(lock), encoding="utf-8")
    return lock


@prompts_app.command()
def lock(
    folder: FolderArgument, config: ConfigOption = None, url: UrlOption = None, api_key: ApiKeyOption = None
) -> None:
    """Write prompts.lock: the version each include by label resolves to on the server now."""
    edge = _Edge("lock", config, url, api_key)
    written = _write_lock("lock", edge, folder, _server(edge))
    count = 0
    for name, entry in written.prompts.items():
        for alias, locked in entry.includes.items():
            count += 1
            console.print(
                f"{name}: {alias} = {locked.name}@{locked.label} -> v{locked.version}",
                markup=False,
                highlight=False,
            )
    console.print(f"{count} include(s) locked in {_lock_path(folder)}", markup=False, highlight=False)


@prompts_app.command()
def push(
    folder: FolderArgument,
    locked: Annotated[
        bool,
        typer.Option("--locked", help="Pin each include by label to the version in prompts.lock."),
    ] = False,
    config: ConfigOption = None,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Save a version of every prompt whose file changed (by content hash); unchanged ones make none."""
    edge = _Edge("push", config, url, api_key)
    server = _server(edge)
    local = _local("push", folder)
    if locked:
        found = _read_lock("push", folder)
        if found is None:
            raise _fail("push", f"--locked: no {lockfile.LOCK_FILE} (run `mno prompts lock`)", EXIT_INPUT)
        reasons = lockfile.stale(found, local)
        if reasons:
            raise _fail(
                "push",
                f"{lockfile.LOCK_FILE} is out of date ({'; '.join(reasons)}): run `mno prompts lock`",
                EXIT_INPUT,
            )
        local = {name: lockfile.pinned(document, found) for name, document in local.items()}
    created = 0
    for name, state in _drift(local, server).items():
        if state in ("new", "changed"):
            body = local[name].model_dump(mode="json", exclude_none=True)
            saved = edge.call("POST", "/api/v1/prompts", body)
            created += bool(saved["created"])
            console.print(
                f"{name}: v{saved['prompt']['version']} {'saved' if saved['created'] else 'unchanged'}"
            )
        elif state == "in sync":
            console.print(f"{name}: unchanged (v{server[name]['latest_version']})")
    console.print(f"{created} new version(s)")


@prompts_app.command()
def status(
    folder: FolderArgument, config: ConfigOption = None, url: UrlOption = None, api_key: ApiKeyOption = None
) -> None:
    """Each prompt: in sync, changed, new (folder only) or server only; exit 1 on any drift."""
    edge = _Edge("status", config, url, api_key)
    server = _server(edge)
    local = _local("status", folder)
    found = _read_lock("status", folder)
    states = _drift(local, server, found)
    for name, state in states.items():
        console.print(f"{name}: {state}", markup=False, highlight=False)
    problems: list[str] = []
    if found is not None:
        problems = [f"lock out of date: {reason}" for reason in lockfile.stale(found, local)]
        labels = {name: item["labels"] for name, item in server.items()}
        problems += [d.describe() for d in lockfile.drift(found, labels)]
        for line in problems:
            console.print(line, markup=False, highlight=False)
    if problems or any(state != "in sync" for state in states.values()):
        raise typer.Exit(EXIT_DRIFT)


@prompts_app.command()
def diff(
    folder: FolderArgument, config: ConfigOption = None, url: UrlOption = None, api_key: ApiKeyOption = None
) -> None:
    """How each changed file differs from the server's latest version; exit 1 on any drift."""
    edge = _Edge("diff", config, url, api_key)
    server = _server(edge)
    local = _local("diff", folder)
    states = _drift(local, server, _read_lock("diff", folder))
    for name, state in states.items():
        if state != "changed":
            if state != "in sync":
                console.print(f"{name}: {state}", markup=False, highlight=False)
            continue
        remote = edge.call("GET", f"/api/v1/prompts/{name}")
        found = diff_versions(
            parse_document(remote["document"]), local[name], remote["version"], remote["version"] + 1
        )
        console.print(
            f"--- {name}@v{remote['version']} (server)  +++ {name} (folder)", markup=False, highlight=False
        )
        if found.text:
            console.print(found.text, markup=False, highlight=False)
        for change in found.messages:
            console.print(change.unified, markup=False, highlight=False)
        for kind, changes in (
            ("variables", found.variables),
            ("includes", found.includes),
            ("config", found.config),
        ):
            for key in changes:
                console.print(
                    f"{kind}.{key.key}: {key.change} {key.old!r} -> {key.new!r}",
                    markup=False,
                    highlight=False,
                )
    if any(state != "in sync" for state in states.values()):
        raise typer.Exit(EXIT_DRIFT)


@prompts_app.command()
def pull(
    folder: FolderArgument,
    label: Annotated[str, typer.Option("--label", help="The label to pull of each prompt.")] = "latest",
    config: ConfigOption = None,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Write each prompt's version under `--label` as `<name>.yaml` (files already equal are kept);
    rewrite prompts.lock when the folder has one."""
    edge = _Edge("pull", config, url, api_key)
    server = _server(edge)
    folder.mkdir(parents=True, exist_ok=True)
    local = _local("pull", folder)
    written = 0
    for name, remote in server.items():
        if label not in remote["labels"]:
            continue
        if label == "latest" and name in local and content_hash(local[name]) == remote["latest_content_hash"]:
            continue
        found = edge.call("GET", f"/api/v1/prompts/{name}", params={"label": label})
        document = {k: v for k, v in found["document"].items() if k != "commit_message"}
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
        written += 1
        console.print(f"{name}: v{found['version']} written", markup=False, highlight=False)
    console.print(f"{written} file(s) written")
    if _lock_path(folder).is_file():
        _write_lock("pull", edge, folder, server)
        console.print(f"{lockfile.LOCK_FILE} updated", markup=False, highlight=False)
