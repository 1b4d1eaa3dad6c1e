"""npm's registry protocol as pure functions: packuments (full and abbreviated), the `npm publish` body,
dist-tags, deprecation and the unpublish policy. The HTTP wiring lives at the edge; storage in the
registry's store."""
