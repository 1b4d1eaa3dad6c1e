"""The inputs of `mno scan`: lockfiles and manifests read into (ecosystem, name, version) components
and, where the file records it (package-lock.json, Cargo.lock), who depends on whom.

`formats.parse_lockfile` picks the parser by file name; each module reads one format. Pure: the
caller hands the bytes in. Hostile input (an XML entity, a file past `model.MAX_LOCKFILE_BYTES`,
nesting no lockfile has) is refused with `LockfileError`, never half-read.
"""
