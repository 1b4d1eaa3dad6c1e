"""`mno scan` inputs read into (ecosystem, name, version): requirements.txt, package-lock.json v2/v3,
go.sum, pom.xml and Cargo.lock, with what cannot be scanned reported, and hostile files refused."""

from __future__ import annotations

import json

import pytest

from services.supply_chain.index import AdvisoryIndex
from services.supply_chain.lockfiles.formats import parse_lockfile
from services.supply_chain.lockfiles.model import LockfileError, decoded
from tests.supply_chain.records import events, record


def triples(filename: str, content: str | bytes) -> list[tuple[str, str, str]]:
    data = content.encode() if isinstance(content, str) else content
    return sorted(c.as_tuple() for c in parse_lockfile(filename, data).components)


REQUIREMENTS = """\
# pinned, with hashes on continuation lines (pip-compile --generate-hashes)
requests==2.31.0 \\
    --hash=sha256:58cd2187c01e70e6e26505bca751777aa9f2ee0b7f4300988b709f44e013003f \\
    --hash=sha256:942c5a758f98d790eaed1a29cb6eefc7ffb0d1cf7af05c3d2791656dbd6ad1e1
Jinja2===3.1.2  # arbitrary equality pins too
urllib3>=1.26
flask==2.*
-r base.txt
-e ./local-package
--index-url https://pypi.org/simple
pkg @ https://example.com/pkg-1.0.tar.gz
idna==3.4 ; python_version >= "3.8"
"""


def test_requirements_keep_pinned_versions_and_their_hashes() -> None:
    """== and === pins are components (hashes kept); ranges, wildcards, includes, editables, URLs skip."""
    result = parse_lockfile("requirements.txt", REQUIREMENTS.encode())
    assert sorted(c.as_tuple() for c in result.components) == [
        ("PyPI", "Jinja2", "3.1.2"),
        ("PyPI", "idna", "3.4"),
        ("PyPI", "requests", "2.31.0"),
    ]
    requests = next(c for c in result.components if c.name == "requests")
    assert len(requests.hashes) == 2
    assert requests.hashes[0].startswith("sha256:58cd")
    reasons = {s.where: s.reason for s in result.skipped}
    assert "not pinned" in reasons["line 6"]
    assert "not pinned" in reasons["line 7"]
    assert "scan that file too" in reasons["line 8"]
    assert "editable" in reasons["line 9"]
    assert "URL" in reasons["line 11"]
    assert "line 10" not in reasons  # --index-url is not a package


PACKAGE_LOCK = {
    "name": "shop",
    "lockfileVersion": 3,
    "packages": {
        "": {"name": "shop", "version": "1.0.0"},
        "node_modules/lodash": {
            "version": "4.17.20",
            "resolved": "https://registry.npmjs.org/lodash/-/lodash-4.17.20.tgz",
        },
        "node_modules/@babel/core": {"version": "7.22.0", "dev": True},
        "node_modules/@babel/core/node_modules/semver": {"version": "6.3.0", "dev": True},
        "node_modules/semver": {"version": "7.5.2"},
        "node_modules/my-alias": {"name": "left-pad", "version": "1.3.0"},
        "node_modules/workspace-a": {"link": True, "resolved": "packages/a"},
        "packages/a": {"name": "workspace-a", "version": "0.0.1"},
        "node_modules/from-git": {"version": "1.0.0", "resolved": "git+ssh://git@github.com/x/y.git#abc"},
    },
}


@pytest.mark.parametrize("version", [2, 3])
def test_package_lock_reads_nested_scoped_and_aliased_packages(version: int) -> None:
    """Nested node_modules, scopes, aliases (`name`), dev flags; links, workspaces and git sources are not."""
    result = parse_lockfile(
        "package-lock.json", json.dumps({**PACKAGE_LOCK, "lockfileVersion": version}).encode()
    )
    assert sorted(c.as_tuple() for c in result.components) == [
        ("npm", "@babel/core", "7.22.0"),
        ("npm", "left-pad", "1.3.0"),
        ("npm", "lodash", "4.17.20"),
        ("npm", "semver", "6.3.0"),
        ("npm", "semver", "7.5.2"),
    ]
    assert {c.name: c.dev for c in result.components if c.name == "@babel/core"} == {"@babel/core": True}
    assert [s.where for s in result.skipped] == ["node_modules/from-git"]


