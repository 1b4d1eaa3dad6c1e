"""`mno scan` inputs read into (ecosystem, name, version): requirements.txt, package-lock.json v1/v2/v3,
go.sum, pom.xml and Cargo.lock, with what cannot be scanned reported, and hostile files refused; the
dependency graph package-lock.json and Cargo.lock record, and the paths findings get from it."""

from __future__ import annotations

import json

import pytest

from services.supply_chain.index import AdvisoryIndex
from services.supply_chain.lockfiles.formats import parse_lockfile
from services.supply_chain.lockfiles.model import LockfileError, decoded
from services.supply_chain.scanning import match, read_document, scannable
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


def test_package_lock_version_1_is_read_from_its_dependency_tree() -> None:
    """A v1 lockfile (npm 5/6) is read from its nested `dependencies`: nested copies, aliases, dev flags;
    git and tarball-URL versions are skipped; with no project dependencies recorded, every top-level
    package is a direct one. A version it does not know is refused, naming those it reads."""
    lock = {
        "lockfileVersion": 1,
        "requires": True,
        "dependencies": {
            "semver": {"version": "7.5.2"},
            "@babel/core": {
                "version": "7.22.0",
                "dev": True,
                "requires": {"semver": "^6.3.0"},
                "dependencies": {"semver": {"version": "6.3.0", "dev": True}},
            },
            "my-alias": {"version": "npm:left-pad@1.3.0"},
            "from-git": {"version": "git+ssh://git@github.com/x/y.git#abc", "from": "github:x/y"},
            "from-url": {"version": "https://example.com/pkg-1.0.0.tgz"},
        },
    }
    result = parse_lockfile("npm-shrinkwrap.json", json.dumps(lock).encode())
    assert sorted(c.as_tuple() for c in result.components) == [
        ("npm", "@babel/core", "7.22.0"),
        ("npm", "left-pad", "1.3.0"),
        ("npm", "semver", "6.3.0"),
        ("npm", "semver", "7.5.2"),
    ]
    assert {s.where: s.reason for s in result.skipped} == {
        "node_modules/from-git": "from-git comes from git+ssh, not the registry",
        "node_modules/from-url": "from-url comes from https, not the registry",
    }
    assert result.graph is not None
    assert dict(result.graph.depends_on) == {
        ("npm", "@babel/core", "7.22.0"): (("npm", "semver", "6.3.0"),),
    }
    assert set(result.graph.direct) >= {("npm", "@babel/core", "7.22.0"), ("npm", "semver", "7.5.2")}
    with pytest.raises(LockfileError, match="versions 1, 2 and 3 are read"):
        parse_lockfile("package-lock.json", json.dumps({"lockfileVersion": 4, "dependencies": {}}).encode())


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


@pytest.mark.parametrize("encoding", ["ISO-8859-1", "windows-1252", "UTF-16", "UTF-8"])
def test_a_pom_is_read_in_the_encoding_it_declares(encoding: str) -> None:
    """A POM with non-ASCII text is read in the encoding its XML declaration names, not refused."""
    pom = (
        f'<?xml version="1.0" encoding="{encoding}"?>\n'
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><name>Gest\u00e3o de Pedidos</name>'
        "<developers><developer><name>Jos\u00e9 Mu\u00f1oz</name></developer></developers>"
        "<dependencies><dependency><groupId>org.apache.logging.log4j</groupId>"
        "<artifactId>log4j-core</artifactId><version>2.14.1</version></dependency></dependencies></project>"
    )
    result = parse_lockfile("pom.xml", pom.encode(encoding))
    assert [c.as_tuple() for c in result.components] == [
        ("Maven", "org.apache.logging.log4j:log4j-core", "2.14.1")
    ]


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


# --- dependency paths -------------------------------------------------------------------------------

