"""packflow.yaml as data: parsed safely whatever it holds (alias bombs, control characters, tags, duplicate keys),
keeping the line of every key and the raw text of every scalar so that each finding can name the line and the fix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator, Optional, Union

from .problems import Problem, ProblemKind, unreadable
from .views import Unreadable, View, read_text

if TYPE_CHECKING:
    import yaml

CONFIG = "packflow.yaml"
MAX_CONFIG_BYTES = 1024 * 1024
MAX_ALIAS_EXPANSION = 100_000

LineKey = Union[str, "tuple[str, str]"]


class ProjectConfig:
    """packflow.yaml as data, with the line of each key and the raw text of each top-level scalar."""

    def __init__(self) -> None:
        self.data: Any = None
        self.text: Optional[str] = None
        self.lines: dict[LineKey, int] = {}  # key or (key, subkey) -> line
        self.raw: dict[str, str] = {}  # key -> the scalar as written
        self.spans: dict[str, tuple[int, int]] = {}  # key -> (start, end) character offsets of its scalar in text
        self.problems: list[Problem] = []

    @property
    def fields(self) -> dict[Any, Any]:
        return self.data if isinstance(self.data, dict) else {}

    @property
    def extra(self) -> dict[Any, Any]:
        extra = self.fields.get("extra")
        return extra if isinstance(extra, dict) else {}

    def text_field(self, key: str) -> Optional[str]:
        value = self.fields.get(key)
        return value if isinstance(value, str) else None

    def line_of(self, key: str, subkey: Optional[str] = None) -> Optional[int]:
        if subkey is not None:
            return self.lines.get((key, subkey), self.lines.get(key))
        return self.lines.get(key)


def load_config(view: View) -> ProjectConfig:
    """Read and parse the project's packflow.yaml; what is wrong with it becomes problems."""
    try:
        text = read_text(view, CONFIG, MAX_CONFIG_BYTES)
    except Unreadable as exc:
        config = ProjectConfig()
        config.problems.append(unreadable(CONFIG, str(exc), exc.line, exc.hint))
        return config
    return parse_config(text)


def _expanded_size(node: yaml.Node, seen: dict[int, int]) -> int:
    """How many nodes the document has once aliases are expanded (memoised: linear time)."""
    import yaml

    key = id(node)
    if key in seen:
        return seen[key]
    seen[key] = 1  # a recursive alias counts once instead of looping
    if isinstance(node, yaml.MappingNode):
        total = 1 + sum(_expanded_size(k, seen) + _expanded_size(v, seen) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        total = 1 + sum(_expanded_size(item, seen) for item in node.value)
    else:
        total = 1
    seen[key] = min(total, MAX_ALIAS_EXPANSION + 1)
    return seen[key]


def _duplicate_keys(node: yaml.Node, path: str = "") -> Iterator[Problem]:
    """Keys given twice in any mapping, with both lines (YAML itself keeps the last one silently)."""
    import yaml

    stack, visited = [(node, path)], set()
    while stack:
        current, where = stack.pop()
        if id(current) in visited:
            continue
        visited.add(id(current))
        if isinstance(current, yaml.MappingNode):
            first: dict[str, int] = {}
            for key, value in current.value:
                if isinstance(key, yaml.ScalarNode):
                    name = key.value
                    line = key.start_mark.line + 1
                    if name in first:
                        yield Problem(ProblemKind.DUPLICATE_KEY, f"{where}{name} is given twice (lines {first[name]} "
                                      f"and {line}); YAML would keep only the second", CONFIG, line)
                    first.setdefault(name, line)
                    stack.append((value, f"{where}{name}."))
        elif isinstance(current, yaml.SequenceNode):
            stack.extend((item, where) for item in current.value)


def _invalid(message: str, line: Optional[int] = None, hint: Optional[str] = None) -> Problem:
    return Problem(ProblemKind.INVALID_YAML, message, CONFIG, line, hint)


def parse_config(text: str) -> ProjectConfig:
    """Parse packflow.yaml text safely, whatever it holds: alias bombs, control characters, tags, duplicates."""
    import yaml

    config = ProjectConfig()
    config.text = text
    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        config.problems.append(_invalid(
            f"{CONFIG} holds the character #x{exc.character:04x}, which YAML does not allow", line,
            "Remove the control character, or write it as an escape inside a double-quoted string."))
        return config
    try:
        node = _read_node(loader, config)
    finally:
        loader.dispose()
    if isinstance(node, yaml.MappingNode):
        _record_positions(node, config)
    return config


def _read_node(loader: yaml.SafeLoader, config: ProjectConfig) -> Optional[yaml.Node]:
    """The document's node with config.data constructed from it; None (and a problem) when it cannot be."""
    import yaml

    try:
        node = loader.get_single_node()
        if node is not None and _expanded_size(node, {}) > MAX_ALIAS_EXPANSION:
            config.problems.append(_invalid(
                f"{CONFIG} expands to more than {MAX_ALIAS_EXPANSION:,} values through YAML aliases", None,
                "Write the values out instead of nesting anchors and aliases."))
            return None
        if node is not None:
            config.problems.extend(_duplicate_keys(node))
        config.data = loader.construct_document(node) if node is not None else None
        return node
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" (column {mark.column + 1})" if mark else ""
        config.problems.append(_invalid(f"{CONFIG} is not valid YAML: {exc.problem or exc.context}{where}",
                                        mark.line + 1 if mark else None))
    except (yaml.YAMLError, RecursionError, ValueError, TypeError) as exc:
        config.problems.append(_invalid(f"{CONFIG} is not valid YAML: {exc}"))
    return None


def _record_positions(node: yaml.MappingNode, config: ProjectConfig) -> None:
    """The line of every top-level key and subkey, and the raw text and span of every top-level scalar."""
    import yaml

    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            continue
        config.lines.setdefault(key_node.value, key_node.start_mark.line + 1)
        if isinstance(value_node, yaml.ScalarNode):
            config.raw.setdefault(key_node.value, value_node.value)
            config.spans.setdefault(key_node.value, (value_node.start_mark.index, value_node.end_mark.index))
        if isinstance(value_node, yaml.MappingNode):
            for sub_key, _ in value_node.value:
                if isinstance(sub_key, yaml.ScalarNode):
                    config.lines.setdefault((key_node.value, sub_key.value), sub_key.start_mark.line + 1)