def test_package_lock_version_1_is_refused_with_the_way_out() -> None:
    """A v1 lockfile (npm 6) has no packages map: refused, saying npm 7+ writes a readable one."""
    with pytest.raises(LockfileError, match="npm 7 or later"):
        parse_lockfile("package-lock.json", json.dumps({"lockfileVersion": 1, "dependencies": {}}).encode())


GO_SUM = """\
github.com/gin-gonic/gin v1.9.0 h1:OjyFBKICoexlu99ctXNR2gg+c5pKrKMuyjgARg9qeY8=
github.com/gin-gonic/gin v1.9.0/go.mod h1:W1Me9+hsUSyj3CePGrd1/QrKJMSJ1Tu/0hFEH89961k=
github.com/gin-gonic/gin v1.9.1 h1:4idEAncQnU5cB7BeOkPtxjfCSye0AAm1R0RVIqJ+Jmg=
github.com/gin-gonic/gin v1.9.1/go.mod h1:hPrL7YrpYKXt5YId3A/Tnip5kqbEAP+KLuI3SUcPTeU=
golang.org/x/crypto v0.0.0-20210921155107-089bfa567519/go.mod h1:GvvjBRRGRdwPK5ydBHafDWAxML/pGHZbMvKqRZ5+Abc=
golang.org/x/crypto v0.16.0 h1:mMMrFzRSCF0GvB7Ne27XVtVAaXLrPmgPC7/v0tkwHaY=
golang.org/x/crypto v0.16.0/go.mod h1:gCAAfMLgwOJRpTjQ2zCCt2OcSfYMTeZVSRtQlPC7Nq4=
github.com/docker/docker v20.10.7+incompatible h1:Z6O9Nhsjv+ayUEeI1IojKbYcsGdgYSNqxe1s2MYzUhQ=
"""


def test_go_sum_gives_the_built_version_of_each_module() -> None:
    """Modules with code hashes at their highest version; go.mod-only versions are skipped as not built."""
    result = parse_lockfile("go.sum", GO_SUM.encode())
    assert sorted(c.as_tuple() for c in result.components) == [
        ("Go", "github.com/docker/docker", "v20.10.7+incompatible"),
        ("Go", "github.com/gin-gonic/gin", "v1.9.1"),
        ("Go", "golang.org/x/crypto", "v0.16.0"),
    ]
    assert [s.where for s in result.skipped] == ["golang.org/x/crypto v0.0.0-20210921155107-089bfa567519"]


def test_a_malformed_go_sum_line_is_refused() -> None:
    """A line that is not `module version h1:hash` refuses the file, naming the line."""
    with pytest.raises(LockfileError, match="line 2"):
        parse_lockfile("go.sum", b"a v1.0.0 h1:x=\nnot a go.sum line\n")


POM = """\
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>com.acme</groupId>
  <artifactId>service</artifactId>
  <version>3.1</version>
  <properties>
    <log4j.version>2.14.1</log4j.version>
    <jackson.major>2.13</jackson.major>
    <jackson.version>${jackson.major}.0</jackson.version>
  </properties>
  <dependencyManagement>
    <dependencies>
      <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId><version>1.7.36</version></dependency>
    </dependencies>
  </dependencyManagement>
  <dependencies>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId>
      <version>${log4j.version}</version>
    </dependency>
    <dependency>
      <groupId>com.fasterxml.jackson.core</groupId><artifactId>jackson-databind</artifactId>
      <version>${jackson.version}</version>
    </dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId></dependency>
    <dependency><groupId>com.acme</groupId><artifactId>common</artifactId><version>${project.version}</version></dependency>
    <dependency><groupId>junit</groupId><artifactId>junit</artifactId><version>[4.13]</version><scope>test</scope></dependency>
    <dependency><groupId>org.x</groupId><artifactId>ranged</artifactId><version>[1.0,2.0)</version></dependency>
    <dependency><groupId>org.x</groupId><artifactId>inherited</artifactId></dependency>
    <dependency><groupId>org.x</groupId><artifactId>elsewhere</artifactId><version>${undefined.version}</version></dependency>
  </dependencies>
</project>
"""


