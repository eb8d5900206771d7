"""YAML into pydantic models, with every error pointing at a file and line a person can open."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from deployctl.core.violations import Severity, Violation

M = TypeVar("M", bound=BaseModel)


_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[misc,valid-type]  # base chosen at run time: libyaml when present
    """Safe loading (libyaml when present) that refuses duplicate keys instead of keeping the last."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key '{key}'", key_node.start_mark
            )
        seen.add(key)
    mapping: dict[Any, Any] = loader.construct_mapping(node, deep=deep)
    return mapping


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _line_of(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the node at `loc`, or of its nearest ancestor that exists."""
    node, line = root, (root.start_mark.line + 1 if root is not None else None)
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if getattr(k, "value", None) == str(key)), None)
            key_node = next((k for k, _ in node.value if getattr(k, "value", None) == str(key)), None)
            if match is None:
                break
            line = key_node.start_mark.line + 1 if key_node is not None else line
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            break
    return line


def line_of(text: str, path: tuple[Any, ...]) -> int | None:
    """The 1-based line of the key at `path` in YAML `text` (or of its nearest ancestor there),
    found in its node tree: a comment or a value holding the same words is never taken for it."""
    try:
        return _line_of(yaml.compose(text, Loader=_Loader), path)
    except yaml.YAMLError:
        return None


MAX_ALIAS_VALUES = 10_000
"""How many values YAML aliases (`*name`) may add to a file in all: enough for any shared block of
settings, never a bomb (10 aliases of 10 aliases ... 9 levels deep would be a billion values)."""
MAX_DEPTH = 64
"""How deeply collections may nest: far beyond any config, well within what a walk over it can take."""


def _bounds_problem(root: yaml.Node) -> tuple[int, str] | None:
    """Where and why the node tree is too big once its aliases are expanded, or nests too deeply,
    found on the composed graph (an alias is the anchored node itself, shared): iterative, one visit per
    collection, so neither a bomb nor a cycle nor a deep nesting costs more than the text it came from."""
    if isinstance(root, yaml.ScalarNode):
        return None
    size: dict[int, int] = {}  # expanded size of each finished collection, by id
    height: dict[int, int] = {}  # expanded nesting of each finished collection, aliases followed
    refs: dict[int, int] = {}  # how many parents refer to each collection: more than one is an alias
    nodes: dict[int, yaml.Node] = {}
    slots = 1  # the values as written: each collection's children once, the root
    open_: set[int] = set()  # collections on the current path: meeting one again is a cycle
    stack: list[tuple[yaml.Node, list[yaml.Node] | None]] = [(root, None)]
    while stack:
        node, children = stack.pop()
        key = id(node)
        if children is not None:  # its children are done
            open_.discard(key)
            total, tallest = 1, 0
            for c in children:
                if c.__class__ is yaml.ScalarNode:
                    total += 1
                else:
                    total += size[id(c)]
                    tallest = max(tallest, height[id(c)])
            size[key], height[key] = total, tallest + 1
            if tallest >= MAX_DEPTH:
                return node.start_mark.line + 1, f"collections nest more than {MAX_DEPTH} levels deep; flatten them"
            continue
        if key in open_:
            return (node.start_mark.line + 1,
                    "an alias refers to a collection that contains it, so it never ends; remove the alias")
        if key in size:
            continue
        kids = [n for pair in node.value for n in pair] if node.__class__ is yaml.MappingNode else node.value
        open_.add(key)
        nodes[key] = node
        slots += len(kids)
        stack.append((node, kids))
        for child in kids:
            if child.__class__ is not yaml.ScalarNode:
                refs[id(child)] = refs.get(id(child), 0) + 1
                stack.append((child, None))
    shared = [k for k, n in refs.items() if n > 1]
    if not shared or size[id(root)] - slots <= MAX_ALIAS_VALUES:
        return None
    worst = max(shared, key=lambda k: size[k])
    return (nodes[worst].start_mark.line + 1,
            f"aliases (*name) would expand this file to {size[id(root)]:,} values (more than "
            f"{MAX_ALIAS_VALUES:,} added by aliases; the anchor here is used {refs[worst]} times); "
            f"write the shared values out, or repeat fewer of them")


def load_yaml(text: str, file: str, rule: str) -> tuple[Any, str]:
    """Parse YAML text; raise YamlError with the line of a syntax error. Returns the data and the
    text, which `validate` composes into nodes only when it needs line numbers for an error.

    The one reader of every YAML file deployctl reads: aliases may add at most MAX_ALIAS_VALUES
    values and collections nest at most MAX_DEPTH deep, checked on the composed nodes before any value
    is built, so nothing after it (validation, the walk over secret settings) sees an expanded bomb."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is not None and (problem := _bounds_problem(node)):
            raise YamlError([_v(rule, file, problem[0], problem[1])])
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise YamlError([_v(rule, file, line, f"not valid YAML: {exc.problem or exc}")]) from None
    except yaml.YAMLError as exc:
        raise YamlError([_v(rule, file, None, f"not valid YAML: {exc}")]) from None
    except RecursionError:  # the pure-Python composer (no libyaml) recurses per level
        raise YamlError([_v(rule, file, None, f"not valid here: collections nest too deeply (at most "
                                              f"{MAX_DEPTH} levels)")]) from None
    finally:
        loader.dispose()
    return data, text


def validate(model: type[M], data: Any, text: str | None, file: str, rule: str,
             to_yaml_path: Callable[[tuple[Any, ...]], tuple[Any, ...]] = lambda loc: loc) -> M:
    """Validate data into a model; raise YamlError with one violation per pydantic error.

    `to_yaml_path` maps a model location to the YAML path that holds it, for the line number.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        root = yaml.compose(text, Loader=_Loader) if text else None
        violations = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            path = to_yaml_path(loc)
            where = ".".join(str(p) for p in path) or "(top level)"
            violations.append(_v(rule, file, _line_of(root, path), f"{where}: {error_text(err)}"))
        raise YamlError(violations) from None


def error_text(err: Any) -> str:
    """One pydantic error in our words: a validator's own message as it is (no "Value error,"),
    an unknown key with what to do."""
    if err["type"] == "extra_forbidden":
        return "unknown key; check the spelling against the README"
    return str(err["ctx"]["error"]) if err["type"] == "value_error" else str(err["msg"])


def _v(rule: str, file: str, line: int | None, message: str) -> Violation:
    return Violation(rule=rule, severity=Severity.ERROR, file=file, line=line, message=message)


class YamlError(Exception):
    def __init__(self, violations: list[Violation]):
        self.violations = violations
        super().__init__("\n".join(v.format() for v in violations))