NESTED_LOCK = {
    "name": "shop",
    "version": "1.0.0",
    "lockfileVersion": 3,
    "requires": True,
    "packages": {
        "": {
            "name": "shop",
            "version": "1.0.0",
            "workspaces": ["packages/*"],
            "dependencies": {"express": "^4.17.0", "left": "npm:left-pad@1.3.0"},
            "devDependencies": {"jest": "^29.0.0"},
        },
        "node_modules/express": {
            "version": "4.17.1",
            "dependencies": {"body-parser": "1.19.0", "qs": "6.7.0"},
        },
        "node_modules/express/node_modules/qs": {"version": "6.7.0"},
        "node_modules/body-parser": {"version": "1.19.0", "dependencies": {"qs": "6.11.0"}},
        "node_modules/qs": {"version": "6.11.0"},
        "node_modules/left": {"name": "left-pad", "version": "1.3.0"},
        "node_modules/jest": {
            "version": "29.0.0",
            "dev": True,
            "dependencies": {"@jest/core": "29.0.0"},
            "optionalDependencies": {"fsevents": "^2.3.2"},
            "peerDependencies": {"node-notifier": "*"},
        },
        "node_modules/@jest/core": {
            "version": "29.0.0",
            "dev": True,
            "dependencies": {"micromatch": "^4.0.4"},
            "peerDependencies": {"jest": "29.0.0"},
        },
        "node_modules/@jest/core/node_modules/micromatch": {"version": "4.0.4", "dev": True},
        "node_modules/ws-a": {"link": True, "resolved": "packages/a"},
        "packages/a": {"name": "ws-a", "version": "0.0.1", "dependencies": {"minimist": "1.2.5"}},
        "node_modules/minimist": {"version": "1.2.5"},
        "node_modules/stray": {"version": "1.0.0", "extraneous": True},
    },
}


def npm(name: str, version: str) -> tuple[str, str, str]:
    return ("npm", name, version)


def test_package_lock_dependencies_resolve_nested_first_then_up_the_tree() -> None:
    """Dependencies resolve nested first, then hoisted; direct ones are the project's and workspaces'."""
    graph = parse_lockfile("package-lock.json", json.dumps(NESTED_LOCK).encode()).graph
    assert graph is not None
    assert graph.direct == (
        npm("express", "4.17.1"),
        npm("jest", "29.0.0"),
        npm("left-pad", "1.3.0"),
        npm("minimist", "1.2.5"),
    )
    assert dict(graph.depends_on) == {
        npm("express", "4.17.1"): (npm("body-parser", "1.19.0"), npm("qs", "6.7.0")),
        npm("body-parser", "1.19.0"): (npm("qs", "6.11.0"),),
        # fsevents and node-notifier are not installed: left out. The peer jest is a cycle.
        npm("jest", "29.0.0"): (npm("@jest/core", "29.0.0"),),
        npm("@jest/core", "29.0.0"): (npm("jest", "29.0.0"), npm("micromatch", "4.0.4")),
    }


def test_package_lock_paths_run_from_the_file_through_direct_dependencies() -> None:
    """Paths run [file, direct dependency, ..., component]; an extraneous package hangs from the file."""
    graph = read_document("package-lock.json", json.dumps(NESTED_LOCK).encode()).graph
    paths = {c.ref: c.path for c in graph.components}
    file = "file:package-lock.json"
    assert paths["pkg:npm/qs@6.7.0"] == (file, "pkg:npm/express@4.17.1", "pkg:npm/qs@6.7.0")
    assert paths["pkg:npm/qs@6.11.0"] == (
        file,
        "pkg:npm/express@4.17.1",
        "pkg:npm/body-parser@1.19.0",
        "pkg:npm/qs@6.11.0",
    )
    assert paths["pkg:npm/micromatch@4.0.4"] == (
        file,
        "pkg:npm/jest@29.0.0",
        "pkg:npm/%40jest/core@29.0.0",
        "pkg:npm/micromatch@4.0.4",
    )
    assert paths["pkg:npm/left-pad@1.3.0"] == (file, "pkg:npm/left-pad@1.3.0")
    assert paths["pkg:npm/minimist@1.2.5"] == (file, "pkg:npm/minimist@1.2.5")
    assert paths["pkg:npm/stray@1.0.0"] == (file, "pkg:npm/stray@1.0.0")


def test_a_git_package_in_a_package_lock_passes_its_dependencies_through() -> None:
    """A package not scanned (from git) is no component, but what it depends on hangs from its parent."""
    lock = {
        "lockfileVersion": 2,
        "packages": {
            "": {"dependencies": {"forked": "github:acme/forked"}},
            "node_modules/forked": {
                "version": "1.0.0",
                "resolved": "git+ssh://git@github.com/acme/forked.git#abc",
                "dependencies": {"ms": "2.0.0"},
            },
            "node_modules/ms": {"version": "2.0.0"},
        },
    }
    result = parse_lockfile("package-lock.json", json.dumps(lock).encode())
    assert result.graph is not None
    assert result.graph.direct == (npm("ms", "2.0.0"),)
    assert [s.where for s in result.skipped] == ["node_modules/forked"]


