"""Composition and variables: resolve a prompt's includes (through a resolver the caller passes, so
this stays pure), check the variables the caller gives against every declaration in the tree, render
bottom-up in the sandbox, and hash what came out.

An included prompt is a text prompt (a fragment): its rendered text is what `{{ include.<alias> }}`
places, in a text template or in any message of a chat prompt. It is rendered with the caller's
values of the variables it declares; a variable declared in two prompts of the tree must be
declared the same way. Including a prompt that is already in the chain (itself, or an ancestor,
whichever version) is a cycle, refused with the chain named.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from services.prompts.documents import canonical_json
from services.prompts.model import Include, PromptDocument, PromptType, Variable, type_problem
from services.prompts.problems import Problem, ProblemCode, PromptError
from services.prompts.sandbox import INCLUDE_NAMESPACE, render

MAX_INCLUDE_DEPTH = 5


@dataclass(frozen=True)
class PromptVersion:
    """One stored version, as a resolver hands it back."""

    name: str
    version: int
    document: PromptDocument

    def describe(self) -> str:
        return f"{self.name}@v{self.version}"


# Given an include (name + label, or name + version), the version it points at now, or None.
Resolver = Callable[[Include], PromptVersion | None]


@dataclass(frozen=True)
class IncludeNode:
    alias: str
    ref: Include
    prompt: PromptVersion
    children: tuple[IncludeNode, ...]


@dataclass(frozen=True)
class IncludePin:
    """What an include resolved to, for a lock file: `path` is the alias chain from the root."""

    path: tuple[str, ...]
    ref: Include
    name: str
    version: int


@dataclass(frozen=True)
class IncludeTree:
    root: PromptVersion
    children: tuple[IncludeNode, ...]

    def pins(self) -> tuple[IncludePin, ...]:
        found: list[IncludePin] = []

        def walk(nodes: tuple[IncludeNode, ...], path: tuple[str, ...]) -> None:
            for node in nodes:
                here = (*path, node.alias)
                found.append(IncludePin(here, node.ref, node.prompt.name, node.prompt.version))
                walk(node.children, here)

        walk(self.children, ())
        return tuple(found)


@dataclass(frozen=True)
class RenderedMessage:
    role: str
    content: str


@dataclass(frozen=True)
class RenderedPrompt:
    name: str
    version: int
    type: PromptType
    text: str | None
    messages: tuple[RenderedMessage, ...] | None
    config: Mapping[str, Any]
    # sha256 of the rendered text or messages (canonical JSON): what token events carry.
    content_hash: str
    pins: tuple[IncludePin, ...]


def resolve_includes(
    root: PromptVersion, resolve: Resolver, max_depth: int = MAX_INCLUDE_DEPTH
) -> IncludeTree:
    problems: list[Problem] = []

    def visit(prompt: PromptVersion, chain: tuple[PromptVersion, ...]) -> tuple[IncludeNode, ...]:
        nodes: list[IncludeNode] = []
        for alias, ref in sorted(prompt.document.includes.items()):
            names = tuple(p.describe() for p in chain)
            target = resolve(ref)
            if target is None:
                problems.append(
                    Problem(
                        ProblemCode.INCLUDE_NOT_FOUND,
                        f"{ref.describe()} does not exist",
                        prompt.name,
                        (*names, ref.describe()),
                    )
                )
                continue
            loop = (*names, target.describe())
            if any(p.name == target.name for p in chain):
                problems.append(
                    Problem(
                        ProblemCode.INCLUDE_CYCLE, "include cycle: " + " -> ".join(loop), prompt.name, loop
                    )
                )
                continue
            if len(chain) > max_depth:
                problems.append(
                    Problem(
                        ProblemCode.INCLUDE_TOO_DEEP,
                        f"includes nest deeper than {max_depth}: " + " -> ".join(loop),
                        prompt.name,
                        loop,
                    )
                )
                continue
            if target.document.type is not PromptType.TEXT:
                problems.append(
                    Problem(
                        ProblemCode.INCLUDE_NOT_TEXT,
                        f"{target.describe()} is a {target.document.type} "
                        "prompt; only text prompts can be included",
                        prompt.name,
                        loop,
                    )
                )
                continue
            nodes.append(IncludeNode(alias, ref, target, visit(target, (*chain, target))))
        return tuple(nodes)

    children = visit(root, (root,))
    if problems:
        raise PromptError(problems)
    return IncludeTree(root, children)


def _declarations(tree: IncludeTree) -> tuple[dict[str, tuple[Variable, str]], list[Problem]]:
    declared: dict[str, tuple[Variable, str]] = {}
    problems: list[Problem] = []

    def visit(prompt: PromptVersion, nodes: tuple[IncludeNode, ...]) -> None:
        for name, variable in prompt.document.variables.items():
            seen = declared.setdefault(name, (variable, prompt.describe()))
            if seen[0] != variable:
                problems.append(
                    Problem(
                        ProblemCode.CONFLICTING_VARIABLE,
                        f"`{name}` is declared differently by {seen[1]} and {prompt.describe()}",
                        prompt.name,
                        (name,),
                    )
                )
        for node in nodes:
            visit(node.prompt, node.children)

    visit(tree.root, tree.children)
    return declared, problems


def bind_variables(tree: IncludeTree, given: Mapping[str, object]) -> dict[str, object]:
    """The values every template of the tree sees: the caller's, type-checked, and the defaults.
    Missing, mistyped and unknown variables are all reported, each by name."""
    declared, problems = _declarations(tree)
    values: dict[str, object] = {}
    for name in sorted(given.keys() - declared.keys()):
        problems.append(
            Problem(ProblemCode.UNKNOWN_VARIABLE, f"`{name}` is not a variable of this prompt", name, (name,))
        )
    for name, (variable, _owner) in sorted(declared.items()):
        if name not in given or given[name] is None:
            if variable.default is not None:
                values[name] = variable.default
            elif variable.is_required:
                problems.append(
                    Problem(
                        ProblemCode.MISSING_VARIABLE, f"`{name}` ({variable.type}) is required", name, (name,)
                    )
                )
            continue
        why = type_problem(variable, given[name])
        if why is not None:
            problems.append(Problem(ProblemCode.MISTYPED_VARIABLE, f"`{name}`: {why}", name, (name,)))
        else:
            values[name] = given[name]
    if problems:
        raise PromptError(problems)
    return values


def render_prompt(
    root: PromptVersion,
    variables: Mapping[str, object],
    resolve: Resolver,
    max_depth: int = MAX_INCLUDE_DEPTH,
) -> RenderedPrompt:
    tree = resolve_includes(root, resolve, max_depth)
    values = bind_variables(tree, variables)

    def fragment(node: IncludeNode) -> str:
        context = _context(node.prompt.document, values, node.children, fragment)
        return render(node.prompt.document.template or "", context, f"{node.prompt.describe()} template")

    context = _context(root.document, values, tree.children, fragment)
    document = root.document
    if document.type is PromptType.TEXT:
        text: str | None = render(document.template or "", context, "template")
        messages = None
        body: dict[str, object] = {"type": "text", "text": text}
    else:
        text = None
        messages = tuple(
            RenderedMessage(m.role, render(m.content, context, f"messages[{i}].content"))
            for i, m in enumerate(document.messages or ())
        )
        body = {"type": "chat", "messages": [{"role": m.role, "content": m.content} for m in messages]}
    digest = "sha256:" + hashlib.sha256(canonical_json(body).encode()).hexdigest()
    return RenderedPrompt(
        root.name, root.version, document.type, text, messages, dict(document.config), digest, tree.pins()
    )


def _context(
    document: PromptDocument,
    values: Mapping[str, object],
    children: tuple[IncludeNode, ...],
    fragment: Callable[[IncludeNode], str],
) -> dict[str, object]:
    context = {name: values[name] for name in document.variables if name in values}
    context[INCLUDE_NAMESPACE] = {node.alias: fragment(node) for node in children}
    return context
