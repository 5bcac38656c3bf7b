"""The model-file allow-list: which globals a pickle may import and what loading may do with each, read from
YAML data (`allowlist.yaml` in this package; a fork adds files of the same format instead of editing code).

Actions an entry grants (every entry may be imported and used as a plain value, `ref`):
- `new`: instances may be created without running `__init__` (NEWOBJ, `copyreg._reconstructor`, `__newobj__`);
- `build`: objects it creates may then get state by BUILD (its `__setstate__`, or attributes set);
- `call`: it may be called with arguments (REDUCE, or INST/OBJ), a class's constructor included;
- `instantiate`: calling it creates an object of the class in its first argument, which needs `new` (the
  reconstructors `copyreg._reconstructor`, `copyreg.__newobj__`, `numpy.core.multiarray._reconstruct`).
A key `module.name` names one global; `module:Outer.Inner` one reached by a dotted name (a nested class); a key
`package.*` is a pattern for every global in that package and its submodules, and may grant only `ref`, `new`
and `build`: a pattern never lets a function be called.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping, NamedTuple

ACTIONS = frozenset({"ref", "new", "build", "call", "instantiate"})
PATTERN_ACTIONS = frozenset({"ref", "new", "build"})
BUNDLED = Path(__file__).with_name("allowlist.yaml")
DISTRIBUTIONS = Path(__file__).with_name("distributions.yaml")


class AllowListError(ValueError):
    """An allow-list file that cannot be used; the message names the file and the entry."""


class AllowList(NamedTuple):
    """Exact entries, prefix patterns and extension codes, merged from one or more YAML files."""

    exact: Mapping[str, frozenset[str]]
    patterns: tuple[tuple[str, frozenset[str]], ...]   # (package, actions), longest package first
    extensions: Mapping[int, str]                      # EXT code -> "module.name" it stands for
    sources: tuple[str, ...]

    def actions(self, module: str, name: str) -> frozenset[str] | None:
        """What may be done with `module`.`name`, or None when the allow-list does not hold it."""
        if "." in name:
            return self.exact.get(f"{module}:{name}")
        found = self.exact.get(f"{module}.{name}")
        for package, granted in self.patterns:
            if module == package or module.startswith(package + "."):
                return granted if found is None else found | granted
        return found

    def extended(self, other: AllowList) -> AllowList:
        """This list plus `other`'s entries (actions of an entry in both are joined)."""
        exact = dict(self.exact)
        for key, granted in other.exact.items():
            exact[key] = exact.get(key, frozenset()) | granted
        patterns = dict(self.patterns)
        for package, granted in other.patterns:
            patterns[package] = patterns.get(package, frozenset()) | granted
        return AllowList(exact, _sorted_patterns(patterns), {**self.extensions, **other.extensions},
                         self.sources + other.sources)


def _sorted_patterns(patterns: Mapping[str, frozenset[str]]) -> tuple[tuple[str, frozenset[str]], ...]:
    return tuple(sorted(patterns.items(), key=lambda item: (-len(item[0]), item[0])))


def _entry_actions(source: str, key: str, value: Any) -> frozenset[str]:
    """One entry's actions, checked: a list of known actions (patterns limited to ref/new/build)."""
    if value is None:
        value = ["ref"]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise AllowListError(f"{source}: {key}: write the actions as a list, e.g. [new, build]")
    unknown = sorted(set(value) - ACTIONS)
    if unknown:
        raise AllowListError(f"{source}: {key}: unknown action {unknown[0]!r} (use {', '.join(sorted(ACTIONS))})")
    granted = frozenset(value) | {"ref"}
    if key.endswith(".*") and granted - PATTERN_ACTIONS:
        raise AllowListError(f"{source}: {key}: a pattern may grant only ref, new and build; list each callable "
                             f"by its full name to let it be called")
    return granted


def _check_key(source: str, key: Any) -> str:
    if not isinstance(key, str) or not key or key.startswith(".") or " " in key:
        raise AllowListError(f"{source}: {key!r} is not a global name (module.name, module:Outer.Inner, pkg.*)")
    if ":" not in key and "." not in key.rstrip("*"):
        raise AllowListError(f"{source}: {key}: name a global as module.name")
    return key


def parse_allowlist(data: Any, source: str) -> AllowList:
    """An allow-list from parsed YAML: {globals: {key: [actions]}, extensions: {code: module.name}}."""
    if not isinstance(data, dict):
        raise AllowListError(f"{source}: expected a mapping with a `globals:` section")
    unknown = sorted(set(data) - {"version", "globals", "extensions"})
    if unknown:
        raise AllowListError(f"{source}: unknown section {unknown[0]!r} (sections: version, globals, extensions)")
    entries = data.get("globals") or {}
    if not isinstance(entries, dict):
        raise AllowListError(f"{source}: globals: expected a mapping of global name to actions")
    exact: dict[str, frozenset[str]] = {}
    patterns: dict[str, frozenset[str]] = {}
    for raw_key, value in entries.items():
        key = _check_key(source, raw_key)
        granted = _entry_actions(source, key, value)
        if key.endswith(".*"):
            patterns[key[:-2]] = granted
        else:
            exact[key] = granted
    extensions: dict[int, str] = {}
    for code, target in (data.get("extensions") or {}).items():
        if not isinstance(code, int) or not 1 <= code <= 0x7FFFFFFF or not isinstance(target, str) \
                or "." not in target:
            raise AllowListError(f"{source}: extensions: {code!r}: map an integer code to module.name")
        extensions[code] = target
    return AllowList(exact, _sorted_patterns(patterns), extensions, (source,))


def read_allowlist(path: Path) -> AllowList:
    """One allow-list file; a bad file raises AllowListError naming it."""
    import yaml

    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise AllowListError(f"{path}: cannot be read as YAML: {error}") from None
    return parse_allowlist(data, str(path))


@lru_cache(maxsize=1)
def bundled_allowlist() -> AllowList:
    """The allow-list shipped in the package, read once."""
    return read_allowlist(BUNDLED)


def load_allowlist(extra: Iterable[Path] = ()) -> AllowList:
    """The bundled allow-list extended by each of `extra` (a fork's additions), in order."""
    allow = bundled_allowlist()
    for path in extra:
        allow = allow.extended(read_allowlist(Path(path)))
    return allow


@lru_cache(maxsize=1)
def _distribution_map() -> tuple[tuple[str, str], ...]:
    """(module prefix, distribution), longest prefix first, from distributions.yaml."""
    import yaml

    data = yaml.load(DISTRIBUTIONS.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    data = data or {}
    modules = data.get("modules") or {}
    return tuple(sorted(((str(k), str(v)) for k, v in modules.items()), key=lambda kv: -len(kv[0])))


def distribution_of(module: str) -> str | None:
    """The PyPI distribution a module comes from; None for the standard library, the top-level name if unknown."""
    import sys

    for prefix, distribution in _distribution_map():
        if module == prefix or module.startswith(prefix + "."):
            return distribution or None
    top = module.split(".", 1)[0]
    if top in sys.stdlib_module_names or top in ("__builtin__", "copy_reg"):
        return None
    return top