def test_pom_dependencies_with_properties_managed_versions_and_ranges() -> None:
    """${properties} (nested, project.version) resolve; dependencyManagement fills a version; ranges skip."""
    result = parse_lockfile("service/pom.xml", POM.encode())
    assert sorted(c.as_tuple() for c in result.components) == [
        ("Maven", "com.acme:common", "3.1"),
        ("Maven", "com.fasterxml.jackson.core:jackson-databind", "2.13.0"),
        ("Maven", "junit:junit", "4.13"),
        ("Maven", "org.apache.logging.log4j:log4j-core", "2.14.1"),
        ("Maven", "org.slf4j:slf4j-api", "1.7.36"),
    ]
    assert next(c for c in result.components if c.name == "junit:junit").dev
    reasons = {s.where: s.reason for s in result.skipped}
    assert "range" in reasons["org.x:ranged"]
    assert "parent POM" in reasons["org.x:inherited"]
    assert "does not define" in reasons["org.x:elsewhere"]


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<project><groupId>&lol2;</groupId></project>
"""
XXE = """<?xml version="1.0"?>
<!DOCTYPE project [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<project><groupId>&xxe;</groupId></project>
"""


@pytest.mark.parametrize("document", [BILLION_LAUGHS, XXE])
def test_pom_entities_and_dtds_are_refused(document: str) -> None:
    """An entity expansion bomb or an external entity is refused by defusedxml before any expansion."""
    with pytest.raises(LockfileError, match="refused"):
        parse_lockfile("pom.xml", document.encode())


def test_a_property_bomb_is_refused() -> None:
    """Properties that double at each level stop at the expansion bound instead of growing without end."""
    levels = "".join(f"<p{n}>${{p{n - 1}}}${{p{n - 1}}}</p{n}>" for n in range(1, 40))
    pom = (
        f"<project><properties><p0>xxxxxxxxxx</p0>{levels}</properties><dependencies><dependency>"
        "<groupId>g</groupId><artifactId>a</artifactId><version>${p39}</version></dependency>"
        "</dependencies></project>"
    )
    with pytest.raises(LockfileError, match="expand past"):
        parse_lockfile("pom.xml", pom.encode())


CARGO_LOCK = """\
version = 3

[[package]]
name = "acme-cli"
version = "0.3.0"
dependencies = ["serde", "smallvec"]

[[package]]
name = "serde"
version = "1.0.188"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "cf9e0fcba69a370eed61bcf2b728575f726b50b55cba78064753d708ddc7549e"

[[package]]
name = "smallvec"
version = "0.6.9"
source = "registry+https://github.com/rust-lang/crates.io-index"

[[package]]
name = "forked"
version = "0.1.0"
source = "git+https://github.com/acme/forked?rev=abc#abc"
"""


def test_cargo_lock_reads_crates_io_packages_only() -> None:
    """crates.io packages are components; the workspace crate is not; a git source is skipped."""
    result = parse_lockfile("Cargo.lock", CARGO_LOCK.encode())
    assert sorted(c.as_tuple() for c in result.components) == [
        ("crates.io", "serde", "1.0.188"),
        ("crates.io", "smallvec", "0.6.9"),
    ]
    assert [s.where for s in result.skipped] == ["forked 0.1.0"]


@pytest.mark.parametrize(
    ("filename", "content", "message"),
    [
        ("package-lock.json", b"{", "not JSON"),
        ("package-lock.json", b"[" * 100_000, "nests too deeply"),
        ("Cargo.lock", b"[[package]\n", "not TOML"),
        ("pom.xml", b"<project>", "not XML"),
        ("pom.xml", b"<settings/>", "not <project>"),
        ("requirements.txt", b"\xff\xfe", "not UTF-8"),
        ("build.gradle", b"", "not a file `mno scan` reads"),
    ],
)
def test_unreadable_files_are_refused_with_a_clear_reason(
    filename: str, content: bytes, message: str
) -> None:
    """Every kind of unreadable input is one LockfileError naming the file and the reason."""
    with pytest.raises(LockfileError, match=message) as caught:
        parse_lockfile(filename, content)
    assert str(caught.value).startswith(filename)


def test_files_over_the_size_bound_are_refused_unread() -> None:
    """Past max_bytes a file is refused before decoding or parsing."""
    with pytest.raises(LockfileError, match="more than the 10"):
        decoded("go.sum", b"x" * 11, max_bytes=10)


def test_parsed_lockfiles_feed_the_advisory_index() -> None:
    """Components from a Cargo.lock are audited: smallvec 0.6.9 matches an advisory fixed in 0.6.10."""
    index = AdvisoryIndex()
    index.add(
        record(
            "crates.io",
            "smallvec",
            [events("SEMVER", ("introduced", "0.6.3"), ("fixed", "0.6.10"))],
            id="RUSTSEC-T",
        )
    )
    findings = index.audit(triples("Cargo.lock", CARGO_LOCK))
    assert [(f.advisory_id, f.package, f.version) for f in findings] == [("RUSTSEC-T", "smallvec", "0.6.9")]
