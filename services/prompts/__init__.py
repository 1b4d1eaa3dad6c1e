"""Prompts as code: versioned prompt documents, label moves behind a promotion gate, composition and
sandboxed rendering, diffs, experiment assignment, experiment statistics and evaluations (pure logic:
no I/O; callers hand in what a store or a provider returned).

`problems` the typed errors every module reports, `model` the prompt document and its variables,
`sandbox` the restricted template language, `documents` the `prompts/*.yaml` file format and the
content hash, `labels` label moves as a state machine, `rendering` includes and variables,
`impact` which prompts a label move reaches through includes, `diff` two versions compared,
`assignment` GrowthBook-compatible deterministic bucketing, `distributions` the t, normal and
chi-square tails (stdlib only), `statistics` per-variant inference, `evaluation` a test set's
assertions over outputs.

Owned by the LearningAgent.
"""
