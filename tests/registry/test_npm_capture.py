"""The real npm CLI's request bodies (publish, deprecate, dist-tag add), recorded by a tiny HTTP listener,
so the fixtures under tests/data/npm/ are what npm sends and cannot go stale: the test re-records them
with the installed npm and compares their shape and meaning with the checked-in ones.

Re-record: `.venv/bin/python -m tests.registry.test_npm_capture` (writes tests/data/npm/*.json).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from services.registry.npm.deprecate import parse_deprecation
from services.registry.npm.packument import NpmPackageRecord, NpmVersionRecord, full_packument
from services.registry.npm.publish import is_publish, parse_publish

DATA = Path(__file__).resolve().parents[1] / "data" / "npm"
PACKAGE = "@mno-test/fixture-demo"
VERSION = "1.0.0"
TOKEN = "npm-fixture-token"
NPM = shutil.which("npm")


class Recorder:
    """Answers what the three commands ask and keeps every request they make."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.package: NpmPackageRecord | None = None
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: Any) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _record(self) -> tuple[str, Any]:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                path = unquote(urlsplit(self.path).path)
                body = json.loads(raw) if raw else None
                recorder.requests.append(
                    {
                        "method": self.command,
                        "path": path,
                        "authorization": self.headers.get("Authorization"),
                        "body": body,
                    }
                )
                return path, body

            def do_GET(self) -> None:
                path, _ = self._record()
                if recorder.package is None:
                    self._answer(404, {"error": "not found"})
                elif path.endswith("/dist-tags"):
                    self._answer(200, dict(recorder.package.dist_tags))
                else:
                    self._answer(200, full_packument(recorder.package, recorder.url))

            def do_PUT(self) -> None:
                path, body = self._record()
                if isinstance(body, dict) and is_publish(body):
                    published = parse_publish(body, path.strip("/"), max_tarball_bytes=10_000_000)
                    now = datetime(2026, 1, 1, tzinfo=UTC)
                    recorder.package = NpmPackageRecord(
                        name=published.name,
                        versions=[
                            NpmVersionRecord(
                                published.version,
                                published.manifest,
                                published.filename,
                                published.integrity,
                                published.shasum,
                                now,
                            )
                        ],
                        dist_tags=published.dist_tags,
                        modified=now,
                    )
                self._answer(201, {"ok": True})

        return Handler

    def __enter__(self) -> Recorder:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _npm(args: list[str], cwd: Path, userconfig: Path) -> None:
    assert NPM is not None
    subprocess.run(
        [
            NPM,
            *args,
            "--userconfig",
            str(userconfig),
            "--cache",
            str(userconfig.parent / ".npm-cache"),
            "--no-audit",
            "--no-fund",
            "--no-update-notifier",
            "--loglevel",
            "error",
        ],
        cwd=cwd,
        check=True,
        capture_output=True,
        timeout=120,
    )


def record(workdir: Path) -> dict[str, dict[str, Any]]:
    """Publishes a tiny package with the real npm, deprecates it and adds a dist-tag; returns the
    request bodies by command."""
    package = workdir / "pkg"
    package.mkdir()
    (package / "package.json").write_text(
        json.dumps(
            {
                "name": PACKAGE,
                "version": VERSION,
                "description": "a fixture",
                "main": "index.js",
                "license": "MIT",
                "dependencies": {"left-pad": "^1.3.0"},
                "scripts": {"postinstall": "node -e 0"},
            },
            indent=2,
        )
    )
    (package / "index.js").write_text("module.exports = 42;\n")
    (package / "README.md").write_text("# fixture-demo\n\nA package the tests publish.\n")
    with Recorder() as recorder:
        host = recorder.url.removeprefix("http:")
        npmrc = workdir / ".npmrc"
        npmrc.write_text(f"registry={recorder.url}\n{host}:_authToken={TOKEN}\n")
        _npm(["publish", "--access", "public"], package, npmrc)
        _npm(["deprecate", f"{PACKAGE}@{VERSION}", "use 2.x"], package, npmrc)
        _npm(["dist-tag", "add", f"{PACKAGE}@{VERSION}", "beta"], package, npmrc)
    puts = [r for r in recorder.requests if r["method"] == "PUT"]
    for request in recorder.requests:
        assert request["authorization"] == f"Bearer {TOKEN}", request["path"]
    return {
        "publish": next(r for r in puts if is_publish(r["body"] or {})),
        "deprecate": next(r for r in puts if r["path"] == f"/{PACKAGE}" and not is_publish(r["body"])),
        "dist_tag_add": next(r for r in puts if "/dist-tags/" in r["path"]),
    }


def load(command: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / f"{command}.json").read_text())
    return data


def _shape(value: Any) -> Any:
    """Keys all the way down, values' types only: what must not drift between npm releases."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items() if not k.startswith("_npm") and k != "_nodeVersion"}
    if isinstance(value, list):
        return [_shape(v) for v in value]
    return type(value).__name__


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    if NPM is None:
        pytest.skip("npm is not installed")
    return record(tmp_path_factory.mktemp("npm"))


@pytest.mark.parametrize("command", ["publish", "deprecate", "dist_tag_add"])
def test_the_recorded_fixture_has_the_shape_npm_sends_today(
    fresh: dict[str, dict[str, Any]], command: str
) -> None:
    """Re-recording with the installed npm gives the same request (method, path, body shape) as the
    checked-in fixture, so tests built on the fixture test what npm really sends."""
    recorded, now = load(command), fresh[command]
    assert (now["method"], now["path"]) == (recorded["method"], recorded["path"])
    assert _shape(now["body"]) == _shape(recorded["body"])


def test_a_fresh_publish_parses_like_the_fixture(fresh: dict[str, dict[str, Any]]) -> None:
    """The registry's reading of a publish by today's npm equals its reading of the fixture."""
    now = parse_publish(fresh["publish"]["body"], PACKAGE, max_tarball_bytes=10_000_000)
    then = parse_publish(load("publish")["body"], PACKAGE, max_tarball_bytes=10_000_000)
    assert (now.name, now.version, now.dist_tags, now.filename, now.file_count) == (
        then.name,
        then.version,
        then.dist_tags,
        then.filename,
        then.file_count,
    )


def test_a_fresh_deprecate_changes_the_same_versions(fresh: dict[str, dict[str, Any]]) -> None:
    """npm deprecate's PUT, today and in the fixture, deprecates exactly 1.0.0 with the message."""
    for body in (fresh["deprecate"]["body"], load("deprecate")["body"]):
        assert parse_deprecation(body, {VERSION: None}) == {VERSION: "use 2.x"}


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        DATA.mkdir(parents=True, exist_ok=True)
        for name, request in record(Path(tmp)).items():
            (DATA / f"{name}.json").write_text(json.dumps(request, indent=2, sort_keys=True) + "\n")
            print("wrote", DATA / f"{name}.json")