CARGO_WORKSPACE_LOCK = """\
# This file is automatically @generated by Cargo.
# It is not intended for manual editing.
version = 3

[[package]]
name = "acme-cli"
version = "0.3.0"
dependencies = [
 "acme-core",
 "clap",
]

[[package]]
name = "acme-core"
version = "0.3.0"
dependencies = [
 "forked",
 "smallvec 1.11.0",
]

[[package]]
name = "clap"
version = "4.4.0"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "1d7b8d5ec32af0fadc644bf1fd509a688c2103b185644bb1e29d164e0703136"
dependencies = [
 "smallvec 0.6.9 (registry+https://github.com/rust-lang/crates.io-index)",
]

[[package]]
name = "forked"
version = "0.1.0"
source = "git+https://github.com/acme/forked?rev=abc#abc"
dependencies = [
 "time",
]

[[package]]
name = "smallvec"
version = "0.6.9"
source = "registry+https://github.com/rust-lang/crates.io-index"

[[package]]
name = "smallvec"
version = "1.11.0"
source = "registry+https://github.com/rust-lang/crates.io-index"

[[package]]
name = "time"
version = "0.1.43"
source = "registry+https://github.com/rust-lang/crates.io-index"
"""


def crate(name: str, version: str) -> tuple[str, str, str]:
    return ("crates.io", name, version)


def test_cargo_lock_dependencies_name_a_package_by_name_version_or_source() -> None:
    """Cargo's `name`, `name version`, `name version (source)` resolve; workspace members' deps are direct."""
    result = parse_lockfile("Cargo.lock", CARGO_WORKSPACE_LOCK.encode())
    assert result.graph is not None
    assert result.graph.direct == (
        crate("clap", "4.4.0"),
        crate("smallvec", "1.11.0"),
        crate("time", "0.1.43"),
    )
    assert dict(result.graph.depends_on) == {crate("clap", "4.4.0"): (crate("smallvec", "0.6.9"),)}
    paths = {
        c.ref: c.path for c in read_document("Cargo.lock", CARGO_WORKSPACE_LOCK.encode()).graph.components
    }
    assert paths["pkg:cargo/smallvec@0.6.9"] == (
        "file:Cargo.lock",
        "pkg:cargo/clap@4.4.0",
        "pkg:cargo/smallvec@0.6.9",
    )


def test_a_cargo_dependency_that_is_not_a_string_is_refused() -> None:
    """`dependencies` holding anything but strings refuses the file, naming the package."""
    lock = '[[package]]\nname = "a"\nversion = "1.0.0"\ndependencies = [1]\n'
    with pytest.raises(LockfileError, match=r"a 1\.0\.0: `dependencies`"):
        parse_lockfile("Cargo.lock", lock.encode())


@pytest.mark.parametrize(
    ("filename", "content", "purl"),
    [
        ("requirements.txt", REQUIREMENTS, "pkg:pypi/requests@2.31.0"),
        ("go.sum", GO_SUM, "pkg:golang/github.com/gin-gonic/gin@v1.9.1"),
        ("pom.xml", POM, "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"),
    ],
)
def test_flat_formats_make_every_component_a_dependency_of_the_file(
    filename: str, content: str, purl: str
) -> None:
    """requirements.txt, go.sum and pom.xml record no graph: each component's path is [file, component]."""
    result = parse_lockfile(filename, content.encode())
    assert result.graph is None
    graph = read_document(filename, content.encode()).graph
    assert {c.path for c in graph.components} == {(f"file:{filename}", c.ref) for c in graph.components}
    assert any(c.ref == purl for c in graph.components)


def test_a_transitive_lockfile_finding_carries_its_path() -> None:
    """Matched against an index, qs 6.7.0 nested under express is found with [file, express, qs]."""
    index = AdvisoryIndex()
    index.add(
        record("npm", "qs", [events("SEMVER", ("introduced", "6.7.0"), ("fixed", "6.7.3"))], id="GHSA-T")
    )
    graph = read_document("package-lock.json", json.dumps(NESTED_LOCK).encode()).graph
    [found] = match(index, scannable(graph))
    assert (found.advisory_id, found.component.version) == ("GHSA-T", "6.7.0")
    assert found.component.path == ("file:package-lock.json", "pkg:npm/express@4.17.1", "pkg:npm/qs@6.7.0")
