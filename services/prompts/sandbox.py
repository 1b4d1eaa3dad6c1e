"""The template language: Jinja2 syntax, parsed by Jinja2's sandboxed environment with
`StrictUndefined`, and restricted to a whitelist of constructs checked on the syntax tree before
anything runs.

Why Jinja2 and not a home-made `{{ var }}` syntax: it is a well-kept library the dashboard already
uses, teams know it from other prompt tools, and list/object variables need loops and conditionals
(few-shot examples, optional context). Why restricted: prompts run inside the LearningAgent on data
the caller sends, so a template must not be able to spend unbounded CPU or memory. The sandbox alone
stops unsafe attribute access but not `{% for i in range(99999) %}` nested three deep, `'x' * 10**9`
or `'%999999999s' % x`. So, on top of it:
- no calls (only `.items()`, `.keys()`, `.values()` of a value), no `set`, macros, `include`,
  `import`, `extends`, `*`, `**`, `%`, no globals (`range`, `lipsum`, `cycler`, ...);
- filters and tests from a list of ones that cost linear time and output at most linear size;
- a loop iterates only over a variable (or a part of one), never over a literal or a filter's
  result, and every iteration over a variable is counted against `MAX_ITERATIONS`;
- output is streamed and stops at `MAX_OUTPUT_CHARS`.
Statements `{% if %}`, `{% for %}` (with `else` and a condition) and expressions (`~`, `+`, `-`,
`/`, `//`, comparisons, `and`/`or`/`not`, `x if c else y`, `[a:b]`) remain.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, meta, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from services.prompts.problems import Problem, ProblemCode, PromptError

MAX_ITERATIONS = 100_000
MAX_OUTPUT_CHARS = 1_000_000
INCLUDE_NAMESPACE = "include"

ALLOWED_FILTERS = frozenset(
    {
        "upper",
        "lower",
        "title",
        "capitalize",
        "trim",
        "default",
        "d",
        "length",
        "count",
        "join",
        "tojson",
        "truncate",
        "first",
        "last",
        "round",
        "int",
        "float",
        "string",
        "abs",
        "wordcount",
    }
)
ALLOWED_TESTS = frozenset(
    {
        "defined",
        "undefined",
        "none",
        "number",
        "string",
        "mapping",
        "sequence",
        "iterable",
        "boolean",
        "true",
        "false",
        "integer",
        "float",
        "even",
        "odd",
        "divisibleby",
        "eq",
        "ne",
        "lt",
        "le",
        "gt",
        "ge",
        "in",
        "sameas",
        "lower",
        "upper",
    }
)
_MAPPING_VIEWS = frozenset({"items", "keys", "values"})
_ALLOWED_NODES: tuple[type[nodes.Node], ...] = (
    nodes.Template,
    nodes.Output,
    nodes.TemplateData,
    nodes.Name,
    nodes.Const,
    nodes.List,
    nodes.Tuple,
    nodes.Dict,
    nodes.Pair,
    nodes.Keyword,
    nodes.Getattr,
    nodes.Getitem,
    nodes.Slice,
    nodes.If,
    nodes.For,
    nodes.Filter,
    nodes.Test,
    nodes.Compare,
    nodes.Operand,
    nodes.And,
    nodes.Or,
    nodes.Not,
    nodes.Neg,
    nodes.Pos,
    nodes.CondExpr,
    nodes.Add,
    nodes.Sub,
    nodes.Div,
    nodes.FloorDiv,
    nodes.Concat,
    nodes.Call,
)


class _Environment(ImmutableSandboxedEnvironment):
    pass


def _environment() -> _Environment:
    env = _Environment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    env.globals.clear()
    return env


ENVIRONMENT = _environment()


@dataclass(frozen=True)
class TemplateInfo:
    variables: frozenset[str]
    includes: frozenset[str]


def analyse(source: str, path: str = "template") -> TemplateInfo:
    """Parse and check a template; what it reads (variables, and the includes it places)."""
    try:
        tree = ENVIRONMENT.parse(source)
    except TemplateSyntaxError as error:
        raise PromptError(
            [Problem(ProblemCode.TEMPLATE_SYNTAX, f"line {error.lineno}: {error.message}", path=path)]
        ) from None
    reasons = dict.fromkeys(_refusals(tree))
    problems = [Problem(ProblemCode.TEMPLATE_TAG_NOT_ALLOWED, why, path=path) for why in reasons]
    if problems:
        raise PromptError(problems)
    includes = frozenset(_include_aliases(tree))
    return TemplateInfo(frozenset(meta.find_undeclared_variables(tree) - {INCLUDE_NAMESPACE}), includes)


def _refusals(tree: nodes.Template) -> Iterator[str]:
    for node in tree.find_all(nodes.Node):
        if not isinstance(node, _ALLOWED_NODES):
            yield f"{_describe(node)} is not allowed in a prompt template"
        elif isinstance(node, nodes.Filter) and node.name not in ALLOWED_FILTERS:
            yield f"the filter `{node.name}` is not allowed (allowed: {', '.join(sorted(ALLOWED_FILTERS))})"
        elif isinstance(node, nodes.Test) and node.name not in ALLOWED_TESTS:
            yield f"the test `{node.name}` is not allowed"
        elif isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
            yield f"the attribute `{node.attr}` is not allowed"
        elif isinstance(node, nodes.Call) and not _is_mapping_view(node):
            yield "calls are not allowed (except .items(), .keys() and .values() of a value)"
        elif isinstance(node, nodes.For) and not (_is_path(node.iter) or _is_mapping_view(node.iter)):
            yield "a loop iterates over a variable (or part of one), not a literal or a filter's result"
        elif isinstance(node, nodes.For) and node.recursive:
            yield "recursive loops are not allowed"


def _describe(node: nodes.Node) -> str:
    names = {
        nodes.Include: "{% include %} (declare `includes:` and write {{ include.<name> }})",
        nodes.Import: "{% import %}",
        nodes.FromImport: "{% from ... import %}",
        nodes.Extends: "{% extends %}",
        nodes.Assign: "{% set %}",
        nodes.AssignBlock: "{% set %}",
        nodes.Macro: "{% macro %}",
        nodes.Mul: "`*`",
        nodes.Pow: "`**`",
        nodes.Mod: "`%`",
    }
    return names.get(type(node), f"`{type(node).__name__}`")


def _is_path(node: nodes.Node) -> bool:
    while isinstance(node, nodes.Getattr | nodes.Getitem):
        if isinstance(node, nodes.Getitem) and not isinstance(node.arg, nodes.Const | nodes.Slice):
            return False
        node = node.node
    return isinstance(node, nodes.Name)


def _is_mapping_view(node: nodes.Node) -> bool:
    return (
        isinstance(node, nodes.Call)
        and isinstance(node.node, nodes.Getattr)
        and node.node.attr in _MAPPING_VIEWS
        and not (node.args or node.kwargs or node.dyn_args or node.dyn_kwargs)
        and _is_path(node.node.node)
    )


def _include_aliases(tree: nodes.Template) -> Iterator[str]:
    for node in tree.find_all(nodes.Getattr):
        if isinstance(node.node, nodes.Name) and node.node.name == INCLUDE_NAMESPACE:
            yield node.attr
    for item in tree.find_all(nodes.Getitem):
        if (
            isinstance(item.node, nodes.Name)
            and item.node.name == INCLUDE_NAMESPACE
            and isinstance(item.arg, nodes.Const)
            and isinstance(item.arg.value, str)
        ):
            yield item.arg.value


class _Budget:
    def __init__(self, limit: int) -> None:
        self.left = limit

    def spend(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise SecurityError(f"the template iterates more than {MAX_ITERATIONS} times")


class _List(list[Any]):
    __slots__ = ("_budget",)

    def __init__(self, items: Iterable[Any], budget: _Budget) -> None:
        super().__init__(items)
        self._budget = budget

    def __iter__(self) -> Iterator[Any]:
        for item in super().__iter__():
            self._budget.spend()
            yield item


class _Dict(dict[str, Any]):
    __slots__ = ("_budget",)

    def __init__(self, items: Mapping[str, Any], budget: _Budget) -> None:
        super().__init__(items)
        self._budget = budget

    def _counted(self, items: Iterable[Any]) -> Iterator[Any]:
        for item in items:
            self._budget.spend()
            yield item

    def __iter__(self) -> Iterator[str]:
        return self._counted(super().__iter__())

    def items(self) -> Any:
        return list(self._counted(super().items()))

    def keys(self) -> Any:
        return list(self._counted(super().keys()))

    def values(self) -> Any:
        return list(self._counted(super().values()))


class _Str(str):
    __slots__ = ("_budget",)
    _budget: _Budget

    def __iter__(self) -> Iterator[str]:
        for char in super().__iter__():
            self._budget.spend()
            yield char


def _counted(value: object, budget: _Budget) -> object:
    """The value with every list, mapping and string inside it counting its iterations."""
    if isinstance(value, str):
        text = _Str(value)
        text._budget = budget
        return text
    if isinstance(value, list | tuple):
        return _List((_counted(v, budget) for v in value), budget)
    if isinstance(value, dict):
        return _Dict({k: _counted(v, budget) for k, v in value.items()}, budget)
    return value


def render(source: str, context: Mapping[str, object], path: str = "template") -> str:
    """Render a template analysed by `analyse`; a failure is a PromptError naming what failed."""
    analyse(source, path)
    budget = _Budget(MAX_ITERATIONS)
    values = {name: _counted(value, budget) for name, value in context.items()}
    parts: list[str] = []
    size = 0
    try:
        for chunk in ENVIRONMENT.from_string(source).generate(values):
            size += len(chunk)
            if size > MAX_OUTPUT_CHARS:
                raise PromptError(
                    [Problem(ProblemCode.OUTPUT_TOO_LARGE, f"over {MAX_OUTPUT_CHARS} characters", path=path)]
                )
            parts.append(str(chunk))
    except PromptError:
        raise
    except UndefinedError as error:
        raise PromptError(
            [Problem(ProblemCode.MISSING_VARIABLE, error.message or "undefined", path=path)]
        ) from None
    except SecurityError as error:
        raise PromptError([Problem(ProblemCode.RENDER_FAILED, str(error), path=path)]) from None
    except (TypeError, ValueError, ArithmeticError, LookupError) as error:
        raise PromptError(
            [Problem(ProblemCode.RENDER_FAILED, f"{type(error).__name__}: {error}", path=path)]
        ) from None
    return "".join(parts)
