"""The standards the package's source is held to, read from its syntax tree (cheap: nothing is imported): short
functions, public functions annotated with real types, and no mutable defaults on NamedTuples. ruff (complexity,
style) and mypy (types) run in .ci/run before the tests."""

from __future__ import annotations

import ast
from pathlib import Path

from helpers import REPO

PACKAGE = REPO / "packflow_export"
MAX_FUNCTION_LINES = 60
# Functions other engineers own while their rewrite is under way (the lead removes each entry as it lands).
LONG_FUNCTIONS_OWNED_ELSEWHERE = {
    "archive.py::write_archive",  # #16's archive package split restructures the writer
}
BARE_GENERICS = {"list", "dict", "tuple", "set", "frozenset", "Callable", "List", "Dict", "Tuple", "Set", "Iterable",
                 "Iterator", "Sequence", "Mapping"}


def functions() -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef, bool]]:
    """(where, function, public) for every function and method in the package."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        nested = {id(inner) for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                  for inner in ast.walk(node) if inner is not node}
        nested |= {id(inner) for node in ast.walk(tree) if isinstance(node, ast.ClassDef) and node.name.startswith("_")
                   for inner in ast.walk(node)}  # a private class's methods are not public either
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                where = f"{path.relative_to(PACKAGE).as_posix()}::{node.name}"
                public = not node.name.startswith("_") and id(node) not in nested
                found.append((where, node, public))
    return found


def test_no_function_is_longer_than_60_lines():
    long = {where: node.end_lineno - node.lineno + 1 for where, node, _ in functions()
            if node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES}
    assert set(long) <= LONG_FUNCTIONS_OWNED_ELSEWHERE, {k: v for k, v in long.items()
                                                          if k not in LONG_FUNCTIONS_OWNED_ELSEWHERE}


def _bare(annotation: ast.expr) -> list[str]:
    """Generic types used without their parameters (`list` rather than `list[Finding]`), anywhere in an annotation."""
    subscripted = {id(node.value) for node in ast.walk(annotation) if isinstance(node, ast.Subscript)}
    names = [node for node in ast.walk(annotation) if isinstance(node, (ast.Name, ast.Attribute))]
    return [ast.unparse(node) for node in names if id(node) not in subscripted
            and (node.id if isinstance(node, ast.Name) else node.attr) in BARE_GENERICS]


def test_public_functions_are_annotated_with_real_types():
    problems = []
    for where, node, public in functions():
        arguments = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
        arguments += [arg for arg in (node.args.vararg, node.args.kwarg) if arg is not None]
        annotations = [arg.annotation for arg in arguments if arg.annotation is not None] + (
            [node.returns] if node.returns is not None else [])
        problems += [f"{where}: bare {name}" for annotation in annotations for name in _bare(annotation)]
        if not public:
            continue
        missing = [arg.arg for arg in arguments if arg.annotation is None and arg.arg not in ("self", "cls")]
        if missing or (node.returns is None and node.name != "__init__"):
            problems.append(f"{where}: not annotated ({', '.join(missing) or 'return'})")
    assert not problems, "\n".join(problems)


def test_no_named_tuple_has_a_mutable_default():
    mutable = (ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp)
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and any(ast.unparse(base).endswith("NamedTuple") for base in node.bases):
                for item in node.body:
                    if isinstance(item, ast.AnnAssign) and isinstance(item.value, mutable):
                        problems.append(f"{path.relative_to(PACKAGE)}: {node.name}.{ast.unparse(item.target)}")
    assert not problems, problems


def test_ci_runs_the_gates_before_the_tests_and_the_readme_says_so():
    run = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    command = next(line for line in run.splitlines() if "pytest" in line)
    assert command.index("ruff check packflow_export") < command.index("mypy") < command.index("pytest")
    assert command in (REPO / "README.md").read_text(encoding="utf-8")
